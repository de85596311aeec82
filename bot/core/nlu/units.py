"""Rule-based parser for the flat (unit) an owner names in a message.

Owners write units in many ways: ``3栋2单元501``, ``三栋二单元五零一``, ``B座1202室``, ``3#2-501``,
``3-2-501``, ``12-1801``, ``Block 3 #05-01``, ``Tower 2 Unit 1502``, ``Apt 1801 building 12`` …
The parser finds *components* (building, entrance, floor, room, hyphenated groups) in the text,
joins components that are separated only by spaces, punctuation or tiny linking words, and
returns the first group that names both a building and a room.

A floor alone (``12楼``, ``floor 12``) or a common area (``3号楼电梯``) is not a unit. Bare numbers
never form a unit on their own, so times, dates, prices, phone numbers and counts (``3点``,
``2026-11-23``, ``100块``, ``13812345678``, ``等了3天``) are not mistaken for one.

Only when no group names a whole unit, a room written apart from its building is joined to it:
a room tied to a flat by the words around it (``楼上1502``, ``隔壁1803``, ``我住1902``,
``1502室``, ``lives in 1203``, ``Unit 1502``) and exactly one building named elsewhere with no
room of its own, standing as the owner's address (``…8栋的``, ``我住10号楼``, ``, Tower 1``):
``楼上1502天天半夜剁肉…8栋的`` reads building 8, room 1502. A bare number is never such a room.

:func:`scan_units` also returns where the unit was written and the buildings named without a
room, for ``location.py``.

The words and marks of each part (``Block``, ``栋``, ``单元``, ``室`` …), the numerals and how a
part's number is written as a name (``03`` → ``3``, ``五零一`` → ``501``) come from
``bot/core/vocabulary.py``, which the estate import reads a spreadsheet's units with too: a unit
an owner writes has the label the import gave it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.vocabulary import (
    BUILDING_MARKS,
    BUILDING_WORDS,
    ENTRANCE_MARKS,
    ENTRANCE_WORDS,
    ROOM_MARKS,
    ROOM_WORDS,
    building_name,
    cn_to_int,
    entrance_name,
    normalize_text,
    room_name,
)

__all__ = [
    "BuildingMention",
    "Unit",
    "UnitScan",
    "cn_to_int",
    "normalize_text",
    "parse_unit",
    "scan_units",
]


@dataclass(frozen=True)
class Unit:
    """A flat: building, entrance (单元, may be unknown) and room, all as strings."""

    building: str
    entrance: str | None
    room: str

    def to_dict(self) -> dict[str, str | None]:
        """Return the unit as the JSON object of LABELS.md."""
        return {"building": self.building, "entrance": self.entrance, "room": self.room}


# The words and marks of the vocabulary, as alternatives (they are plain text, no pattern).
_BUILDING_WORD = "|".join(BUILDING_WORDS)
_ENTRANCE_WORD = "|".join(ENTRANCE_WORDS)
_ROOM_WORD = "|".join(ROOM_WORDS)
# "#" marks a building, unless a room follows it written as "3#05-01".
_BUILDING_MARK = "|".join(r"#(?![\d]{2}-)" if mark == "#" else mark for mark in BUILDING_MARKS)
_ENTRANCE_MARK = "|".join(ENTRANCE_MARKS)
_ROOM_MARK = "|".join(ROOM_MARKS)

# One Chinese numeral character. "一" / "两" are not taken when they start a common word
# ("一直", "一下", "两天"), so "五零一一直漏水" still reads room 501.
_CNC = (
    r"(?:[一两](?![直下点些样起定般会共次个天晚周切到把块台辆位小分年月号楼层])"
    r"|[零〇○二三四五六七八九幺十百千])"
)
_CN = rf"{_CNC}+"
# Things that make a preceding number a quantity, a time or a price, never a room.
_NOT_ROOM_AFTER = (
    r"(?!\s*(?:元|块|钱|万|千|百|平|米|个|次(?!卧)|天|日|月|年|岁|人|户|点|分|秒|小时|周|星期|礼拜|%|度"
    r"|斤|公斤|台|辆|位|件|张|条|只|多|余|层|/|:\d|\.\d|号(?!房|室)|rmb|yuan|kg|km|m\b|cm|mm|am\b|pm\b"
    r"|min|h\b|hrs?\b|hours?|days?|dollars?|s\b|sec|times|people|percent|th\b|st\b|nd\b|rd\b"
    r"|/f))"
)

# A building number is not the end of a decimal, a date or a time ("3.5栋" is not building 5),
# but may follow an ellipsis ("…8栋的", "...8栋").
_B_ID = (
    r"(?:(?<![A-Za-z\d])[A-Za-z]\d{0,2}(?![A-Za-z])"
    r"|(?<![\d\-/])(?<!\d\.)(?<!\d:)\d{1,3}[A-Za-z]?(?![A-Za-z])"
    rf"|{_CN})"
)
_ROOM_ID = r"(?:[A-Za-z]?\d{2,5}[A-Za-z]?(?:-\d{1,2}[A-Za-z]?(?!\d))?)"

# Left and right edges of a free-standing number: not inside a word, a decimal, a date or a time.
_LB = r"(?<![A-Za-z0-9_\-/.])(?<!\d:)"
_END = r"(?![A-Za-z0-9_\-/]|[:.]\d)"
# Things that make a hyphenated number a quantity, a time or a price, never a unit.
_NOT_QTY_AFTER = (
    r"(?!\s*(?:元|块|钱|万|平|米|个|次|天|日|月|年|岁|人|点|分|秒|小时|周|%|度|斤|公斤|台|辆"
    r"|号(?!房|室)|rmb|yuan|kg|km|cm|mm|am\b|pm\b|min|days?\b|hours?\b|hrs?\b|dollars?|times"
    r"|people|percent))"
)
_KW = r"(?<![A-Za-z])"  # start of an English keyword (also right after a Chinese character)

_COMPONENT_ALTERNATIVES = "|".join(
    [
        # 3-2-501 (building-entrance-room), also 3-2-501室
        rf"{_LB}(?P<h3b>\d{{1,3}}|[A-Za-z])-(?P<h3e>\d{{1,2}})-(?P<h3r>\d{{3,4}}){_END}"
        r"(?!\s*(?:元|块|钱|rmb|yuan))",
        # Chinese building: 3栋, 三号楼, B座, 12幢, 3#楼, 3#
        rf"(?P<zb>{_B_ID})\s*(?:{_BUILDING_MARK})",
        # Chinese entrance: 2单元
        rf"(?P<ze>\d{{1,2}}|{_CN})\s*(?:{_ENTRANCE_MARK})",
        # English building: Block 3, Blk 3, Tower B, Building 5, Bldg. 5
        rf"{_KW}(?i:(?:{_BUILDING_WORD})(?![A-Za-z])\.?\s*"
        r"(?:no\.?\s*)?)"
        r"(?P<eb>[A-Za-z]\d{0,2}(?![A-Za-z\d])|\d{1,3}[A-Za-z]?(?![A-Za-z\d]))",
        # English entrance: entrance 2, stairwell 2
        rf"{_KW}(?i:(?:{_ENTRANCE_WORD})(?![A-Za-z])\.?\s*"
        r"(?:no\.?\s*)?)(?P<ee>\d{1,2}|[A-Za-z](?![A-Za-z]))",
        # English floor: floor 12, level 12, 12th floor, 12/F  (kept only to join components)
        rf"{_KW}(?i:(?:floor|level|lvl|fl)\b\.?\s*\d{{1,3}}\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s*"
        r"(?:floor|fl\b|/f\b))",
        # English room: Room 501, Rm 1202, Flat 12B, Apt 1801, Unit 1502, #05-01
        rf"{_KW}(?i:(?:{_ROOM_WORD})(?![A-Za-z])\.?\s*"
        r"(?:no\.?\s*)?#?\s*)"
        rf"(?P<er>{_ROOM_ID})(?![A-Za-z0-9_\-])",
        r"(?<![A-Za-z0-9_#])#\s*(?P<hr>\d{1,3}-\d{1,4}|\d{2,5}[A-Za-z]?)(?![A-Za-z0-9_\-])",
        # Chinese floor: 12楼, 十二层 (not 号楼)
        rf"(?P<zf>\d{{1,3}}|{_CN})\s*[楼层](?![道梯下上顶房])",
        # Chinese room with a marker: 501室, 1202房, 五零一室, 502号
        rf"(?P<zr>[A-Za-z]?\d{{1,5}}[A-Za-z]?|{_CN})\s*(?:{_ROOM_MARK})",
        rf"(?<![月\d])(?P<zr2>\d{{3,5}}|{_CNC}{{3,5}})\s*号(?![楼栋线门院位车机口柜桶床座])",
        # Hyphen pair: 1-1202 (entrance-room after a building; else building-room)
        rf"{_LB}(?P<h2a>\d{{1,3}}|[A-Za-z])-(?P<h2b>\d{{3,4}}){_END}" + _NOT_QTY_AFTER,
        # Bare room number (only ever used next to a building)
        rf"(?<![A-Za-z0-9_\-/.@])(?<!\d:)(?P<bare>\d{{3,5}}[A-Za-z]?){_END}" + _NOT_ROOM_AFTER,
        rf"(?P<barecn>{_CNC}{{3,8}})" + _NOT_ROOM_AFTER,
    ]
)
# Every alternative's match starts with one of these: a digit, a Latin letter (and "ſ", "ı" and
# the Kelvin sign, which the English words' (?i:…) takes for s, i and k), "#" or a Chinese
# numeral. Looking ahead for one lets the scan pass every other position at once instead of
# trying the alternatives there one by one; the matches are the same.
_COMPONENT_STARTS = "[\\dA-Za-z\u017f\u0131\u212a#零〇○一二三四五六七八九十百千两幺]"
_COMPONENT = re.compile(f"(?={_COMPONENT_STARTS})(?:{_COMPONENT_ALTERNATIVES})")

# A hyphen pair right after these is a parking space number, not a flat.
_PARKING_BEFORE = re.compile(
    r"(?:车位|停车位|车库|(?i:parking|space|lot|bay|spot))\s*(?:号|在|是|:|(?i:no\.?|is|at))?\s*#?\s*$"
)

# What may sit between two components of one unit.
_GAP = re.compile(
    r"^(?:[\s,，、/\-_·.:：;；()（）\[\]【】]|的|之|我住在?|我家(?:住)?在?|住在?|"
    r"\b(?:of|in|at|the|and)\b)*$",
    re.IGNORECASE,
)
_MAX_TEXT = 4000
# Every unit needs a building, and every building form contains one of these: a cheap test
# that lets most messages skip the full component scan.
_MAYBE_BUILDING = re.compile(
    rf"[栋幢座#]|号楼|\d\s*-\s*\d|[A-Za-z]-\d|{_BUILDING_WORD}", re.IGNORECASE
)


@dataclass
class _Part:
    kind: str  # "b", "e", "f", "r", "ber", "pair", "bare"
    start: int
    end: int
    values: tuple[str, ...]


def _components(text: str) -> list[_Part]:
    parts: list[_Part] = []
    for m in _COMPONENT.finditer(text):
        g = m.groupdict()
        s, e = m.start(), m.end()
        if g["h3b"] is not None:
            parts.append(_Part("ber", s, e, (g["h3b"], g["h3e"], g["h3r"])))
        elif g["zb"] is not None or g["eb"] is not None:
            parts.append(_Part("b", s, e, (g["zb"] or g["eb"],)))
        elif g["ze"] is not None or g["ee"] is not None:
            parts.append(_Part("e", s, e, (g["ze"] or g["ee"],)))
        elif g["er"] is not None or g["hr"] is not None:
            parts.append(_Part("r", s, e, (g["er"] or g["hr"],)))
        elif g["zr"] is not None or g["zr2"] is not None:
            parts.append(_Part("r", s, e, (g["zr"] or g["zr2"],)))
        elif g["zf"] is not None:
            parts.append(_Part("f", s, e, ()))
        elif g["h2a"] is not None:
            if _PARKING_BEFORE.search(text, max(0, s - 12), s):
                continue  # a parking space (车位A-108), not a flat
            parts.append(_Part("pair", s, e, (g["h2a"], g["h2b"])))
        elif g["bare"] is not None or g["barecn"] is not None:
            parts.append(_Part("bare", s, e, (g["bare"] or g["barecn"],)))
        else:  # English floor
            parts.append(_Part("f", s, e, ()))
    return parts


def _groups(text: str, parts: list[_Part]) -> list[list[_Part]]:
    groups: list[list[_Part]] = []
    for p in parts:
        if groups and _GAP.match(text[groups[-1][-1].end : p.start]):
            groups[-1].append(p)
        else:
            groups.append([p])
    return groups


def _resolve(group: list[_Part]) -> Unit | None:
    building: str | None = None
    entrance: str | None = None
    room: str | None = None
    pending_room: str | None = None  # a bare number written before its building ("1708 Tower 4")
    for p in group:
        if p.kind == "ber":
            if building is None and room is None:
                building = building_name(p.values[0])
                entrance = entrance_name(p.values[1])
                room = room_name(p.values[2])
        elif p.kind == "b":
            if building is None:
                building = building_name(p.values[0])
                if room is None and pending_room is not None:
                    room = pending_room
        elif p.kind == "e":
            if entrance is None:
                entrance = entrance_name(p.values[0])
        elif p.kind == "r":
            if room is None:
                room = room_name(p.values[0])
        elif p.kind == "pair":
            if room is not None:
                continue
            if building is not None and entrance is None:
                entrance = entrance_name(p.values[0])
                room = room_name(p.values[1])
            elif building is None:
                building = building_name(p.values[0])
                room = room_name(p.values[1])
        elif p.kind == "bare":
            value = room_name(p.values[0])
            if value is None or not 3 <= sum(c.isdigit() for c in value) <= 5:
                continue
            if room is None and building is not None:
                room = value
            elif building is None and pending_room is None:
                pending_room = value
    if building and room:
        return Unit(building=building, entrance=entrance, room=room)
    return None


@dataclass(frozen=True)
class BuildingMention:
    """A building named without a room (``5号楼``, ``Tower 2``, ``3栋2单元``), where it stands."""

    building: str
    entrance: str | None
    start: int
    end: int


@dataclass(frozen=True)
class UnitScan:
    """What the unit parser found in a message, with positions in its normalised ``text``.

    ``unit`` is what :func:`parse_unit` returns; ``unit_spans`` are the stretches of text it was
    read from (two when its room was written apart from its building); ``buildings`` are the
    buildings named without a room, in text order, those the unit was read from excluded.
    """

    text: str
    unit: Unit | None = None
    unit_spans: tuple[tuple[int, int], ...] = ()
    buildings: tuple[BuildingMention, ...] = ()
    apart: bool = False


# A room tied to a flat by the words around it: 楼上1502, 对门603, 我住1902, lives in 1203.
# Times, prices and counts are ruled out as for a bare room ("天天" is not a count of days).
_NOT_TIED_ROOM_AFTER = _NOT_ROOM_AFTER.replace("|天|", "|天(?!天)|")
_TIED_ROOM = re.compile(
    r"(?:楼上|楼下|隔壁|对门|对面|住在?|家)(?:的|那家|那户|邻居)?\s*"
    r"(?P<zh>\d{3,4})(?![\dA-Za-z\-/.:])" + _NOT_TIED_ROOM_AFTER + "|"
    r"(?<![A-Za-z])(?i:lives?|living|stays?|staying)\s+(?i:in|at)\s+"
    r"(?:(?i:unit|flat|apt|room|no\.?)\s*)?#?\s*(?P<en>\d{3,4})(?![\dA-Za-z\-/.:])"
)
# A building standing as an address: followed by 的, a pause or the end, or after 住 / 是 / 在.
_ADDRESS_AFTER = re.compile(r"(?:的|那边)?(?:$|[^\w])")
_ADDRESS_BEFORE = re.compile(
    r"(?:住在?|是|在|(?<![A-Za-z])(?i:i'?m|we'?re|i\s+am|live|living|stay)\s+(?i:in|at)\s*)$"
)


# A room marker that names a flat even far from its building: 1502室, Unit 1502, #05-01; not 户
# (households: 1500户) nor 房 before 租 / 费 / 价 (1500房租, a rent).
_APART_ROOM = re.compile(
    r"(?:室|房间|号房|号室|房(?![租费价贷产子屋东源型])|#\s*\d\d?-\d+|#\s*\d{3,4}(?!\d)"
    rf"|(?i:{_ROOM_WORD})\b)"
)


def _apart(norm: str, groups: list[list[_Part]]) -> UnitScan | None:
    """A tied room joined to the one building named elsewhere (see the module docstring)."""
    rooms: list[tuple[str, int, int]] = []
    for group in groups:
        for p in group:
            if p.kind != "r":
                continue
            marker = _APART_ROOM.search(norm, p.start)  # not endpos: 房 looks at what follows
            if marker is not None and marker.start() < p.end:
                room = room_name(p.values[0])
                if room is not None and 3 <= sum(c.isdigit() for c in room) <= 4:
                    rooms.append((room, p.start, p.end))
    for m in _TIED_ROOM.finditer(norm):
        key = "zh" if m.group("zh") is not None else "en"
        rooms.append((m.group(key), m.start(key), m.end(key)))
    if len({r for r, _, _ in rooms}) != 1:
        return None
    room, r_start, r_end = min(rooms, key=lambda r: r[1])
    mentions = _building_mentions(groups)
    if len({b.building for b in mentions}) != 1:
        return None
    for b in mentions:
        if _ADDRESS_AFTER.match(norm, b.end) or _ADDRESS_BEFORE.search(norm, 0, b.start):
            unit = Unit(building=b.building, entrance=b.entrance, room=room)
            spans = tuple(sorted([(b.start, b.end), (r_start, r_end)]))
            rest = tuple(m for m in mentions if m is not b)
            return UnitScan(norm, unit, spans, rest, apart=True)
    return None


def _building_mentions(groups: list[list[_Part]]) -> list[BuildingMention]:
    """The buildings of the groups that name a building but no unit, one per building part
    (with the entrance after it): "Block 3 and Block 4" names two."""
    mentions: list[BuildingMention] = []
    for group in groups:
        current: list[_Part] = []
        for p in group:
            if p.kind == "b" and current:
                mentions.extend(_mention(current))
                current = []
            current.append(p)
        mentions.extend(_mention(current))
    return mentions


def _mention(parts: list[_Part]) -> list[BuildingMention]:
    building = entrance = None
    for p in parts:
        if p.kind == "b" and building is None:
            building = building_name(p.values[0])
        elif p.kind == "e" and entrance is None:
            entrance = entrance_name(p.values[0])
    if not building:
        return []
    return [BuildingMention(building, entrance, parts[0].start, parts[-1].end)]


def _split_after_unit(group: list[_Part], unit: Unit) -> tuple[list[_Part], list[_Part]]:
    """The parts a unit was read from, and another building named after its room ("我是7栋
    2单元702的 5号楼电梯": the lift is in building 5)."""
    has_room = False
    for k, p in enumerate(group):
        if p.kind in ("r", "bare", "pair", "ber"):
            has_room = True
        elif p.kind == "b" and has_room and building_name(p.values[0]) != unit.building:
            return group[:k], group[k:]
    return group, []


def scan_units(text: str) -> UnitScan:
    """The first unit the text names (see :func:`parse_unit`), where, and the other buildings."""
    if not text or not text.strip():
        return UnitScan(text or "")
    norm = normalize_text(text[:_MAX_TEXT])
    if _MAYBE_BUILDING.search(norm) is None:
        return UnitScan(norm)
    parts = _components(norm)
    if not parts:
        return UnitScan(norm)
    groups = _groups(norm, parts)
    for i, group in enumerate(groups):
        unit = _resolve(group)
        if unit is not None:
            used, rest = _split_after_unit(group, unit)
            others = [g for j, g in enumerate(groups) if j != i and _resolve(g) is None]
            if rest:
                others.insert(0, rest)
            others.sort(key=lambda g: g[0].start)
            return UnitScan(
                norm,
                unit,
                ((used[0].start, used[-1].end),),
                tuple(_building_mentions(others)),
            )
    apart = _apart(norm, groups)
    if apart is not None:
        return apart
    return UnitScan(norm, buildings=tuple(_building_mentions(groups)))


def parse_unit(text: str) -> Unit | None:
    """Return the first unit (building + room, optional entrance) the text names, else None."""
    return scan_units(text).unit
