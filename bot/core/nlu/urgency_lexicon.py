"""The urgency lexicon, kept as data: ``urgency_zh.toml`` and ``urgency_en.toml``.

Each file holds, for its language, the phrases that signal danger (``[[signal]]``, grouped by
kind and strength, a group's phrases in both files under one id) and the lists of words that
change what a clause means (over, hypothetical, past, planned, negated, smoke from cooking …).
The files' comments say how to read and edit them. This module reads them, checks every entry,
and compiles them into a :class:`Lexicon` that :mod:`.urgency` applies; :func:`lexicon` does
that on first use, once per process. A file that cannot be used raises :class:`LexiconError`,
naming the file and the entry.

A phrase is a regular expression, matched without regard to case; ``{name}`` in it stands for
any word of the file's word list ``name`` (``[words]``). In a file with ``whole_words`` (the
English one), every entry except signal phrases and word lists matches whole words only. Each
phrase must contain fixed text that every match contains (:mod:`.regex_text` works it out: the
group's *gate*), and a signal phrase must need a character of its file's script, because it is
only tried on clauses that have one.
"""

from __future__ import annotations

import operator
import re
import threading
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .regex_text import UnreadPattern, needs_char, required_texts

__all__ = [
    "BLOCKING_LISTS",
    "CLAUSE_LISTS",
    "KINDS",
    "LANGUAGES",
    "Group",
    "GroupGate",
    "LanguageData",
    "Lexicon",
    "LexiconError",
    "SignalData",
    "build_lexicon",
    "lexicon",
    "lexicon_path",
    "read_language",
]

# The kinds of danger, in the order results are reported.
KINDS: tuple[str, ...] = (
    "trapped",
    "gas",
    "fire",
    "water",
    "outage",
    "threat",
    "falling",
    "shock",
)

# The languages and what their signal phrases need: Chinese phrases are tried on clauses with a
# Chinese character, English ones on clauses with a Latin letter.
LANGUAGES: tuple[str, ...] = ("zh", "en")
_DIR = Path(__file__).parent

# A clause that matches any of these lists reports no danger (unless it says "again").
BLOCKING_LISTS: tuple[str, ...] = ("over", "hypothetical", "information", "hearsay", "mild")
# Every list of words that changes what a clause means, by its section name in the files.
CLAUSE_LISTS: tuple[str, ...] = (
    *BLOCKING_LISTS,
    "again",
    "past",
    "present",
    "still",
    "habit",
    "planned",
    "not_planned",
    "cut",
    "part_only",
    "clause_breaks",
    "cooking_or_smoking",
    "fire_worry",
    "watering",
    "rubbish",
    "animals",
)
# Kinds whose danger can be over in kind-specific words ("the fire is out").
_OVER_KINDS: tuple[str, ...] = ("trapped", "fire", "water")

_FLAGS = re.IGNORECASE
_NEVER = re.compile(r"(?!)")  # an empty list: matches nothing
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_HAN = re.compile(r"[\u3400-\u9fff]")
_SENTENCE_ENDS = r"[。！？!?；;\n]+|\.(?:\s+|$)"


def lexicon_path(lang: str) -> Path:
    """The data file of one language, shipped inside the package."""
    return _DIR / f"urgency_{lang}.toml"


class LexiconError(ValueError):
    """A data file that cannot be used; the message names the file and the entry."""


def _is_han(ch: str) -> bool:
    return _HAN.match(ch) is not None


def _is_latin(ch: str) -> bool:
    return "a" <= ch.lower() <= "z"


# What a signal phrase of each language must need to match: it is only tried on clauses that
# have such a character.
_SCRIPT: dict[str, tuple[Callable[[str], bool], str]] = {
    "zh": (_is_han, "a Chinese character"),
    "en": (_is_latin, "a Latin letter"),
}


# ----------------------------------------------------------------------------------------------
# Reading one file.


