"""The words people type to Guanjia, in one place: commands, departments, staff roles, and how a
flat is written.

Staff command words are parsed by the staff desk (`handlers/routes.py`), and each handler
module's declared routes name the command words they answer. The estate import reads a manager's
department and role cells with the same department and role words staff type. The estate import
and the NLU's unit parser (`bot/core/nlu/units.py`) read numerals and building, entrance and room
forms with the same functions here, so a unit an owner writes in a chat (`三栋二单元五零一`)
has the label the import gave it (`3-2-501`).

This module needs nothing but the standard library, so the NLU loads it without the store. A
department or a role is named here by its stored value (`"engineering"`, `"supervisor"`), which
`models.Department` and `models.StaffRole` take.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = [
    "ABOUT_BOT",
    "ANNOUNCE",
    "ANNOUNCE_LIST_WORDS",
    "APPOINT",
    "APPROVE",
    "AS_OWNER",
    "BIND",
    "BINDINGS",
    "BIND_REQUEST",
    "BUILDING_CELL_MARKS",
    "BUILDING_MARKS",
    "BUILDING_WORDS",
    "CANCEL_WORDS",
    "CLOSE",
    "CN_DIGITS",
    "CN_POWERS",
    "CODE",
    "DEPARTMENT_WORDS",
    "DUTY",
    "ENTRANCE_CELL_MARKS",
    "ENTRANCE_MARKS",
    "ENTRANCE_WORDS",
    "HELP",
    "LOGIN",
    "MINE",
    "NOTE",
    "ORDINAL",
    "QUEUE",
    "REFUSE",
    "REGISTER",
    "REOPEN",
    "REPLY",
    "REPORT",
    "REPORT_MONTH_WORDS",
    "RESUME",
    "ROLE_WORDS",
    "ROOM_CELL_MARKS",
    "ROOM_MARKS",
    "ROOM_WORDS",
    "SEVERITY",
    "SEVERITY_WORDS",
    "STAFFCODE",
    "STAFF_COMMANDS",
    "START_WORDS",
    "SWAP",
    "TRANSFER",
    "UNBIND",
    "WAIT",
    "CommandWords",
    "DepartmentValue",
    "RoleValue",
    "building_name",
    "cn_digit_string",
    "cn_to_int",
    "department_named",
    "entrance_name",
    "normalize_building",
    "normalize_entrance",
    "normalize_room",
    "normalize_text",
    "role_named",
    "room_name",
    "split_unit_label",
    "word_key",
]


def word_key(word: str) -> str:
    """A typed word as the tables here hold it: NFKC (full-width letters become ASCII), trimmed,
    lower-cased."""
    return unicodedata.normalize("NFKC", word).strip().lower()


# ---------------------------------------------------------------------------------------------
# Commands


@dataclass(frozen=True)
class CommandWords:
    """The words of one command in each language, written lower-case.

    `argument` says whether something may follow the word: a command that takes nothing
    (`队列`) followed by more words (`我的 天哪`) is chatter, not the command.
    """

    name: str
    zh: tuple[str, ...]
    en: tuple[str, ...]
    argument: bool = True

    @property
    def words(self) -> tuple[str, ...]:
        """Every word of the command."""
        return (*self.en, *self.zh)

    def in_language(self, lang: str) -> tuple[str, ...]:
        """The command's words, those of `lang` first (as help shows them)."""
        return (*self.zh, *self.en) if lang == "zh" else (*self.en, *self.zh)


