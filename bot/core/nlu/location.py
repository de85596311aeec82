"""Where the problem an owner reports is, apart from who reports it (LABELS.md, "Location").

A location is one of three things: a flat (`Location(unit=...)`), a common place of the estate
with the building it is in or beside (`Location(building="5", place="lift")`, the building may be
None), or nothing (`None`). Only a repair or a complaint has a location.

The finder is rules over a lexicon kept as data (``places.json``): the words that name each common
place, and *cues* that say a problem is inside a flat (我家, kitchen), concerns a flat's own things
(马桶, front door), a neighbour (楼上, next door), a leak, an outage, staff or fees, or an access
card. The lexicon is compiled once into one regular expression and the message is scanned once;
then, in LABELS.md's order of precedence:

1. A named common place wins (the first one named; a place the text gives as the source of a leak
   or a smell, "是天台防水坏了", before it; an electrical cupboard before the corridor it stands
   in). Weaker locatives (楼下 out of doors, 小区门口, a whole building) count only when no place
   is named, and the estate at large (小区里, everywhere) last. Two exceptions: damage that shows
   inside a named flat (a leak, an outage in 我家 with the flat given) is in that flat; and a leak
   from an unnamed neighbour's flat that runs into the corridor is nowhere (``None``).
2. The building of a place is the one named without a room (the nearest to the place when
   several; none for a stretch between two buildings); else the owner's own (their flat, or "我是
   7栋的") when the place is theirs: inside or on their building (lift, lobby, corridor, stairs,
   roof, facade, pipes, other), or a tree, a bin or a road by their window.
3. With no place, a named flat is the location, unless the complaint is about an unnamed
   neighbour (楼上, 隔壁 with no number), about staff or fees only, or an access card.
4. With no place and no flat, a building named on its own is `other` in it ("8栋整栋停电",
   "near Block 5"), unless the text is about a home, a neighbour or staff; otherwise ``None``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from .units import BuildingMention, Unit, UnitScan, scan_units

__all__ = ["LEXICON_PATH", "PLACES", "Location", "compile_lexicon", "find_location"]

LEXICON_PATH = Path(__file__).with_name("places.json")

# The common places of LABELS.md, in its order.
PLACES = (
    "lift",
    "lobby",
    "corridor",
    "stairs",
    "garage",
    "roof",
    "facade",
    "garden",
    "gate",
    "road",
    "bins",
    "amenity",
    "pipes",
    "other",
)

# Places the owner's own flat gives a building to: they are inside or on the owner's building.
_OWN_BUILDING = frozenset(
    {"lift", "lobby", "corridor", "stairs", "roof", "facade", "pipes", "other"}
)
# Places the owner's flat gives a building to only when the text ties them to it (by my window).
_NEAR_HOME = frozenset({"garden", "bins", "road"})
# Where a leak from an unnamed neighbour's flat runs to: the leak is then nowhere we can name.
_RUN_OFF = frozenset({"corridor", "stairs", "lobby", "lift"})
_CUES = ("home", "own", "activity", "neighbour", "leak", "outage", "staff", "card", "near_home")
_TIERS = {"places": 1, "weak_places": 2, "estate_places": 3}
_LANGS = ("zh", "en")
_LATIN = re.compile(r"[a-z]")

# A place given as the source of a leak, a smell or smoke: 是天台防水坏了, 从电井里, from the roof.
_SOURCE_BEFORE = re.compile(r"(?:从|是|来自|源自|(?<![a-z])from(?:\s+the)?\s*)\s*$", re.IGNORECASE)
# Two buildings read as a stretch between them: 8栋跟9栋, 从3号楼到5号楼, Block 5 and Block 6.
_STRETCH_GAP = re.compile(r"\s*(?:和|跟|与|到|至|、|-|~|/|and|to|&)\s*", re.IGNORECASE)
# A building named as the owner's address, not as where the problem is: 我是7栋的, I'm in Tower 2.
_IDENTITY_BEFORE = re.compile(
    r"(?:我是|我们是|我住在?|住在|我家在|(?<![a-z])(?:i'?m|i\s+am|we'?re|we\s+are|i\s+live|"
    r"we\s+live|living)\s+(?:in|at))\s*$",
    re.IGNORECASE,
)
# How far after 楼上 / 隔壁 / next door a flat may be written and still be that neighbour's.
_NEIGHBOUR_REACH = 14
# What may stand between 楼上 / next door and the flat it names: 楼上的1502, the neighbours at ….
_NAMING_GAP = re.compile(
    r"(?:\s|的|那家|那户|邻居|家|住|是|(?<![a-z])(?:at|in|of|from|the|neighbou?rs?|people|family|"
    r"flat|unit|apartment|apt|no\.?)(?![a-z]))*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Location:
    """A flat (`unit`), or a common `place` in or beside a `building` (None when not said)."""

    unit: Unit | None = None
    building: str | None = None
    place: str | None = None

    def __post_init__(self) -> None:
        if self.unit is None and self.place not in PLACES:
            raise ValueError(f"a location is a unit or one of {PLACES}, not {self.place!r}")

    @property
    def is_unit(self) -> bool:
        """Whether the problem is in (or about) a flat."""
        return self.unit is not None

    def to_json(self) -> dict[str, Any]:
        """`{"unit": {...}}` or `{"building": ..., "place": ...}`, as LABELS.md writes it."""
        if self.unit is not None:
            return {"unit": self.unit.to_dict()}
        return {"building": self.building, "place": self.place}


@dataclass(frozen=True)
class _Tag:
    """What a lexicon term says: a place of some tier, or a cue (place None)."""

    kind: str  # "place" or a cue name
    place: str | None = None
    tier: int = 0


@dataclass(frozen=True)
class _Pass:
    """One scan of the text: a pattern and what each of its terms says (by group number - 1)."""

    pattern: re.Pattern[str]
    tags: tuple[tuple[_Tag, ...], ...]


@dataclass(frozen=True)
class _Lexicon:
    passes: dict[str, _Pass]  # "zh" (run on text with non-ASCII) and "en" (on text with letters)
    context: tuple[tuple[re.Pattern[str], re.Pattern[str], str], ...]  # term, when, place
    outranks: dict[str, frozenset[str]]


@dataclass(frozen=True)
class _PlaceHit:
    start: int
    end: int
    place: str
    tier: int
    source: bool


def _min_width(fragment: str) -> int:
    """The fewest characters a lexicon fragment can match (longer terms are tried first).

    Reads the small part of regular-expression syntax the lexicon uses: literals, escapes,
    classes, ``.``, groups with alternatives, lookarounds (width 0) and the quantifiers
    ``? * + {m,n}``.
    """
    width, _ = _alternatives(fragment, 0)
    return width


def _alternatives(s: str, i: int) -> tuple[int, int]:
    """Min width of ``a|b|…`` from ``s[i]`` up to an unmatched ``)`` (or the end); and where."""
    best: int | None = None
    width = 0
    while i < len(s) and s[i] != ")":
        if s[i] == "|":
            best = width if best is None else min(best, width)
            width, i = 0, i + 1
            continue
        atom, i = _atom(s, i)
        if i < len(s) and s[i] in "?*+{":
            low = 0 if s[i] in "?*" else 1
            if s[i] == "{":
                close = s.index("}", i)
                low = int(s[i + 1 : close].split(",")[0] or 0)
                i = close
            i += 1
            if i < len(s) and s[i] == "?":  # lazy
                i += 1
            atom *= low
        width += atom
    return (width if best is None else min(best, width)), i


def _atom(s: str, i: int) -> tuple[int, int]:
    """Min width of one atom at ``s[i]`` and the index after it."""
    c = s[i]
    if c == "\\":
        return 1, i + 2
    if c == "[":
        j = i + 1
        while s[j] != "]" or j == i + 1:
            j += 2 if s[j] == "\\" else 1
        return 1, j + 1
    if c == "(":
        lookaround = s.startswith(("(?=", "(?!", "(?<=", "(?<!"), i)
        if lookaround:
            start = i + (4 if s[i + 2] == "<" else 3)
        else:
            start = i + (3 if s.startswith("(?:", i) else 1)
        width, j = _alternatives(s, start)
        return (0 if lookaround else width), j + 1
    if c in "^$":
        return 0, i + 1
    return 1, i + 1


_SPECIAL = frozenset("\\[](){}.^$|?*+")
_LEADING_CHOICE = re.compile(r"\(\?:([^()\\\[\].^$?*+{}]+)\)")  # (?:my|our|their) of plain words
_LEADING_LOOKBEHIND = re.compile(r"\(\?<[=!]([^()]+)\)")  # (?<=[栋幢座]) or (?<=号楼)


def _literal_lead(fragment: str) -> bool:
    return fragment[0] not in _SPECIAL and (len(fragment) == 1 or fragment[1] not in "?*+{")


def _expand(fragment: str) -> list[str]:
    """The fragment rewritten so that it starts with a literal character, where it can.

    A leading choice of plain words becomes one fragment per word; leading lookbehinds move
    behind the first character (``(?<=号楼)楼下`` → ``楼(?<=号楼.)下``). The regular-expression
    engine skips an alternative that starts with a literal after one comparison, which keeps a
    scan over some 700 terms cheap.
    """
    choice = _LEADING_CHOICE.match(fragment)
    if choice:
        rest = fragment[choice.end() :]
        words = choice.group(1).split("|")
        if rest.startswith("?") and not rest.startswith("?" * 2):
            rest = rest[1:]
            return [*_expand_all(words, rest), *_expand(rest)]
        if not rest.startswith(("*", "+", "{")):
            return _expand_all(words, rest)
    behind: list[str] = []
    rest = fragment
    while m := _LEADING_LOOKBEHIND.match(rest):
        behind.append(f"(?{rest[2:4]}{m.group(1)}.)")  # "<=" or "<!", one character longer
        rest = rest[m.end() :]
    if behind and _literal_lead(rest):
        return [rest[0] + "".join(behind) + rest[1:]]
    return [fragment]


def _expand_all(words: list[str], rest: str) -> list[str]:
    return [f for word in words for f in _expand(word + rest)]


def _factored(order: list[tuple[str, str]], tagged: dict[tuple[str, str], list[_Tag]]) -> _Pass:
    """One pattern over terms of one language, longest first, grouped by their first character.

    At a position the engine compares the character with the few dozen first characters and
    then tries only the terms that start with it; an English pass starts only at word starts
    and ends only at word ends ("bins" is not in "cabinets", "lift" not in "lifting"). An empty
    group at the end of each term names it (``Match.lastindex``).
    """
    english = bool(order) and order[0][0] == "en"
    tail = "(?![a-z0-9])" if english else ""
    by_lead: dict[str, list[tuple[str, tuple[_Tag, ...]]]] = {}
    for key in order:
        for fragment in _expand(key[1]):
            if not _literal_lead(fragment):
                # Tried after every other term, it could never win against a shorter one.
                raise ValueError(
                    f"{LEXICON_PATH.name}: a term must start with a character: {key[1]!r}"
                )
            by_lead.setdefault(fragment[0], []).append((fragment[1:], tuple(tagged[key])))
    alternatives: list[str] = []
    tags: list[tuple[_Tag, ...]] = []
    for lead, rests in by_lead.items():
        alternatives.append(
            re.escape(lead) + "(?:" + "|".join(f"(?:{rest}){tail}()" for rest, _ in rests) + ")"
        )
        tags.extend(t for _, t in rests)
    body = "|".join(alternatives) or "(?!)"
    pattern = re.compile(f"(?<![a-z0-9])(?:{body})" if english else body)
    return _Pass(pattern, tuple(tags))


def _entries(data: dict[str, Any]) -> Iterable[tuple[str, str, _Tag]]:
    for section, tier in _TIERS.items():
        for place, langs in data.get(section, {}).items():
            if place not in PLACES:
                raise ValueError(f"{LEXICON_PATH.name}: unknown place {place!r} in {section}")
            for lang in ("zh", "en"):
                for fragment in langs.get(lang, ()):
                    yield lang, fragment, _Tag("place", place, tier)
    for cue, langs in data.get("cues", {}).items():
        if cue not in _CUES:
            raise ValueError(f"{LEXICON_PATH.name}: unknown cue {cue!r}")
        for lang in ("zh", "en"):
            for fragment in langs.get(lang, ()):
                yield lang, fragment, _Tag(cue)


def compile_lexicon(data: dict[str, Any]) -> _Lexicon:
    """Compile lexicon data (the shape of places.json) into one pattern and its tags."""
    tagged: dict[tuple[str, str], list[_Tag]] = {}
    for lang, fragment, tag in _entries(data):
        if re.compile(fragment).groups:
            raise ValueError(f"{LEXICON_PATH.name}: use (?:...) not (...) in {fragment!r}")
        tagged.setdefault((lang, fragment), []).append(tag)
    # Longest first: at one position the first alternative that matches wins. English terms
    # match whole words only ("bins" is not in "cabinets"): they are tried at word starts.
    order = sorted(tagged, key=lambda key: (-_min_width(key[1]), -len(key[1])))
    for lang, fragment in order:
        if lang == "en" and fragment != fragment.lower():
            raise ValueError(
                f"{LEXICON_PATH.name}: write English terms in lower case: {fragment!r}"
            )
    passes = {lang: _factored([key for key in order if key[0] == lang], tagged) for lang in _LANGS}
    context = tuple(
        (
            re.compile(f"(?:{c['term']})", re.IGNORECASE),
            re.compile(c["when"], re.IGNORECASE),
            c["place"],
        )
        for c in data.get("context", ())
    )
    outranks = {k: frozenset(v) for k, v in data.get("outranks", {}).items()}
    return _Lexicon(passes, context, outranks)


def _lexicon_data() -> dict[str, Any]:
    return json.loads(LEXICON_PATH.read_text(encoding="utf-8"))


@cache
def _lexicon() -> _Lexicon:
    """The lexicon of places.json, compiled once per process."""
    return compile_lexicon(_lexicon_data())


@dataclass
class _Scan:
    places: list[_PlaceHit]
    cues: dict[str, list[tuple[int, int]]]


def _lower(text: str) -> str:
    """Lower case with the length kept (a few characters, like "İ", lower to two)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _scan(text: str) -> _Scan:
    lex = _lexicon()
    places: list[_PlaceHit] = []
    cues: dict[str, list[tuple[int, int]]] = {}
    low = _lower(text)
    chinese = not low.isascii()
    english = _LATIN.search(low) is not None
    for lang, scan in lex.passes.items():
        if not (chinese if lang == "zh" else english):
            continue  # no Chinese, or no English word, to find
        tags_of = scan.tags
        for m in scan.pattern.finditer(low):
            start = m.start()
            for tag in tags_of[m.lastindex - 1]:  # type: ignore[operator]
                if tag.kind != "place":
                    cues.setdefault(tag.kind, []).append((start, m.end()))
                    continue
                place = tag.place or "other"
                for term, when, instead in lex.context:
                    if term.fullmatch(m.group()) and when.search(text):
                        place = instead
                source = _SOURCE_BEFORE.search(text, max(0, start - 8), start) is not None
                places.append(_PlaceHit(start, m.end(), place, tag.tier, source))
    if chinese and english:
        places.sort(key=lambda h: h.start)  # the two passes, in the order of the text
    return _Scan(places, cues)