@dataclass(frozen=True)
class SignalData:
    """One ``[[signal]]`` of one file: phrases of one kind of danger and one strength."""

    id: str
    kind: str
    hard: bool
    smoke: bool
    whole_scope: bool
    phrases: tuple[str, ...]  # with word lists expanded
    unless: tuple[str, ...]


@dataclass(frozen=True)
class LanguageData:
    """One language's file, read and checked (word lists expanded, nothing compiled yet)."""

    path: Path
    lang: str
    whole_words: bool
    signals: tuple[SignalData, ...]
    lists: Mapping[str, tuple[str, ...]]
    over_for_kind: Mapping[str, tuple[str, ...]]
    negation_words: tuple[str, ...]
    negation_then: tuple[str, ...]
    negation_words_between: int


_TOP_KEYS = frozenset({"language", "words", "signal", "over_for_kind", "negation", *CLAUSE_LISTS})
_SIGNAL_KEYS = ("id", "kind", "strength", "note", "smoke", "whole_scope", "phrases", "unless")


class _File:
    """Checks of one file's entries; every error names the file and the entry."""

    def __init__(self, path: Path, lang: str) -> None:
        self.path = path
        self.lang = lang
        self.words: dict[str, tuple[str, ...]] = {}

    def error(self, where: str, message: str) -> LexiconError:
        return LexiconError(f"{self.path}: {where}: {message}")

    def table(self, value: Any, where: str, keys: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, "should be a table")
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise self.error(where, f"unknown key {unknown[0]!r} (known: {', '.join(keys)})")
        return value

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.error(where, "should be a list of phrases in quotes")
        for n, item in enumerate(value, 1):
            if not isinstance(item, str) or not item.strip():
                raise self.error(f"{where}, entry {n}", f"{item!r} is not a phrase")
            if item != item.strip():
                raise self.error(
                    f"{where}, entry {n} {item!r}", r"spaces at either end (write \s for one)"
                )
        return tuple(value)

    def expand(self, phrase: str, where: str) -> str:
        def one(m: re.Match[str]) -> str:
            words = self.words.get(m.group(1))
            if words is None:
                known = ", ".join(sorted(self.words)) or "none"
                raise self.error(where, f"no word list {m.group(1)!r} in [words] (known: {known})")
            return "(?:" + "|".join(words) + ")"

        return _PLACEHOLDER.sub(one, phrase)

    def compiles(self, pattern: str, where: str) -> None:
        try:
            re.compile(pattern, _FLAGS)
        except re.error as e:
            raise self.error(where, f"not a valid pattern ({e})") from None
        if _HAN.search(pattern) and self.lang != "zh":
            raise self.error(where, "Chinese text belongs in urgency_zh.toml")

    def phrases(
        self, value: Any, where: str, *, signal: bool = False, whole: bool = False
    ) -> tuple[str, ...]:
        """Check a list of phrases; return them with word lists expanded."""
        out = []
        for n, raw in enumerate(self.strings(value, where), 1):
            at = f"{where}, entry {n} {raw!r}"
            phrase = self.expand(raw, at)
            self.compiles(rf"\b(?:{phrase})\b" if whole else phrase, at)
            try:
                if required_texts(phrase) is None:
                    raise self.error(at, "no fixed text that every match contains")
                if signal and not needs_char(phrase, _SCRIPT[self.lang][0]):
                    raise self.error(at, f"can match without {_SCRIPT[self.lang][1]}")
            except UnreadPattern as e:
                raise self.error(at, f"uses syntax the lexicon does not read: {e}") from None
            out.append(phrase)
        return tuple(out)

    def read(self) -> LanguageData:
        try:
            doc = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except OSError as e:
            raise LexiconError(f"{self.path}: cannot be read ({e.strerror or e})") from None
        except UnicodeDecodeError as e:
            raise LexiconError(f"{self.path}: not UTF-8 text ({e.reason})") from None
        except tomllib.TOMLDecodeError as e:
            raise LexiconError(f"{self.path}: not valid TOML: {e}") from None
        self.table(doc, "the file", sorted(_TOP_KEYS))

        if "language" not in doc:
            raise self.error("[language]", "missing (it says which language the file holds)")
        language = self.table(doc["language"], "[language]", ("code", "whole_words", "note"))
        if language.get("code") != self.lang:
            raise self.error("[language] code", f"should be {self.lang!r}")
        whole_words = language.get("whole_words", False)
        if not isinstance(whole_words, bool):
            raise self.error("[language] whole_words", "should be true or false")

        words = doc.get("words", {})
        if not isinstance(words, dict):
            raise self.error("[words]", "should be a table of word lists")
        for name, items in words.items():
            if not _NAME.fullmatch(name):
                raise self.error(f"[words] {name}", "a name is lower-case letters, digits, _")
            at = f"[words] {name}"
            for n, item in enumerate(self.strings(items, at), 1):
                self.compiles(item, f"{at}, entry {n} {item!r}")
                if _PLACEHOLDER.search(item):
                    raise self.error(f"{at}, entry {n} {item!r}", "a word list in a word list")
            self.words[name] = tuple(items)

        lists: dict[str, tuple[str, ...]] = {}
        for name in CLAUSE_LISTS:
            if name in doc:
                section = self.table(doc[name], f"[{name}]", ("note", "phrases"))
                lists[name] = self.phrases(
                    section.get("phrases", []), f"[{name}] phrases", whole=whole_words
                )

        over = self.table(doc.get("over_for_kind", {}), "[over_for_kind]", ("note", *_OVER_KINDS))
        over_for_kind = {
            kind: self.phrases(over[kind], f"[over_for_kind] {kind}", whole=whole_words)
            for kind in _OVER_KINDS
            if kind in over
        }

        negation = self.table(
            doc.get("negation", {}), "[negation]", ("note", "words", "then", "words_between")
        )
        between = negation.get("words_between", 0)
        if not isinstance(between, int) or isinstance(between, bool) or not 0 <= between <= 5:
            raise self.error("[negation] words_between", "should be a whole number from 0 to 5")

        signals = doc.get("signal", [])
        if not isinstance(signals, list):
            raise self.error("[[signal]]", "should be written [[signal]], once per group")
        parsed = tuple(self.signal(s, n, whole_words) for n, s in enumerate(signals, 1))
        seen: set[str] = set()
        for s in parsed:
            if s.id in seen:
                raise self.error(f"[[signal]] {s.id!r}", "the id is used twice in this file")
            seen.add(s.id)
        return LanguageData(
            path=self.path,
            lang=self.lang,
            whole_words=whole_words,
            signals=parsed,
            lists=lists,
            over_for_kind=over_for_kind,
            negation_words=self.phrases(
                negation.get("words", []), "[negation] words", whole=whole_words
            ),
            negation_then=self.phrases(negation.get("then", []), "[negation] then"),
            negation_words_between=between,
        )

    def signal(self, value: Any, n: int, whole_words: bool) -> SignalData:
        at = f"[[signal]] number {n}"
        s = self.table(value, at, _SIGNAL_KEYS)
        sid = s.get("id")
        if not isinstance(sid, str) or not _NAME.fullmatch(sid):
            raise self.error(f"{at} id", "needs an id of lower-case letters, digits and _")
        at = f"[[signal]] {sid!r}"
        kind = s.get("kind")
        if kind not in KINDS:
            raise self.error(f"{at} kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        strength = s.get("strength")
        if strength not in ("hard", "soft"):
            raise self.error(f"{at} strength", f"{strength!r} is neither 'hard' nor 'soft'")
        flags = {}
        for flag in ("smoke", "whole_scope"):
            flags[flag] = s.get(flag, False)
            if not isinstance(flags[flag], bool):
                raise self.error(f"{at} {flag}", "should be true or false")
        phrases = self.phrases(s.get("phrases", []), f"{at} phrases", signal=True)
        if not phrases:
            raise self.error(f"{at} phrases", "a signal needs at least one phrase")
        return SignalData(
            id=sid,
            kind=kind,
            hard=strength == "hard",
            smoke=flags["smoke"],
            whole_scope=flags["whole_scope"],
            phrases=phrases,
            unless=self.phrases(s.get("unless", []), f"{at} unless", whole=whole_words),
        )


def read_language(path: Path, lang: str) -> LanguageData:
    """Read and check one language's file; :class:`LexiconError` names what is wrong."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    return _File(Path(path), lang).read()


# ----------------------------------------------------------------------------------------------
# The compiled lexicon.


@dataclass(frozen=True)
class Group:
    """The phrases of one signal id, both languages compiled, with its gate."""

    id: str
    kind: str
    hard: bool
    smoke: bool  # smoke or a smell of burning: not when cooking or smoking is named
    whole_scope: bool  # an outage whose phrase names the whole flat or building itself
    gate: re.Pattern[str] | None  # on lower-cased text: a match needs one of these texts
    zh: re.Pattern[str] | None
    en: re.Pattern[str] | None
    unless: re.Pattern[str] | None
    # The phrases ``zh`` and ``en`` are the alternation of, in order.
    zh_phrases: tuple[str, ...] = ()
    en_phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupGate:
    """Which groups can match a text, found in one pass for all of them.

    Every group's gate is a set of texts one of which each of its matches contains; here all
    of them are indexed at once, the one-character texts by their character and the others by
    their first two characters, so a message costs one set intersection with its characters,
    one with its character pairs, and a substring test for each text whose first pair occurs
    (an Aho-Corasick-like prefilter). The answer is a bit mask over ``Lexicon.groups``: the same
    groups as searching each group's own gate, in a fraction of the time; and above the groups'
    bits, one bit for each of their phrases whose own texts occur (``Lexicon.phrase_bits``).
    """

    always: int  # groups without a gate
    singles: Mapping[str, int]  # a one-character text -> the groups it opens
    by_pair: Mapping[str, tuple[tuple[str, int], ...]]  # first two characters -> (text, groups)

    @classmethod
    def build(cls, needed: Sequence[frozenset[str] | None]) -> GroupGate:
        """``needed[i]``: the texts one of which every match of group ``i`` contains (lower
        case), or None for a group that must always be tried."""
        always = 0
        owners: dict[str, int] = {}
        for i, texts in enumerate(needed):
            if texts is None or "" in texts:
                always |= 1 << i
                continue
            for text in texts:
                owners[text] = owners.get(text, 0) | 1 << i
        singles = {t: m for t, m in owners.items() if len(t) == 1}
        by_pair: dict[str, list[tuple[str, int]]] = {}
        for text, mask in sorted(owners.items()):
            if len(text) > 1:
                by_pair.setdefault(text[:2], []).append((text, mask))
        return cls(always, singles, {k: tuple(v) for k, v in by_pair.items()})

    def groups(self, lower: str) -> int:
        """The bit mask of the groups whose gate texts occur in ``lower``."""
        mask = self.always
        singles = self.singles
        for ch in singles.keys() & set(lower):
            mask |= singles[ch]
        by_pair = self.by_pair
        for pair in by_pair.keys() & set(map(operator.add, lower, lower[1:])):
            for text, groups in by_pair[pair]:
                if text in lower:
                    mask |= groups
        return mask


@dataclass(frozen=True)
class Lexicon:
    """Everything :mod:`.urgency` applies, compiled."""

    groups: tuple[Group, ...]
    lists: Mapping[str, re.Pattern[str]]  # CLAUSE_LISTS, and "blocking" for their union
    over_for_kind: Mapping[str, re.Pattern[str]]
    negation: re.Pattern[str]
    clause_split: re.Pattern[str]
    # All the groups' gates in one index; None: every group is tried with its own gate.
    gate: GroupGate | None = None
    # Where each group's phrases are in the gate's mask: the first bit, and the mask of them
    # all (its Chinese phrases, then its English ones); empty: the gate has no phrase bits.
    phrase_bits: tuple[tuple[int, int], ...] = ()
    # The patterns of a part of a group's phrases, by (group, the part's bits), compiled on
    # first use.
    _parts: dict[tuple[int, int], tuple[re.Pattern[str] | None, re.Pattern[str] | None]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @cached_property
    def group_mask(self) -> int:
        """The bits of ``GroupGate.groups``'s mask that stand for the groups."""
        return (1 << len(self.groups)) - 1

    def patterns(
        self, index: int, mask: int
    ) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        """Group ``index``'s Chinese and English patterns, each with only the phrases the
        gate's ``mask`` says may match (None: none may), in their order: an alternation
        matches the same with or without alternatives that match nowhere, only sooner."""
        if not self.phrase_bits:
            group = self.groups[index]
            return group.zh, group.en
        at, every = self.phrase_bits[index]
        key = (index, mask >> at & every)
        found = self._parts.get(key)
        if found is None:
            found = self._part(*key)
            if len(self._parts) >= _MAX_PARTS:
                self._parts.clear()
            self._parts[key] = found
        return found

    def _part(
        self, index: int, chosen: int
    ) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        group = self.groups[index]
        out: list[re.Pattern[str] | None] = []
        for whole, phrases in ((group.zh, group.zh_phrases), (group.en, group.en_phrases)):
            every = (1 << len(phrases)) - 1
            mine, chosen = chosen & every, chosen >> len(phrases)
            if mine == every:
                out.append(whole)
            elif mine:
                picked = [p for i, p in enumerate(phrases) if mine >> i & 1]
                out.append(re.compile("|".join(f"(?:{p})" for p in picked), _FLAGS))
            else:
                out.append(None)
        return out[0], out[1]

    @cached_property
    def hard_mask(self) -> int:
        """The bit mask of the hard groups (over ``groups``, as ``GroupGate.groups``)."""
        return sum(1 << i for i, g in enumerate(self.groups) if g.hard)


_MAX_PARTS = 4096  # compiled parts kept (about 2 KB each); when full, they are compiled again


def _alternation(zh: Sequence[str], en: Sequence[str], whole_en: bool) -> str:
    parts = list(zh)
    if en:
        parts.append(r"\b(?:" + "|".join(en) + r")\b" if whole_en else "|".join(en))
    return "|".join(parts)


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, _FLAGS) if pattern else _NEVER