# The staff desk's commands (in a staff chat; Telegram's `/queue@bot` form is read too).
QUEUE = CommandWords("queue", zh=("队列",), en=("queue",), argument=False)
MINE = CommandWords("mine", zh=("我的",), en=("mine",), argument=False)
REPLY = CommandWords("reply", zh=("回复",), en=("reply",))
NOTE = CommandWords("note", zh=("备注",), en=("note",))
CLOSE = CommandWords("close", zh=("结单",), en=("close",))
REOPEN = CommandWords("reopen", zh=("重开",), en=("reopen",))
TRANSFER = CommandWords("transfer", zh=("转派",), en=("transfer",))
CODE = CommandWords("code", zh=("绑定码",), en=("code",))
STAFFCODE = CommandWords("staffcode", zh=("员工码",), en=("staffcode",))
UNBIND = CommandWords("unbind", zh=("解绑",), en=("unbind",))
BINDINGS = CommandWords("bindings", zh=("绑定列表",), en=("bindings",))
APPROVE = CommandWords("approve", zh=("同意",), en=("approve",))
REFUSE = CommandWords("refuse", zh=("拒绝",), en=("refuse",))
REPORT = CommandWords("report", zh=("报表",), en=("report",))
ANNOUNCE = CommandWords("announce", zh=("公告",), en=("announce",))
HELP = CommandWords("help", zh=("帮助",), en=("help",), argument=False)
# Promised times (the service calendar): an appointment with the owner, waiting for the owner
# (both stop the completion clock), restarting it, and a complaint's severity.
APPOINT = CommandWords("appoint", zh=("约",), en=("appoint",))
WAIT = CommandWords("wait", zh=("等待",), en=("wait",))
RESUME = CommandWords("resume", zh=("继续",), en=("resume",))
SEVERITY = CommandWords("severity", zh=("等级",), en=("severity",))
# The duty roster: `值班 今天`, `换班 张师傅 李师傅 12-08` (handlers/roster.py).
DUTY = CommandWords("duty", zh=("值班",), en=("duty",))
SWAP = CommandWords("swap", zh=("换班",), en=("swap",))

# Every staff command, in the order help lists them. Each has exactly one handler module's
# declared route (`handlers.build_handlers` refuses to build otherwise).
STAFF_COMMANDS: tuple[CommandWords, ...] = (
    QUEUE,
    MINE,
    REPLY,
    NOTE,
    CLOSE,
    REOPEN,
    TRANSFER,
    CODE,
    STAFFCODE,
    BINDINGS,
    UNBIND,
    APPROVE,
    REFUSE,
    REPORT,
    ANNOUNCE,
    APPOINT,
    WAIT,
    RESUME,
    SEVERITY,
    DUTY,
    SWAP,
    HELP,
)

# Words after a command word.
# A complaint's severity as staff write it (`等级 C-0003 重要`).
SEVERITY_WORDS: dict[str, str] = {
    "严重": "serious",
    "serious": "serious",
    "重要": "important",
    "important": "important",
    "一般": "general",
    "general": "general",
}
CANCEL_WORDS = frozenset({"cancel", "取消"})  # a close prompt's answer; `announce cancel 7`
ANNOUNCE_LIST_WORDS = frozenset({"list", "列表", "查看"})  # `announce list`
REPORT_MONTH_WORDS = frozenset({"month", "月", "月报"})  # `report month 2026-11`

# Commands in a private chat or any group.
LOGIN = CommandWords("login", zh=("登录",), en=("login",), argument=False)
# `/bind CODE`, `bind CODE`, `绑定 CODE` (and `绑定CODE`); only English takes the `/` form.
BIND = CommandWords("bind", zh=("绑定",), en=("bind",))
# `申请绑定 3-2-501 李华`, `bind request 3-2-501 John Smith` (any space between English words).
BIND_REQUEST = CommandWords("bind_request", zh=("申请绑定", "绑定申请"), en=("bind request",))
# `/register CODE`, in a group (the `/` form only).
REGISTER = CommandWords("register", zh=(), en=("register",))
# In a bound staff member's private chat, where everything else is for the staff desk: what
# they write after `业主` / `owner` (`业主 厨房水管漏水`) is their report as an owner.
AS_OWNER = CommandWords("as_owner", zh=("业主",), en=("owner",))
# What starts a conversation, or asks for help, from an owner (`/start@bot` reads as `/start`).
START_WORDS = frozenset({"/start", "/help", *HELP.words, "菜单", "menu"})
# Questions about the bot itself, with spaces and punctuation removed: answered with what it
# does, never taken for an enquiry.
ABOUT_BOT = frozenset(
    {
        "你能做什么",
        "你会做什么",
        "你可以做什么",
        "你能干什么",
        "你会干什么",
        "你会什么",
        "你是谁",
        "你是干什么的",
        "怎么用",
        "怎么用你",
        "管家能做什么",
        "whatcanyoudo",
        "whoareyou",
        "howdoiuseyou",
        "howdoesthiswork",
    }
)