def _best_place(hits: list[_PlaceHit], outranks: dict[str, frozenset[str]]) -> _PlaceHit | None:
    for tier in (1, 2, 3):
        named = [h for h in hits if h.tier == tier]
        if not named:
            continue
        sourced = [h for h in named if h.source]
        if sourced:
            return sourced[0]
        best = named[0]
        for h in named:
            if best.place in outranks.get(h.place, ()):
                return h
        return best
    return None


def _is_stretch(text: str, mentions: list[BuildingMention]) -> bool:
    """Whether two different buildings are named as the two ends of a stretch."""
    for a, b in pairwise(mentions):
        if a.building != b.building and _STRETCH_GAP.fullmatch(text, a.end, b.start):
            return True
    return bool(re.search(r"between\s+(?:block|tower|building)", text, re.IGNORECASE)) and (
        len({m.building for m in mentions}) >= 2
    )


def _named_neighbour(scan: UnitScan, neighbours: list[tuple[int, int]]) -> bool:
    """Whether a neighbour word is followed by the flat it names (楼上1502, next door at 4-1-2)."""
    for n_start, n_end in neighbours:
        for start, _ in scan.unit_spans:
            if n_start <= start <= n_end + _NEIGHBOUR_REACH and (
                start <= n_end or _NAMING_GAP.fullmatch(scan.text, n_end, start)
            ):
                return True
    return False