def _needed(phrases: Iterable[str]) -> frozenset[str] | None:
    """The texts one of which every match of one of the phrases contains (None: unknown)."""
    needed: set[str] = set()
    for phrase in phrases:
        texts = required_texts(phrase)
        if texts is None:
            return None
        needed |= texts
    return frozenset(needed) if needed else None


def _gate(needed: frozenset[str] | None) -> re.Pattern[str] | None:
    if not needed:
        return None
    ordered = sorted(needed, key=lambda x: (-len(x), x))
    return re.compile("|".join(re.escape(x) for x in ordered))


def _negation(data: LanguageData) -> str:
    if not data.negation_words:
        return ""
    words = "(?:" + "|".join(data.negation_words) + ")"
    out = rf"\b{words}\b" if data.whole_words else words
    if data.negation_then:
        out += r"\s*(?:" + "|".join(data.negation_then) + ")?"
    if data.negation_words_between:
        out += rf"(?:\s+\w+){{0,{data.negation_words_between}}}"
    return out + r"\s*$"


def build_lexicon(files: Mapping[str, Path]) -> Lexicon:
    """Read the files (language -> path) and compile them into one lexicon."""
    data = {lang: read_language(path, lang) for lang, path in files.items()}
    zh = data.get("zh")
    en = data.get("en")

    def both(pick: Callable[[LanguageData], Sequence[str]]) -> str:
        return _alternation(
            pick(zh) if zh else (), pick(en) if en else (), bool(en and en.whole_words)
        )

    # A signal id names one group: its phrases in every language, with one kind and strength.
    by_id: dict[str, dict[str, SignalData]] = {}
    for d in data.values():
        for s in d.signals:
            by_id.setdefault(s.id, {})[d.lang] = s
    groups = []
    needed = []
    phrase_needed: list[frozenset[str] | None] = []  # each phrase's texts, in group order
    phrase_bits: list[tuple[int, int]] = []  # (first bit, all bits) of each group's phrases
    for sid, parts in by_id.items():
        first_lang, first = next(iter(parts.items()))
        for lang, other in parts.items():
            if (other.kind, other.hard, other.smoke, other.whole_scope) != (
                first.kind,
                first.hard,
                first.smoke,
                first.whole_scope,
            ):
                raise LexiconError(
                    f"{data[lang].path}: [[signal]] {sid!r}: its kind, strength, smoke or "
                    f"whole_scope differ from those of {sid!r} in {data[first_lang].path}"
                )
        phrases = {lang: s.phrases for lang, s in parts.items()}
        unless = {lang: s.unless for lang, s in parts.items()}
        zh_part = "|".join(f"(?:{p})" for p in phrases.get("zh", ()))
        en_part = "|".join(f"(?:{p})" for p in phrases.get("en", ()))
        unless_rx = _alternation(
            unless.get("zh", ()), unless.get("en", ()), bool(en and en.whole_words)
        )
        needed.append(_needed([*phrases.get("zh", ()), *phrases.get("en", ())]))
        ordered = [*phrases.get("zh", ()), *phrases.get("en", ())]  # as Lexicon._part reads
        phrase_bits.append((len(phrase_needed), (1 << len(ordered)) - 1))
        phrase_needed.extend(_needed([p]) for p in ordered)
        groups.append(
            Group(
                id=sid,
                kind=first.kind,
                hard=first.hard,
                smoke=first.smoke,
                whole_scope=first.whole_scope,
                gate=_gate(needed[-1]),
                zh=re.compile(zh_part, _FLAGS) if zh_part else None,
                en=re.compile(en_part, _FLAGS) if en_part else None,
                unless=re.compile(unless_rx, _FLAGS) if unless_rx else None,
                zh_phrases=tuple(phrases.get("zh", ())),
                en_phrases=tuple(phrases.get("en", ())),
            )
        )
    # The phrases' bits come after the groups' in the gate's mask.
    phrase_bits = [(len(groups) + at, every) for at, every in phrase_bits]

    lists = {name: _compile(both(lambda d, n=name: d.lists.get(n, ()))) for name in CLAUSE_LISTS}
    lists["blocking"] = _compile(
        both(lambda d: [p for name in BLOCKING_LISTS for p in d.lists.get(name, ())])
    )
    over_for_kind = {
        kind: _compile(both(lambda d, k=kind: d.over_for_kind.get(k, ()))) for kind in _OVER_KINDS
    }
    negation = "|".join(x for x in (_negation(d) for d in data.values()) if x)
    breaks = both(lambda d: d.lists.get("clause_breaks", ()))
    return Lexicon(
        groups=tuple(groups),
        lists=lists,
        over_for_kind=over_for_kind,
        negation=_compile(negation),
        clause_split=re.compile(_SENTENCE_ENDS + (f"|{breaks}" if breaks else ""), _FLAGS),
        gate=GroupGate.build(needed + phrase_needed),
        phrase_bits=tuple(phrase_bits),
    )


_LOCK = threading.Lock()
_LEXICON: Lexicon | None = None


def lexicon() -> Lexicon:
    """The package's lexicon, read and compiled on first use, once per process."""
    global _LEXICON
    lex = _LEXICON
    if lex is None:
        with _LOCK:
            if _LEXICON is None:
                _LEXICON = build_lexicon({lang: lexicon_path(lang) for lang in LANGUAGES})
            lex = _LEXICON
    return lex