# ---------------------------------------------------------------------------------------------
# Departments and staff roles

DepartmentValue = Literal["engineering", "cleaning", "security", "greening", "customer_service"]
RoleValue = Literal["clerk", "engineer", "cleaner", "guard", "gardener", "supervisor", "manager"]

# What staff write after `转派 R-0012` and what a manager writes in a staff sheet's department
# column: one table, so a word that works in one works in the other.
DEPARTMENT_WORDS: Mapping[str, DepartmentValue] = MappingProxyType(
    {
        "engineering": "engineering",
        "engineer": "engineering",
        "repair": "engineering",
        "工程": "engineering",
        "工程部": "engineering",
        "维修": "engineering",
        "cleaning": "cleaning",
        "clean": "cleaning",
        "保洁": "cleaning",
        "保洁部": "cleaning",
        "清洁": "cleaning",
        "security": "security",
        "guard": "security",
        "安保": "security",
        "安保部": "security",
        "保安": "security",
        "秩序": "security",
        "秩序维护部": "security",
        "greening": "greening",
        "landscaping": "greening",
        "garden": "greening",
        "绿化": "greening",
        "绿化部": "greening",
        "园林": "greening",
        "customer_service": "customer_service",
        "customer service": "customer_service",
        "cs": "customer_service",
        "service": "customer_service",
        "客服": "customer_service",
        "客服部": "customer_service",
        "客服中心": "customer_service",
    }
)

# What a manager writes in a staff sheet's role column.
ROLE_WORDS: Mapping[str, RoleValue] = MappingProxyType(
    {
        "clerk": "clerk",
        "客服": "clerk",
        "engineer": "engineer",
        "工程": "engineer",
        "维修": "engineer",
        "cleaner": "cleaner",
        "保洁": "cleaner",
        "guard": "guard",
        "安保": "guard",
        "保安": "guard",
        "秩序": "guard",
        "秩序维护员": "guard",
        "gardener": "gardener",
        "绿化": "gardener",
        "supervisor": "supervisor",
        "主管": "supervisor",
        "manager": "manager",
        "经理": "manager",
        "项目经理": "manager",
        "物业经理": "manager",
    }
)


def department_named(word: str) -> DepartmentValue | None:
    """The department a word names (`保洁`, `Cleaning`, `客服中心`), if any."""
    return DEPARTMENT_WORDS.get(word_key(word))


def role_named(word: str) -> RoleValue | None:
    """The staff role a word names (`主管`, `Engineer`), if any."""
    return ROLE_WORDS.get(word_key(word))


# ---------------------------------------------------------------------------------------------
# Numerals

CN_DIGITS: Mapping[str, int] = MappingProxyType(
    {
        "零": 0,
        "〇": 0,
        "○": 0,
        "洞": 0,
        "一": 1,
        "幺": 1,
        "二": 2,
        "两": 2,
        "三": 3,
        "四": 4,
        "五": 5,
        "六": 6,
        "七": 7,
        "八": 8,
        "九": 9,
    }
)
CN_POWERS: Mapping[str, int] = MappingProxyType({"十": 10, "百": 100, "千": 1000})