def _is_identity(text: str, mention: BuildingMention) -> bool:
    """Whether a building is named as the owner's address (我是7栋的), looking a little back."""
    return _IDENTITY_BEFORE.search(text, max(0, mention.start - 16), mention.start) is not None


def _building(
    best: _PlaceHit, scan: UnitScan, unit: Unit | None, cues: dict[str, list[tuple[int, int]]]
) -> str | None:
    """The building a place is in or beside (rule 2 of the module docstring)."""
    if best.tier == 3:
        return None
    text = scan.text
    identity = [b for b in scan.buildings if _is_identity(text, b)]
    named = [b for b in scan.buildings if b not in identity]
    if named:
        if _is_stretch(text, named):
            return None
        nearest = min(named, key=lambda b: min(abs(b.start - best.end), abs(best.start - b.end)))
        return nearest.building
    own = unit.building if unit is not None else (identity[0].building if identity else None)
    if own is None:
        return None
    if best.place in _OWN_BUILDING or (best.place in _NEAR_HOME and "near_home" in cues):
        return own
    return None


def find_location(
    text: str, intent: str, unit: Unit | None, *, scanned: UnitScan | None = None
) -> Location | None:
    """Where the problem of a repair or complaint is; None for other intents or when unsaid.

    ``scanned`` is ``scan_units(text)`` when the caller has it already.
    """
    if intent not in ("repair", "complaint"):
        return None
    scan = scanned if scanned is not None else scan_units(text)
    if unit is None:
        unit = scan.unit
    found = _scan(scan.text)
    cues = found.cues
    neighbours = cues.get("neighbour", [])
    unnamed_neighbour = bool(neighbours) and not _named_neighbour(scan, neighbours)
    best = _best_place(found.places, _lexicon().outranks)
    if best is not None:
        if unit is not None and "home" in cues and ("leak" in cues or "outage" in cues):
            return Location(unit=unit)  # damage that shows inside a named flat
        if (
            unit is not None
            and best.tier > 1
            and ("own" in cues or "home" in cues or (neighbours and not unnamed_neighbour))
        ):
            # The flat's own things (its doorbell), or what a named neighbour does (对门603的猫),
            # rather than 门口 or 楼下 at large.
            return Location(unit=unit)
        if unnamed_neighbour and "leak" in cues and not best.source and best.place in _RUN_OFF:
            return None  # a leak from a flat the text does not name
        return Location(building=_building(best, scan, unit, cues), place=best.place)
    if "card" in cues:
        return None  # an access card that fails with no place said
    if unit is not None:
        if (
            unnamed_neighbour
            and "leak" not in cues
            and (intent == "complaint" or "activity" in cues)
        ):
            return None  # about 楼上 / 隔壁, whose flat is not named
        if intent == "complaint" and "staff" in cues and not ("home" in cues or "own" in cues):
            return None  # about staff or fees, not about the flat
        return Location(unit=unit)
    if any(k in cues for k in ("home", "own", "activity", "neighbour", "staff")):
        return None
    named = [b for b in scan.buildings if not _is_identity(scan.text, b)]
    if named:  # 8栋整栋停电, near Block 5; between two buildings, in neither
        building = None if _is_stretch(scan.text, named) else named[0].building
        return Location(building=building, place="other")
    return None