def cn_to_int(s: str) -> int | None:
    """Convert a Chinese (or mixed) numeral to an int; None when it is not a numeral.

    Positional numerals (十二, 一千二百零二) are read by value; a plain digit string
    (五零一, 一二零二) is read digit by digit.
    """
    if not s:
        return None
    if s.isdigit():
        return int(s)
    if not any(c in CN_POWERS for c in s):
        digits = []
        for c in s:
            if c.isdigit():
                digits.append(c)
            elif c in CN_DIGITS:
                digits.append(str(CN_DIGITS[c]))
            else:
                return None
        return int("".join(digits))
    total = 0
    current = 0
    for c in s:
        if c in CN_DIGITS:
            current = CN_DIGITS[c]
        elif c.isdigit():
            current = int(c)
        elif c in CN_POWERS:
            total += (current or 1) * CN_POWERS[c]
            current = 0
        else:
            return None
    return total + current


_TENS_THEN_DIGITS = re.compile(
    r"([一二三四五六七八九]?十[一二三四五六七八九]?)([零〇○一二三四五六七八九幺]+)"
)


def cn_digit_string(s: str) -> str | None:
    """Read a numeral as a digit string, keeping leading zeros of plain digit strings.

    A tens numeral followed by digits (十二零三, "twelve-oh-three") reads as 1203.
    """
    if s.isdigit():
        return s
    m = _TENS_THEN_DIGITS.fullmatch(s)
    if m:
        head = cn_to_int(m.group(1))
        tail = cn_digit_string(m.group(2))
        return None if head is None or tail is None else f"{head}{tail}"
    if not any(c in CN_POWERS for c in s):
        out = []
        for c in s:
            if c.isdigit():
                out.append(c)
            elif c in CN_DIGITS:
                out.append(str(CN_DIGITS[c]))
            else:
                return None
        return "".join(out)
    value = cn_to_int(s)
    return None if value is None else str(value)


_DASHES = re.compile(r"[‐‑‒–—―－~～]")


def normalize_text(text: str) -> str:
    """NFKC-normalise (full-width digits and letters become ASCII) and unify dashes."""
    return _DASHES.sub("-", unicodedata.normalize("NFKC", text))


# ---------------------------------------------------------------------------------------------
# How a flat is written: building, entrance (单元), room

# English words before a building, an entrance, a room ("Block 3", "Entrance 2", "Unit 1502"),
# in the order the unit parser tries them.
BUILDING_WORDS = ("block", "blk", "tower", "twr", "building", "bldg", "bld", "blding")
ENTRANCE_WORDS = ("entrance", "ent", "stairwell", "staircase", "stair")
ROOM_WORDS = ("room", "rm", "flat", "apt", "apartment", "unit", "suite")
# Chinese marks after a building, an entrance, a room ("3栋", "2单元", "501室"), as the unit
# parser reads them in a message ("#" marks a building unless a room follows as "3#05-01").
BUILDING_MARKS = ("号楼", "号栋", "栋楼", "栋", "幢", "座", "#楼", "#")
ENTRANCE_MARKS = ("单元",)
ROOM_MARKS = ("室", "房间", "房", "号房", "号室", "户")
# In a spreadsheet cell that holds one part only, more marks are plain: "3号" and "3楼" are
# building 3 (in a message 号 marks a room and 楼 a floor), "2门" and "2号" entrance 2.
BUILDING_CELL_MARKS = (*BUILDING_MARKS, "号", "楼")
ENTRANCE_CELL_MARKS = (*ENTRANCE_MARKS, "门", "号")
ROOM_CELL_MARKS = (*ROOM_MARKS, "号")
ORDINAL = "第"  # 第3栋, 第2单元


def building_name(raw: str) -> str | None:
    """A building's name from its number as written, without marks: `03` → `3`, `三` → `3`,
    `b` → `B`, `12a` → `12A`; None when it is not a building number."""
    raw = raw.strip()
    if not raw:
        return None
    if raw[0].isascii() and raw[0].isalpha():
        return raw.upper()
    if raw.isdigit():
        return str(int(raw))
    m = re.fullmatch(r"(\d+)([A-Za-z])", raw)
    if m:
        return f"{int(m.group(1))}{m.group(2).upper()}"
    value = cn_to_int(raw)
    return None if value is None or value == 0 else str(value)


def entrance_name(raw: str) -> str | None:
    """An entrance's name from its number as written: `02` → `2`, `二` → `2`, `a` → `A`."""
    raw = raw.strip()
    if raw.isascii() and raw.isalpha():
        return raw.upper()
    value = cn_to_int(raw)
    return None if value is None else str(value)


def room_name(raw: str) -> str | None:
    """A room's name from its number as written: `12b` → `12B`, `0501` stays, `五零一` → `501`,
    `十二零三` → `1203`."""
    raw = raw.strip()
    if not raw:
        return None
    if raw.isascii():
        return raw.upper()
    return cn_digit_string(raw)


def _longest_first(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_BUILDING_PREFIX = re.compile(
    rf"^(?:{ORDINAL}|(?:{_longest_first(BUILDING_WORDS)})\.?)\s*", re.IGNORECASE
)
_BUILDING_SUFFIX = re.compile(rf"\s*(?:{_longest_first(BUILDING_CELL_MARKS)})$")
_ENTRANCE_PREFIX = re.compile(
    rf"^(?:{ORDINAL}|(?:{_longest_first(ENTRANCE_WORDS)})\.?)\s*", re.IGNORECASE
)
_ENTRANCE_SUFFIX = re.compile(rf"\s*(?:{_longest_first(ENTRANCE_CELL_MARKS)})$")
_ROOM_PREFIX = re.compile(rf"^(?:(?:{_longest_first(ROOM_WORDS)})\.?\s*)?#?\s*", re.IGNORECASE)
_ROOM_SUFFIX = re.compile(rf"\s*(?:{_longest_first(ROOM_CELL_MARKS)})$")


def _cell(raw: str, prefix: re.Pattern[str], suffix: re.Pattern[str]) -> str:
    return suffix.sub("", prefix.sub("", normalize_text(raw).strip())).strip()


def normalize_building(raw: str) -> str:
    """A building cell as the unit parser names it: `3栋`, `03`, `三号楼`, `Block 3` → `3`;
    `b座` → `B`. A name that is no number (`东区`) is kept, upper-cased; empty stays empty."""
    text = _cell(raw, _BUILDING_PREFIX, _BUILDING_SUFFIX)
    return (building_name(text) or text.upper()) if text else ""


def normalize_entrance(raw: str) -> str:
    """An entrance cell as the unit parser names it: `2单元`, `02`, `二单元` → `2`."""
    text = _cell(raw, _ENTRANCE_PREFIX, _ENTRANCE_SUFFIX)
    return (entrance_name(text) or text.upper()) if text else ""


def normalize_room(raw: str) -> str:
    """A room cell as the unit parser names it: `501室`, `Unit 501` → `501`; `12b` → `12B`;
    `五零一` → `501` (leading zeros kept: `0501`)."""
    text = _cell(raw, _ROOM_PREFIX, _ROOM_SUFFIX)
    return (room_name(text) or text.upper()) if text else ""


def split_unit_label(raw: str) -> tuple[str, str | None, str] | None:
    """Building, entrance (None when not given) and room of `3-2-501` or `12-1801`, each part
    with or without its marks (`3栋-2单元-501室`), normalised; None when it is not one."""
    parts = normalize_text(raw).strip().split("-")
    entrance: str | None = None
    if len(parts) == 3:
        building, written, room = parts
        entrance = normalize_entrance(written)
        if not entrance:
            return None
    elif len(parts) == 2:
        building, room = parts
    else:
        return None
    building, room = normalize_building(building), normalize_room(room)
    if not building or not room:
        return None
    return building, entrance, room
