"""Importing an estate from a manager's spreadsheet: units, owners, staff, bills, FAQ and the
duty roster, and the service calendar: office hours, closed days and promised-time targets.

The input is an ``.xlsx`` workbook with one sheet per kind, or a folder of ``.csv`` files (one per
kind, UTF-8 with or without a BOM). Sheet, file and column names may be English or Chinese (see
`SHEETS` and `COLUMNS`), and a sheet named otherwise is taken by its header; any sheet may be
absent. The header is the row among a sheet's first `HEADER_SEARCH_ROWS` that names the most
known columns, so title rows above it are passed over. Columns in `_IGNORED_COLUMNS` (序号,
备注, 交房日期) are read past; other unknown columns are skipped with a warning
(`ImportReport.warnings`), unless a needed column is missing, when they are errors too.

An owners sheet may be an owner register (业主档案): with 楼栋/单元/房号 columns (or a combined
房号 such as ``3-2-501``), floor area and warranty date, it names the units, which are created
from it when the workbook has no units sheet. Dates may be written 2025-06-30, 2025/6/30,
2025.6.30 or 2025年6月30日, or be date cells or Excel date serials; phone numbers are checked
and normalised with ``phonenumbers`` (`normalize_phone`).

It is all or nothing. Every row is parsed and checked first, against the file and against what the
store already holds for the estate; each problem becomes a `RowError` (sheet, row number as the
person sees it, reason in English, and the same as messages of ``locales/`` by column with what
to do, which `RowError.render` says in the manager's language) and if there is any,
`ImportFailed` is raised and nothing is written.
Otherwise everything is written in one transaction by `write_estate`, which the demo estate uses
too.

The calendar sheets replace what the estate had: a workbook with an office hours sheet sets the
estate's hours (a weekday it leaves out is closed), a closed days sheet sets its own closed days,
a targets sheet sets its promised times (what it has no row for keeps the service standard's
defaults; see `bot/core/calendar.py`). They are written last, in one transaction, after the rest.

Re-importing: a unit that already exists in the estate is reused (a floor area or warranty date
given for it must match the stored one); an owner with the same name and phone, a staff member
with the same name, a bill with the same unit, period and item, and an FAQ entry with the same
language and question are duplicates, and so errors (whose message says to use ``--update``,
`bot.core.estate_update`). An existing estate keeps its name.

Building, entrance and room are normalised by the functions the NLU's unit parser uses
(`bot.core.vocabulary`: ``3栋`` and ``03`` are ``3``, ``b座`` is ``B``, ``2单元`` is ``2``,
``501室`` and ``五零一`` are ``501``), so that a unit an owner names in a chat matches its label
(`models.estate.unit_label`); departments and roles are read with the words staff type too. Amounts
are read as `Decimal` and stored as integer cents; a numeric Excel cell, which openpyxl hands
over as a float, is read through its shortest decimal representation.

A file is untrusted, so reading it is bounded (`ImportLimits`, with the `MAX_*` constants as
defaults): its size, and a workbook's unpacked size, are checked before anything is parsed; a
sheet's declared dimensions next; then rows, columns and cell lengths are counted as the rows
stream, so a file that lies about its size is stopped at the limit all the same. A workbook is
read with openpyxl's read-only mode, and every XML part openpyxl opens passes through a
`_PartGuard` first, since openpyxl builds a whole row, the whole shared-strings table and, for a
sheet without a ``<dimension>`` element, a scan of the whole sheet before anything could count
them. A header with an error stops its sheet at its header; a file without a single row to
import is refused. A limit passed, or a file too broken to read (a damaged zip, an old .xls or
encrypted workbook, XML no spreadsheet program writes), is a message of its own saying what to
do (split the file, save it again from Excel or WPS); what the library said, and which part of
the workbook, goes to the log for the operator (`_Stop.log`).
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, TextIO, TypeVar
from xml.etree import ElementTree
from xml.parsers import expat
from zoneinfo import ZoneInfo

import phonenumbers
from tortoise.exceptions import OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

if TYPE_CHECKING:
    # openpyxl (with Pillow) is about 7 MB in the process: imported when a workbook is read
    # (`_xlsx_reading`), not by every process that imports this module (`guanjia run` does, for
    # the demo estate, and may never read a workbook).
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.workbook import Workbook
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from bot.core.i18n import Catalogues
from bot.core.reference import EstateCache
from bot.core.roster import ShiftRow, shift_instants
from bot.core.vocabulary import (
    DEPARTMENT_WORDS,
    ROLE_WORDS,
    normalize_building,
    normalize_entrance,
    normalize_room,
    split_unit_label,
)
from models import (
    Bill,
    BillItem,
    Building,
    ClosedDay,
    Department,
    DutyShift,
    Entrance,
    Estate,
    FaqEntry,
    OfficeHours,
    Owner,
    ServiceTarget,
    Severity,
    Staff,
    StaffRole,
    TicketKind,
    Unit,
    unit_label,
)
from models.statements import analyze, chunks

__all__ = [
    "COLUMNS",
    "DEFAULT_LIMITS",
    "DEPARTMENTS",
    "HEADER_SEARCH_ROWS",
    "ITEMS",
    "LANGUAGES",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_PROBLEMS",
    "MAX_ROWS",
    "MAX_SHEETS",
    "MAX_UNZIPPED_BYTES",
    "MAX_XML_ELEMENTS",
    "ROLES",
    "SEVERITIES",
    "SHEETS",
    "TICKET_KINDS",
    "WEEKDAYS",
    "YES_NO",
    "BillRow",
    "ClosedDayRow",
    "EstateData",
    "FaqRow",
    "HoursRow",
    "ImportFailed",
    "ImportLimits",
    "ImportReport",
    "OwnerRow",
    "RosterRow",
    "RowError",
    "StaffRow",
    "TargetRow",
    "UnitRow",
    "import_estate",
    "normalize_building",
    "normalize_entrance",
    "normalize_room",
    "parse_unit_label",
    "read_estate",
    "render_report",
    "render_warnings",
    "write_estate",
]

E = TypeVar("E")
log = logging.getLogger(__name__)

KINDS = (
    "units",
    "owners",
    "staff",
    "bills",
    "faq",
    "roster",
    "hours",
    "closed_days",
    "targets",
)

# How much work a file may cause. A real estate's file is far inside every limit; a file past one
# is refused as soon as that is seen, so a hostile file costs seconds and tens of MB, not minutes
# and gigabytes. Tests pass smaller ones through `ImportLimits`.

# The largest .xlsx workbook, and the largest .csv file, read at all.
MAX_FILE_BYTES = 20 * 1024 * 1024
# The most a workbook's zip members may unpack to, by the sizes the zip declares (zipfile never
# unpacks a member past its declared size): a zip bomb is refused before openpyxl opens it.
# Spreadsheet XML packs about ten to one, so a genuine 20 MB workbook fits.
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
# Sheets in a workbook, .csv files in a folder: one per kind, and room for a few stray ones.
MAX_SHEETS = 16
# Rows in one sheet or file, counted as the person sees them (the header is row 1).
MAX_ROWS = 100_000
# Columns in one sheet or file. A cell past the last one counts even when it holds only a format:
# it costs as much to read.
MAX_COLUMNS = 50
# Characters in one cell or CSV field: an FAQ answer is sent as one chat message, and Telegram
# takes at most 4,096 characters.
MAX_CELL_CHARS = 4096
# XML elements in one workbook part outside a worksheet's rows (the shared strings, the styles,
# the workbook part): openpyxl holds such a part in memory whole.
MAX_XML_ELEMENTS = 1_000_000
# Problems found before reading stops: a file this wrong is not worth reading to the end, and
# the report stays short enough to read.
MAX_PROBLEMS = 1000

# The markup one cell may take within a row (rich-text runs and their formats), and how deeply XML
# may nest: both far past what a spreadsheet program writes, and both bound what openpyxl builds.
_ELEMENTS_PER_CELL = 32
_MAX_XML_DEPTH = 100
# A row's report names its first problems only: a hostile cell can hold thousands of bad units.
_MAX_ROW_PROBLEMS = 10

# Accepted sheet (or CSV file stem) names per kind, compared case-insensitively.
SHEETS: dict[str, tuple[str, ...]] = {
    "units": ("units", "房屋", "单元", "buildings", "房屋档案", "房屋信息", "房产", "房间"),
    "owners": (
        "owners",
        "业主",
        "业主档案",
        "业主信息",
        "业主名册",
        "业主清单",
        "业主资料",
        "住户",
        "住户档案",
        "住户信息",
        "业主信息表",
        "业主档案表",
    ),
    "staff": ("staff", "员工", "工作人员", "员工信息", "员工名单", "人员"),
    "bills": (
        "bills",
        "账单",
        "欠费明细",
        "欠费",
        "欠费清单",
        "收费明细",
        "应收明细",
        "账单明细",
        "缴费明细",
        "物业费",
    ),
    "faq": ("faq", "常见问题"),
    "hours": ("hours", "office_hours", "office hours", "calendar", "办公时间", "服务日历"),
    "closed_days": ("closed_days", "closed days", "休息日", "闭馆日"),
    "targets": ("targets", "service_targets", "服务时限", "承诺时限"),
    "roster": ("roster", "值班表", "值班", "排班", "duty"),
}

# Sheets read by people, not by the import (the template's notes).
NOTES_SHEETS = frozenset({"说明", "notes", "readme"})

_FLOOR_AREA = ("floor_area", "建筑面积", "area", "面积", "房屋面积")
_WARRANTY_END = (
    "warranty_end",
    "保修截止",
    "保修截止日期",
    "保修到期",
    "保修期至",
    "保修到期日",
    "保修期到",
    "保修截止日",
)
_PHONE_HEADERS = (
    "phone",
    "电话",
    "mobile",
    "手机",
    "手机号",
    "联系电话",
    "手机号码",
    "电话号码",
    "联系方式",
)

# Accepted headers per kind and field, compared after `_header_key`: English, Chinese, others.
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "units": {
        "building": ("building", "楼栋", "楼号", "楼栋号"),
        "entrance": ("entrance", "单元", "单元号"),
        "room": ("room", "房号", "房间号", "门牌号"),
        "floor_area": _FLOOR_AREA,
        "warranty_end": _WARRANTY_END,
    },
    "owners": {
        "owner_name": ("owner_name", "业主姓名", "name", "owner", "业主", "姓名", "业主名称"),
        "phone": _PHONE_HEADERS,
        "units": ("units", "房屋", "unit", "房号", "房屋编号", "房间", "楼栋单元房号"),
        "language": ("language", "语言", "lang"),
        # An owner register with its units (业主档案): the units it names are created from it.
        "building": ("building", "楼栋", "楼号", "楼栋号", "栋号", "楼"),
        "entrance": ("entrance", "单元", "单元号"),
        "room": ("room", "房号", "房间号", "门牌号", "室"),
        "floor_area": _FLOOR_AREA,
        "warranty_end": _WARRANTY_END,
    },
    "staff": {
        "name": ("name", "姓名"),
        "role": ("role", "岗位", "职务"),
        "department": ("department", "部门"),
        "phone": _PHONE_HEADERS,
    },
    "bills": {
        "unit": ("unit", "房屋", "房屋编号"),
        "building": ("building", "楼栋", "楼号"),
        "entrance": ("entrance", "单元"),
        "room": ("room", "房号"),
        "period": ("period", "账期", "月份", "所属月份", "费用月份", "计费月份"),
        "item": ("item", "项目", "收费项目", "费用项目", "费项"),
        "amount": ("amount", "金额", "应收金额", "欠费金额", "应缴金额", "应收", "欠费"),
        "due_date": ("due_date", "到期日", "缴费截止日", "截止日期", "缴费期限", "应缴日期"),
        "paid_at": ("paid_at", "缴费时间", "支付时间", "缴费日期"),
        # The bill's own number: what a re-import (--update) finds it by.
        "number": ("number", "账单编号", "单号", "账单号", "编号", "单据号", "票据号"),
    },
    "faq": {
        "question": ("question", "问题"),
        "answer": ("answer", "回答", "答案"),
        "language": ("language", "语言", "lang"),
    },
    "hours": {
        "weekday": ("weekday", "星期", "day"),
        "opens": ("opens", "上班", "开始", "open"),
        "closes": ("closes", "下班", "结束", "close"),
    },
    "closed_days": {
        "day": ("day", "日期", "date"),
        "reason": ("reason", "原因", "事由"),
    },
    "targets": {
        "kind": ("kind", "类型", "工单类型"),
        "urgent": ("urgent", "紧急"),
        "severity": ("severity", "等级", "投诉等级"),
        "respond_minutes": ("respond_minutes", "响应分钟", "响应时限"),
        "resolve_minutes": ("resolve_minutes", "完成分钟", "完成时限"),
        "office_time": ("office_time", "按办公时间", "办公时间计"),
    },
    "roster": {
        "date": ("date", "日期"),
        "start": ("start", "开始", "开始时间", "上班"),
        "end": ("end", "结束", "结束时间", "下班"),
        "department": ("department", "部门"),
        "name": ("name", "值班人", "值班人员", "姓名", "staff"),
    },
}

_REQUIRED: dict[str, tuple[str, ...]] = {
    "units": ("building", "room"),
    "owners": ("owner_name", "units"),
    "staff": ("name", "role", "department"),
    "bills": ("period", "item", "amount", "due_date"),  # and unit, or building + room
    "faq": ("question", "answer"),
    "hours": ("weekday", "opens", "closes"),
    "closed_days": ("day",),
    "targets": ("kind", "respond_minutes", "resolve_minutes"),
    "roster": ("date", "start", "end", "department", "name"),
}

# Weekdays as a manager writes them (0 is Monday).
WEEKDAYS: dict[str, int] = {
    **{word: n for n, word in enumerate(("一", "二", "三", "四", "五", "六", "日"))},
    **{f"周{word}": n for n, word in enumerate(("一", "二", "三", "四", "五", "六", "日"))},
    **{f"星期{word}": n for n, word in enumerate(("一", "二", "三", "四", "五", "六", "日"))},
    "周天": 6,
    "星期天": 6,
    **{str(n + 1): n for n in range(7)},
    **{
        name: n
        for n, names in enumerate(
            (
                ("monday", "mon"),
                ("tuesday", "tue"),
                ("wednesday", "wed"),
                ("thursday", "thu"),
                ("friday", "fri"),
                ("saturday", "sat"),
                ("sunday", "sun"),
            )
        )
        for name in names
    },
}
TICKET_KINDS: dict[str, TicketKind] = {
    "repair": TicketKind.REPAIR,
    "报修": TicketKind.REPAIR,
    "维修": TicketKind.REPAIR,
    "complaint": TicketKind.COMPLAINT,
    "投诉": TicketKind.COMPLAINT,
    "enquiry": TicketKind.ENQUIRY,
    "咨询": TicketKind.ENQUIRY,
}
SEVERITIES: dict[str, str] = {
    "serious": Severity.SERIOUS,
    "严重": Severity.SERIOUS,
    "important": Severity.IMPORTANT,
    "重要": Severity.IMPORTANT,
    "general": Severity.GENERAL,
    "一般": Severity.GENERAL,
}
YES_NO: dict[str, bool] = {
    **dict.fromkeys(("yes", "y", "true", "1", "是", "√", "✓"), True),
    **dict.fromkeys(("no", "n", "false", "0", "否", "×"), False),
}
_CLOCK = re.compile(r"(\d{1,2})[:：](\d{2})")
# A target longer than this (a year of minutes) is a typing mistake.
_MAX_TARGET_MINUTES = 366 * 24 * 60

# Staff roles and departments as a manager writes them: the words of the vocabulary, which are
# also what staff type (`转派 R-0012 保洁`).
ROLES: dict[str, StaffRole] = {word: StaffRole(role) for word, role in ROLE_WORDS.items()}
DEPARTMENTS: dict[str, Department] = {
    word: Department(department) for word, department in DEPARTMENT_WORDS.items()
}

ITEMS: dict[str, BillItem] = {
    "property_fee": BillItem.PROPERTY_FEE,
    "property fee": BillItem.PROPERTY_FEE,
    "物业费": BillItem.PROPERTY_FEE,
    "parking": BillItem.PARKING,
    "停车费": BillItem.PARKING,
    "车位费": BillItem.PARKING,
    "water": BillItem.WATER,
    "水费": BillItem.WATER,
    "electricity": BillItem.ELECTRICITY,
    "电费": BillItem.ELECTRICITY,
    "heating": BillItem.HEATING,
    "暖气费": BillItem.HEATING,
    "采暖费": BillItem.HEATING,
}

LANGUAGES: dict[str, str] = {
    "zh": "zh",
    "zh-cn": "zh",
    "chinese": "zh",
    "中文": "zh",
    "汉语": "zh",
    "en": "en",
    "english": "en",
    "英文": "en",
    "英语": "en",
}

_CENT = Decimal("0.01")
_MAX_CENTS = 2**63 - 1
_MAX_AREA = Decimal("999999.99")  # the column holds 8 digits, 2 of them decimals
_UNIT_SEPARATORS = re.compile(r"[,，;；、\s]+")
_PERIOD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?")
# A day as managers write it: 2025-06-30, 2025/6/30, 2025.6.30, 2025年6月30日 (and 20250630).
_DAY = r"(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?|(\d{2})(\d{2}))"
_DATE = re.compile(_DAY)
_MOMENT = re.compile(_DAY + r"(?:\s*[ T]\s*(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?)?")
# Excel keeps a date as a number of days: a number cell in this range is one (1954 to 2173).
_FIRST_SERIAL, _LAST_SERIAL = 20_000, 100_000
_PHONE_EXTENSION = re.compile(r"\s*(?:转|分机|ext\.?|x|#)\s*(\d{1,6})\s*$", re.IGNORECASE)
# What a register writes for "no phone".
_NO_PHONE = frozenset({"无", "没有", "暂无", "-", "--", "—", "/", "n/a", "na", "none", "空"})
_CLOCK = re.compile(r"(\d{1,2})\s*[:：点]\s*(\d{1,2}|半)?\s*分?")
# Columns a manager keeps for themselves, read past in silence: numbering, notes, and dates the
# store has no place for (a unit's handover date). Any other unknown column is skipped with a
# warning (`ImportReport.warnings`): a register has many columns the import has no use for, and
# a column it needs but cannot recognise is reported missing all the same.
_IGNORED_COLUMNS = frozenset(
    {
        "note",
        "notes",
        "remark",
        "remarks",
        "comment",
        "备注",
        "说明",
        "序号",
        "no",
        "no.",
        "#",
        "交房日期",
        "交付日期",
        "入住日期",
        "收房日期",
    }
)
# Rows above the header a sheet may have (a title, the estate's name, a date).
HEADER_SEARCH_ROWS = 10


# ---------------------------------------------------------------------------------------------
# Results and errors


@cache
def _catalogues() -> Catalogues:
    return Catalogues()


@dataclass(frozen=True)
class Problem:
    """One problem as a message of the catalogues (``import.<key>``, with ``import.<key>.do``
    saying what to do when there is one), and the column (its header) it is in, if one."""

    key: str
    fields: tuple[tuple[str, object], ...] = ()
    column: str = ""

    def text(self, catalogues: Catalogues, lang: str, *, advice: bool = True) -> str:
        """The problem in `lang`, with what to do about it unless `advice` is false."""
        key = f"import.{self.key}"
        fields = dict(self.fields)
        if "item" in fields:  # a bill item, by its name in the language
            fields["item"] = catalogues.text(lang, f"bill.{fields['item']}")
        text = catalogues.text(lang, key, **fields)
        if self.column:
            text = catalogues.text(lang, "import.in_column", column=self.column, text=text)
        if advice and f"{key}.do" in catalogues.keys(catalogues.language(lang)):
            stop = "。" if catalogues.language(lang) == "zh" else ". "
            text += stop + catalogues.text(lang, f"{key}.do", **fields)
        return text


def _problem(key: str, in_column: str = "", **fields: object) -> Problem:
    return Problem(key, tuple(fields.items()), in_column)


@dataclass(frozen=True)
class RowError:
    """One problem in the input: the sheet (or CSV file), its row as the person sees it, why.

    `reason` is in English, for logs and tests; `problems` say it again as messages, so that
    `render` can say it in the manager's language, by column, with what to do.
    """

    sheet: str
    row: int
    reason: str
    problems: tuple[Problem, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, sheet: str, row: int, *problems: Problem) -> RowError:
        """The error of these problems, its English reason written from the catalogues."""
        catalogues = _catalogues()
        reason = "; ".join(
            (f"{problem.column}: " if problem.column else "")
            + catalogues.text("en", f"import.{problem.key}", **dict(problem.fields))
            for problem in problems
        )
        return cls(sheet, row, reason, problems)

    def __str__(self) -> str:
        where = f"{self.sheet}, row {self.row}" if self.row else self.sheet
        return f"{where}: {self.reason}"

    def render(self, catalogues: Catalogues, lang: str) -> str:
        """Where and what, in `lang`, with what to do."""
        if self.row:
            where = catalogues.text(lang, "import.where.row", sheet=self.sheet, row=self.row)
        else:
            where = catalogues.text(lang, "import.where.file", sheet=self.sheet)
        if not self.problems:
            return f"{where}: {self.reason}"
        separator = "；" if catalogues.language(lang) == "zh" else "; "
        texts = separator.join(problem.text(catalogues, lang) for problem in self.problems)
        return f"{where}{'：' if catalogues.language(lang) == 'zh' else ': '}{texts}"


def _error(sheet: str, row: int, key: str, **fields: object) -> RowError:
    return RowError.of(sheet, row, _problem(key, **fields))


def _limit(sheet: str, row: int, key: str, **fields: object) -> RowError:
    """A limit passed, or a file too broken (or built) to read: ``import.file.<key>``, which
    says what to do (split the file, save it again); the technical detail goes to the log."""
    return _error(sheet, row, f"file.{key}", **fields)


class ImportFailed(Exception):
    """The input had problems; nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {error}" for error in errors)
        super().__init__(f"import failed, nothing was written ({len(errors)} problems):\n{lines}")

    def render(self, catalogues: Catalogues, lang: str, file: str) -> str:
        """The problems in `lang`, one a line, under a heading."""
        heading = catalogues.text(lang, "import.failed", file=file, count=len(self.errors))
        return "\n".join(
            [heading, *(f"  {error.render(catalogues, lang)}" for error in self.errors)]
        )


@dataclass(frozen=True)
class ImportLimits:
    """How much work a file may cause `read_estate`; the defaults are the ``MAX_*`` constants."""

    max_file_bytes: int = MAX_FILE_BYTES
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES
    max_sheets: int = MAX_SHEETS
    max_rows: int = MAX_ROWS
    max_columns: int = MAX_COLUMNS
    max_cell_chars: int = MAX_CELL_CHARS
    max_xml_elements: int = MAX_XML_ELEMENTS
    max_problems: int = MAX_PROBLEMS


DEFAULT_LIMITS = ImportLimits()


@dataclass(frozen=True)
class ImportReport:
    """What was written: new rows per kind, and existing units that were reused."""

    estate_code: str
    estate_created: bool
    units: int
    units_reused: int
    owners: int
    staff: int
    bills: int
    faq: int
    office_hours: int = 0
    closed_days: int = 0
    targets: int = 0
    roster: int = 0
    # What was read past without stopping the import: columns it does not know.
    warnings: tuple[RowError, ...] = ()


_REPORT_COUNTS = (
    "units",
    "units_reused",
    "owners",
    "staff",
    "bills",
    "faq",
    "office_hours",
    "closed_days",
    "targets",
    "roster",
)


def render_report(report: ImportReport, catalogues: Catalogues, lang: str) -> str:
    """What an import wrote, in `lang`, and below it the columns it read past."""
    counts = [
        catalogues.text(lang, f"import.count.{name}", n=n)
        for name in _REPORT_COUNTS
        if (n := getattr(report, name))
    ]
    key = "import.done_new" if report.estate_created else "import.done"
    separator = catalogues.text(lang, "report.list_sep")
    lines = [catalogues.text(lang, key, estate=report.estate_code, counts=separator.join(counts))]
    lines.extend(render_warnings(report.warnings, catalogues, lang))
    return "\n".join(lines)


def render_warnings(warnings: Sequence[RowError], catalogues: Catalogues, lang: str) -> list[str]:
    """The lines saying what was read past and not imported; none when nothing was."""
    if not warnings:
        return []
    heading = catalogues.text(lang, "import.warnings")
    return [heading, *(f"  {warning.render(catalogues, lang)}" for warning in warnings)]


# ---------------------------------------------------------------------------------------------
# The parsed structure, which `write_estate` writes


@dataclass(frozen=True)
class UnitRow:
    """A unit to create (or reuse): normalised building, entrance and room."""

    building: str
    entrance: str | None
    room: str
    floor_area: Decimal | None = None
    warranty_end: date | None = None
    sheet: str = "units"
    row: int = 0

    @property
    def label(self) -> str:
        """The unit's estate-unique label."""
        return unit_label(self.building, self.entrance, self.room)


@dataclass(frozen=True)
class OwnerRow:
    """An owner and the labels of the units they own."""

    name: str
    phone: str
    units: tuple[str, ...]
    language: str = "zh"
    sheet: str = "owners"
    row: int = 0
    # The units as an owner register describes them (floor area, warranty), to create them.
    unit_rows: tuple[UnitRow, ...] = ()


@dataclass(frozen=True)
class StaffRow:
    """A staff member."""

    name: str
    role: StaffRole
    department: Department
    phone: str = ""
    sheet: str = "staff"
    row: int = 0


@dataclass(frozen=True)
class BillRow:
    """One bill item of a unit (by label); `paid_at` is wall time in the estate's time zone."""

    unit: str
    period: str
    item: BillItem
    amount_cents: int
    due_date: date
    paid_at: datetime | None = None
    sheet: str = "bills"
    row: int = 0
    number: str = ""


@dataclass(frozen=True)
class FaqRow:
    """A question and its answer in one language."""

    question: str
    answer: str
    language: str = "zh"
    sheet: str = "faq"
    row: int = 0


@dataclass(frozen=True)
class HoursRow:
    """The office hours of one weekday (0 is Monday), as minutes after midnight."""

    weekday: int
    opens_minute: int
    closes_minute: int
    sheet: str = "hours"
    row: int = 0


@dataclass(frozen=True)
class ClosedDayRow:
    """A day the estate's office is closed beyond the public holidays."""

    day: date
    reason: str = ""
    sheet: str = "closed_days"
    row: int = 0


@dataclass(frozen=True)
class TargetRow:
    """A promised time: kind, urgent, severity ("" for any), minutes, office time or not."""

    kind: TicketKind
    urgent: bool
    severity: str
    respond_minutes: int
    resolve_minutes: int
    office_time: bool
    sheet: str = "targets"
    row: int = 0


@dataclass(frozen=True)
class RosterRow(ShiftRow):
    """A shift of the duty roster: a staff member (of the file or the store) by name, the day,
    wall-clock start and end in the estate's zone (an end at or before the start is the next
    day's: 20:00–08:00 is a night, 08:00–08:00 a day and a night)."""

    sheet: str = "roster"
    row: int = 0


@dataclass
class EstateData:
    """Everything to write for one estate; `None` instructions leave the estate's as they are."""

    units: list[UnitRow] = field(default_factory=list)
    owners: list[OwnerRow] = field(default_factory=list)
    staff: list[StaffRow] = field(default_factory=list)
    bills: list[BillRow] = field(default_factory=list)
    faq: list[FaqRow] = field(default_factory=list)
    hours: list[HoursRow] = field(default_factory=list)
    closed_days: list[ClosedDayRow] = field(default_factory=list)
    targets: list[TargetRow] = field(default_factory=list)
    roster: list[RosterRow] = field(default_factory=list)
    payment_instructions: str | None = None
    payment_instructions_en: str | None = None


# ---------------------------------------------------------------------------------------------
# Normalising what owners and managers write


def _clean(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def parse_unit_label(raw: str) -> str | None:
    """The normalised label of ``3-2-501`` or ``12-1801`` (with or without 栋/单元/室), or None."""
    parts = _split_unit(raw)
    return unit_label(*parts) if parts is not None else None


# A unit written out without dashes, as a register may: 3栋2单元501室, 12号楼1801.
_UNIT_WORDS = re.compile(r"(\w+?(?:栋|幢|座|号楼))\s*(?:(\w+?单元)\s*)?(\w+?)室?", re.UNICODE)


def _split_unit(raw: str) -> tuple[str, str | None, str] | None:
    parts = split_unit_label(raw)
    if parts is None and (match := _UNIT_WORDS.fullmatch(_clean(raw))):
        written = "-".join(part for part in match.groups() if part)
        parts = split_unit_label(written)
    return parts


def _header_key(value: object) -> str:
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    text = re.sub(r"\(.*?\)|\[.*?\]|\*", "", text).strip()
    return re.sub(r"[\s\-]+", "_", text)


def _kind_of(sheet: str) -> str | None:
    name = _clean(sheet).lower()
    for kind, names in SHEETS.items():
        if name in names:
            return kind
    return None


def _text(value: object) -> str:
    """A cell as text: numbers without a trailing ``.0``, dates as ISO, blanks as ``""``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _moment(raw: object) -> datetime | None:
    """A cell as a wall-clock moment: a date or time cell, an Excel date serial, or text in one
    of the forms of `_MOMENT`; None when it is none of these (or no such day)."""
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=None)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if not _FIRST_SERIAL <= raw < _LAST_SERIAL:
            return None
        from openpyxl.utils.datetime import from_excel

        moment = from_excel(raw)
        return moment.replace(microsecond=0) if isinstance(moment, datetime) else None
    text = _clean(str(raw))
    if text.isdigit() and len(text) == 5:
        return _moment(int(text))
    match = _MOMENT.fullmatch(text)
    if match is None:
        return None
    year, month, day, month8, day8, hour, minute, second = match.groups()
    try:
        return datetime(
            int(year),
            int(month or month8),
            int(day or day8),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
        )
    except ValueError:
        return None


def normalize_phone(raw: str) -> str | None:
    """A phone number as stored: a mobile's 11 digits, a landline with its area code
    (``0755-88880000``), an extension after 转 (``0755-88880000转8001``); None when it is not
    a number in mainland China or abroad (``12345``)."""
    text = _clean(raw)
    extension = ""
    if match := _PHONE_EXTENSION.search(text):
        extension, text = match[1], text[: match.start()]
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    extension = extension or (number.extension or "")
    if number.country_code != 86:
        formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    else:
        national = phonenumbers.national_significant_number(number)
        area = phonenumbers.length_of_geographical_area_code(number)
        formatted = f"0{national[:area]}-{national[area:]}" if area else national
    return f"{formatted}转{extension}" if extension else formatted


# ---------------------------------------------------------------------------------------------
# Reading one row's cells


class _Cells:
    """The cells of one row by field, collecting every problem found while reading them."""

    def __init__(self, values: dict[str, object], headers: dict[str, str]) -> None:
        self.values = values
        self.headers = headers
        self.problems: list[Problem] = []

    def _raw(self, name: str) -> object | None:
        value = self.values.get(name)
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def bad(self, name: str, key: str, **fields: object) -> None:
        if len(self.problems) < _MAX_ROW_PROBLEMS:
            self.problems.append(_problem(f"cell.{key}", self.headers.get(name, name), **fields))
        elif len(self.problems) == _MAX_ROW_PROBLEMS:
            self.problems.append(_problem("cell.more"))

    def text(self, name: str, *, required: bool = False, max_length: int | None = None) -> str:
        value = _text(self._raw(name))
        if not value and required:
            self.bad(name, "missing")
        elif max_length is not None and len(value) > max_length:
            self.bad(name, "too_long", max=max_length)
        return value

    def choice(self, name: str, table: dict[str, E], *, required: bool = True) -> E | None:
        text = _clean(self.text(name, required=required)).lower()
        if not text:
            return None
        if text not in table:
            self.bad(name, "unknown_value", value=repr(text))
            return None
        return table[text]

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        raw = self._raw(name)
        if raw is None:
            if required:
                self.bad(name, "missing")
            return None
        if isinstance(raw, bool | date):
            self.bad(name, "not_number", value=repr(_text(raw)))
            return None
        text = repr(raw) if isinstance(raw, float) else _clean(str(raw))
        text = re.sub(r"^[¥$]|元$|,|\s", "", text)
        try:
            number = Decimal(text)
            if not number.is_finite():
                raise InvalidOperation
            if number != number.quantize(_CENT):
                self.bad(name, "decimals", value=repr(_text(raw)))
                return None
        except InvalidOperation:
            self.bad(name, "not_number", value=repr(_text(raw)))
            return None
        if number < 0:
            self.bad(name, "negative", value=repr(_text(raw)))
            return None
        return number

    def day(self, name: str, *, required: bool = False) -> date | None:
        raw = self._raw(name)
        if raw is None:
            if required:
                self.bad(name, "missing")
            return None
        moment = _moment(raw)
        if moment is not None and isinstance(raw, datetime | float):
            return moment.date()  # a date cell, or a serial, with a time of day as well
        if moment is None or moment.time() != time(0):
            self.bad(name, "not_date", value=repr(_text(raw)))
            return None
        return moment.date()

    def moment(self, name: str) -> datetime | None:
        raw = self._raw(name)
        if raw is None:
            return None
        moment = _moment(raw)
        if moment is None:
            self.bad(name, "not_moment", value=repr(_text(raw)))
        return moment

    def clock_time(self, name: str) -> time | None:
        """A time of day: a time cell, or "8:00", "08:00", "8点", "8点30"; "24:00" is midnight."""
        raw = self._raw(name)
        if raw is None:
            self.bad(name, "missing")
            return None
        if isinstance(raw, datetime):
            return raw.time().replace(second=0, microsecond=0)
        if isinstance(raw, time):
            return raw.replace(second=0, microsecond=0)
        match = _CLOCK.fullmatch(_clean(str(raw)))
        if match is not None:
            given = match.group(2) or "0"
            hour, minute = int(match.group(1)), 30 if given == "半" else int(given)
            if (hour, minute) == (24, 0):
                return time(0)
            if hour < 24 and minute < 60:
                return time(hour, minute)
        self.bad(name, "not_time_of_day", value=repr(_text(raw)))
        return None

    def period(self, name: str) -> str | None:
        raw = self._raw(name)
        if raw is None:
            self.bad(name, "missing")
            return None
        if isinstance(raw, date):  # Excel turns a typed 2026-11 into 1 November 2026
            return f"{raw.year:04d}-{raw.month:02d}"
        match = _PERIOD.fullmatch(_clean(str(raw)))
        if match is None or not 1 <= int(match.group(2)) <= 12:
            self.bad(name, "not_period", value=repr(_text(raw)))
            return None
        return f"{match.group(1)}-{int(match.group(2)):02d}"

    def phone(self, name: str) -> str:
        value = _clean(self.text(name))
        if not value or value.lower() in _NO_PHONE:
            return ""
        phone = normalize_phone(value)
        if phone is None:
            self.bad(name, "not_phone", value=repr(value))
            return ""
        return phone

    def language(self, name: str) -> str:
        return self.choice(name, LANGUAGES, required=False) or "zh"

    def clock(self, name: str) -> int | None:
        """A wall time (08:30, or Excel's time cell) as minutes after midnight."""
        raw = self._raw(name)
        if raw is None:
            self.bad(name, "missing")
            return None
        if isinstance(raw, datetime):
            return raw.hour * 60 + raw.minute
        if isinstance(raw, time):
            return raw.hour * 60 + raw.minute
        if isinstance(raw, float) and 0 <= raw < 1:  # Excel keeps a time as a day's fraction
            return round(raw * 24 * 60)
        match = _CLOCK.fullmatch(_clean(str(raw)))
        if match is None or int(match[1]) > 24 or int(match[2]) > 59:
            self.bad(name, "not_time", value=repr(_text(raw)))
            return None
        return min(int(match[1]) * 60 + int(match[2]), 24 * 60)

    def minutes(self, name: str) -> int:
        """A whole, positive number of minutes."""
        number = self.decimal(name, required=True)
        if number is None:
            return 0
        if number != number.to_integral_value() or not 0 < number <= _MAX_TARGET_MINUTES:
            self.bad(name, "not_minutes", max=_MAX_TARGET_MINUTES)
            return 0
        return int(number)

    def yes_no(self, name: str) -> bool:
        return bool(self.choice(name, YES_NO, required=False))

    def place(self, building: str, entrance: str, room: str) -> tuple[str, str | None, str]:
        """Building, entrance (None when empty) and room, normalised and length-checked."""
        parts: list[str] = []
        for name, normalize, required in (
            (building, normalize_building, True),
            (entrance, normalize_entrance, False),
            (room, normalize_room, True),
        ):
            value = normalize(self.text(name, required=required))
            if len(value) > 16:
                self.bad(name, "too_long", max=16)
            parts.append(value)
        return parts[0], parts[1] or None, parts[2]


# ---------------------------------------------------------------------------------------------
# Parsing the rows of each kind


def _unit_row(cells: _Cells, sheet: str, row: int) -> UnitRow:
    building, entrance, room = cells.place("building", "entrance", "room")
    area = cells.decimal("floor_area")
    if area is not None and not Decimal(0) < area <= _MAX_AREA:
        cells.bad("floor_area", "not_area", value=area)
    return UnitRow(building, entrance, room, area, cells.day("warranty_end"), sheet, row)


def _owner_row(cells: _Cells, sheet: str, row: int) -> OwnerRow:
    name = cells.text("owner_name", required=True, max_length=64)
    phone = cells.phone("phone")
    area = cells.decimal("floor_area")
    if area is not None and not Decimal(0) < area <= _MAX_AREA:
        cells.bad("floor_area", "not_area", value=area)
    warranty_end = cells.day("warranty_end")
    units: list[UnitRow] = []
    if "building" in cells.headers:
        units.append(UnitRow(*cells.place("building", "entrance", "room"), area, warranty_end))
    else:
        for raw in _UNIT_SEPARATORS.split(cells.text("units", required=True)):
            if not raw:
                continue
            parts = _split_unit(raw)
            if parts is None:
                cells.bad("units", "not_unit", value=repr(raw))
            else:
                units.append(UnitRow(*parts, area, warranty_end))
    units = list({unit.label: unit for unit in units}.values())
    rows = tuple(replace(unit, sheet=sheet, row=row) for unit in units)
    labels = tuple(unit.label for unit in units)
    return OwnerRow(name, phone, labels, cells.language("language"), sheet, row, rows)


def _staff_row(cells: _Cells, sheet: str, row: int) -> StaffRow:
    name = cells.text("name", required=True, max_length=64)
    role = cells.choice("role", ROLES)
    department = cells.choice("department", DEPARTMENTS)
    phone = cells.phone("phone")
    return StaffRow(
        name, role or StaffRole.CLERK, department or Department.CUSTOMER_SERVICE, phone, sheet, row
    )


def _bill_row(cells: _Cells, sheet: str, row: int) -> BillRow:
    label: str | None = ""
    raw = cells.text("unit")
    if raw:
        label = parse_unit_label(raw)
        if label is None:
            cells.bad("unit", "not_unit", value=repr(raw))
    elif "building" in cells.headers:
        label = unit_label(*cells.place("building", "entrance", "room"))
    else:
        cells.bad("unit", "missing")
    period = cells.period("period")
    item = cells.choice("item", ITEMS)
    amount = cells.decimal("amount", required=True)
    cents = int(amount * 100) if amount is not None else 0
    if cents > _MAX_CENTS:
        cells.bad("amount", "too_large")
    return BillRow(
        label or "",
        period or "",
        item or BillItem.PROPERTY_FEE,
        cents,
        cells.day("due_date", required=True) or date.min,
        cells.moment("paid_at"),
        sheet,
        row,
        cells.text("number", max_length=32),
    )


def _faq_row(cells: _Cells, sheet: str, row: int) -> FaqRow:
    question = cells.text("question", required=True)
    answer = cells.text("answer", required=True)
    return FaqRow(question, answer, cells.language("language"), sheet, row)


def _hours_row(cells: _Cells, sheet: str, row: int) -> HoursRow:
    weekday = cells.choice("weekday", WEEKDAYS)
    opens, closes = cells.clock("opens"), cells.clock("closes")
    if opens is not None and closes is not None and closes <= opens:
        cells.bad("closes", "closes_early")
    return HoursRow(weekday or 0, opens or 0, closes or 0, sheet, row)


def _closed_day_row(cells: _Cells, sheet: str, row: int) -> ClosedDayRow:
    day = cells.day("day", required=True)
    return ClosedDayRow(day or date.min, cells.text("reason", max_length=64), sheet, row)


def _target_row(cells: _Cells, sheet: str, row: int) -> TargetRow:
    kind = cells.choice("kind", TICKET_KINDS)
    urgent = cells.yes_no("urgent")
    severity = cells.choice("severity", SEVERITIES, required=False) or ""
    if severity and kind is not None and kind is not TicketKind.COMPLAINT:
        cells.bad("severity", "severity_kind")
    respond = cells.minutes("respond_minutes")
    resolve = cells.minutes("resolve_minutes")
    if respond and resolve and resolve < respond:
        cells.bad("resolve_minutes", "resolve_short")
    return TargetRow(
        kind or TicketKind.REPAIR,
        urgent,
        str(severity),
        respond,
        resolve,
        cells.yes_no("office_time"),
        sheet,
        row,
    )


def _roster_row(cells: _Cells, sheet: str, row: int) -> RosterRow:
    day = cells.day("date", required=True)
    start = cells.clock_time("start")
    end = cells.clock_time("end")
    department = cells.choice("department", DEPARTMENTS)
    name = cells.text("name", required=True, max_length=64)
    return RosterRow(
        day or date.min,
        start or time(0),
        end or time(0),
        department or Department.CUSTOMER_SERVICE,
        name,
        sheet,
        row,
    )


_ROW_PARSERS = {
    "units": _unit_row,
    "owners": _owner_row,
    "staff": _staff_row,
    "bills": _bill_row,
    "faq": _faq_row,
    "hours": _hours_row,
    "closed_days": _closed_day_row,
    "targets": _target_row,
    "roster": _roster_row,
}


def _aliases(kind: str) -> dict[str, str]:
    """Header key → field for a kind (a later field wins a shared alias: 房号 is a room)."""
    return {_header_key(alias): name for name, names in COLUMNS[kind].items() for alias in names}


def _header_score(kind: str, values: Row) -> int:
    """How many cells of a row are headers of the kind: the header row is the best row."""
    aliases = _aliases(kind)
    return sum(
        1
        for value in values
        if value is not None and str(value).strip() and _header_key(value) in aliases
    )


def _header(
    kind: str, sheet: str, header: Row, row: int, errors: list[RowError], warnings: list[RowError]
) -> dict[int, str] | None:
    """Column index → field, or None (with the errors recorded) when the header is wrong.

    An unknown column is skipped with a warning, unless a column the kind needs is missing:
    then it is most likely that column, misspelt, and it is an error too.
    """
    aliases = _aliases(kind)
    columns: dict[int, str] = {}
    unknown: list[RowError] = []
    ok = True
    for index, value in enumerate(header):
        if value is None or not str(value).strip():
            continue
        name = aliases.get(_header_key(value))
        if name is None and _header_key(value) in _IGNORED_COLUMNS:
            continue
        if name is None:
            unknown.append(
                _error(sheet, row, "header.unknown_column", column=repr(str(value).strip()))
            )
        elif name in columns.values():
            errors.append(_error(sheet, row, "header.twice", column=repr(str(value).strip())))
            ok = False
        else:
            columns[index] = name
    if kind == "owners" and "building" not in columns.values():
        # No building column: 房号 holds whole units (3-2-501), as the owners sheet always had.
        columns = {i: "units" if name == "room" else name for i, name in columns.items()}
        if list(columns.values()).count("units") > 1:
            errors.append(_error(sheet, row, "header.twice", column=_names(kind, "units")))
            ok = False
    present = set(columns.values())
    missing = [name for name in _REQUIRED[kind] if name not in present]
    if kind == "owners" and "building" in present:
        missing = [name for name in missing if name != "units"]
        if "room" not in present:
            missing.append("room")
    absent = [_error(sheet, row, "header.missing", column=_names(kind, name)) for name in missing]
    if kind == "bills" and "unit" not in present and not {"building", "room"} <= present:
        unit, building = _names(kind, "unit"), _names(kind, "building")
        absent.append(_error(sheet, row, "header.missing_unit", unit=unit, building=building))
    if absent:
        errors.extend(unknown + absent)
        return None
    warnings.extend(unknown)
    return columns if ok else None


def _names(kind: str, name: str) -> str:
    english, chinese = COLUMNS[kind][name][:2]
    return f"{english!r} ({chinese})"


# ---------------------------------------------------------------------------------------------
# Reading a workbook or a folder of CSV files, within the limits

Row = Sequence[object]


class _Stop(Exception):
    """Reading stops here; `error` says where and why, `detail` what the operator's log adds
    (what openpyxl, zipfile, expat or csv said, or which part of the workbook)."""

    def __init__(self, error: RowError, detail: object = "") -> None:
        super().__init__(str(error))
        self.error = error
        self.detail = str(detail)

    def log(self) -> None:
        """The log line for operators: where, why in English, and the detail when there is one."""
        detail = f" ({self.detail})" if self.detail else ""
        log.warning("import stopped reading %s%s", self.error, detail)


class _Refused(_Stop):
    """A limit was passed: nothing more of the file is read."""


class _Unreadable(_Stop):
    """A sheet or file cannot be read: the others still are, so all problems come together."""


# What openpyxl and zipfile raise for a broken or hostile workbook: a SyntaxError is XML's
# ParseError, a LookupError a missing part or shared string, an ArithmeticError a date out of
# range, a RuntimeError an encrypted member.
_UNREADABLE: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    LookupError,
    OSError,
    EOFError,
    ValueError,
    TypeError,
    SyntaxError,
    ArithmeticError,
    NotImplementedError,
    RuntimeError,
)
_CELL_REF = re.compile(r"([A-Za-z]{1,3})\d+")


class _Sheet(NamedTuple):
    """A sheet or CSV file: its name, the name its kind is found by, and its rows, read lazily."""

    name: str
    stem: str
    rows: Iterator[Row]


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


def _blank(values: Row) -> bool:
    return all(value is None or not str(value).strip() for value in values)


def _numbered(sheet: str, rows: Iterable[Row], limits: ImportLimits) -> Iterator[tuple[int, Row]]:
    """The rows with their numbers as the person sees them, stopped at the first past a limit."""
    for number, values in enumerate(rows, start=1):
        if number > limits.max_rows:
            raise _Refused(_limit(sheet, number, "too_many_rows", max=limits.max_rows))
        if len(values) > limits.max_columns:
            raise _Refused(_limit(sheet, number, "too_many_columns", max=limits.max_columns))
        for value in values:
            if isinstance(value, str) and len(value) > limits.max_cell_chars:
                raise _Refused(_limit(sheet, number, "cell_too_long", max=limits.max_cell_chars))
        yield number, values


# --- .xlsx: openpyxl's read-only mode, every XML part it opens watched by a _PartGuard


class _PartError(Exception):
    """A workbook part passed a limit (or is not XML): raised inside openpyxl as it reads.
    `key` and `fields` are the message (`_limit`), `detail` is for the log."""

    def __init__(
        self,
        part: str | None,
        row: int,
        key: str,
        *,
        limit: bool = True,
        detail: str = "",
        **fields: object,
    ) -> None:
        super().__init__(key)
        self.part = part  # None: the workbook as a whole
        self.row = row
        self.key = key
        self.fields = fields
        self.detail = detail
        self.limit = limit


class _PartGuard:
    """Parses a part's bytes with expat just before openpyxl gets them, counting what they hold.

    openpyxl only hands over a row once it has built all of it, reads the shared strings whole,
    and scans a sheet without a ``<dimension>`` element to its end when the workbook is opened:
    none of that could be counted from outside. This counts rows, cells, a cell's characters and
    elements as the bytes arrive and raises `_PartError` at the first limit passed, at most one
    chunk past it, so openpyxl never builds more than the limits allow.
    """

    def __init__(self, part: str, archive: _GuardedArchive) -> None:
        self.part = part
        self.archive = archive
        self.limits = archive.limits
        self.root: str | None = None  # "worksheet", "sst" (shared strings) or another part
        self.depth = 0
        self.elements = 0  # outside a worksheet's rows
        self.rows = 0  # row elements seen
        self.row = 0  # the row number, as openpyxl counts it
        self.row_depth = 0  # the depth of the open row element, 0 outside rows
        self.row_elements = 0
        self.column = 0
        self.text = 0  # characters in the current cell or shared string
        self.done = False
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        parser.StartDoctypeDeclHandler = self._doctype
        self.parser = parser

    def feed(self, data: bytes) -> None:
        """Check the next chunk; an empty one is the end of the part."""
        if self.done:
            return
        self.done = not data
        try:
            self.parser.Parse(data, self.done)
        except expat.ExpatError as exc:
            raise self._error("bad_xml", limit=False, detail=str(exc)) from None

    def _error(
        self, key: str, *, limit: bool = True, detail: str = "", **fields: object
    ) -> _PartError:
        row = max(self.row, self.rows) if self.root == "worksheet" else 0
        where = f"in {self.part}: {detail}" if detail else f"in {self.part}"
        return _PartError(self.part, row, key, limit=limit, detail=where, **fields)

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        tag = name.rpartition(" ")[2]
        limits = self.limits
        self.depth += 1
        if self.depth > _MAX_XML_DEPTH:
            raise self._error("xml_too_deep", limit=False, max=_MAX_XML_DEPTH)
        if self.row_depth:
            self.row_elements += 1
            if self.row_elements > limits.max_columns * _ELEMENTS_PER_CELL:
                raise self._error("too_many_columns", max=limits.max_columns)
            if tag == "c" and self.depth == self.row_depth + 1:
                # As openpyxl places a cell: by its reference, else next to the one before.
                match = _CELL_REF.fullmatch(attributes.get("r", ""))
                self.column = _column_number(match[1]) if match else self.column + 1
                if self.column > limits.max_columns:
                    raise self._error("too_many_columns", max=limits.max_columns)
                self.text = 0
            return
        self.elements += 1
        if self.elements > limits.max_xml_elements:
            raise self._error("too_many_elements", max=limits.max_xml_elements)
        if self.root is None:
            self.root = tag
            if tag == "worksheet":
                self.archive.add_worksheet(self.part)
        elif tag == "row" and self.root == "worksheet":
            # Counted by element as well as by number: numbers can repeat, skip or lie.
            self.rows += 1
            try:
                self.row = int(attributes["r"])
            except (KeyError, ValueError):
                self.row += 1
            if max(self.row, self.rows) > limits.max_rows:
                raise self._error("too_many_rows", max=limits.max_rows)
            self.row_depth = self.depth
            self.row_elements = self.column = self.text = 0
        elif tag == "si" and self.root == "sst":
            self.text = 0

    def _end(self, name: str) -> None:
        if self.depth == self.row_depth:
            self.row_depth = 0
        self.depth -= 1

    def _characters(self, data: str) -> None:
        if self.row_depth or self.root == "sst":
            self.text += len(data)
            if self.text > self.limits.max_cell_chars:
                raise self._error("cell_too_long", max=self.limits.max_cell_chars)

    def _doctype(self, *args: object) -> None:
        # Spreadsheet programs never write one, and a DTD is how entity expansion bombs come in.
        raise self._error("dtd", limit=False)


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


class _GuardedStream(io.RawIOBase):
    """A zip member whose every chunk is checked by a `_PartGuard` before the reader gets it."""

    def __init__(self, raw: IO[bytes], guard: _PartGuard) -> None:
        super().__init__()
        self.raw = raw
        self.guard = guard

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self.guard.feed(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


class _GuardedArchive(zipfile.ZipFile):
    """The workbook's zip, handing every XML part it opens to openpyxl through a `_PartGuard`."""

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        super().__init__(path)
        self.limits = limits
        self.worksheets: set[str] = set()

    def open(
        self,
        name: str | zipfile.ZipInfo,
        mode: str = "r",
        pwd: bytes | None = None,
        *,
        force_zip64: bool = False,
    ) -> IO[bytes]:
        stream = super().open(name, mode, pwd, force_zip64=force_zip64)
        part = name.filename if isinstance(name, zipfile.ZipInfo) else name
        if mode != "r" or not part.endswith((".xml", ".rels")):
            return stream
        return _GuardedStream(stream, _PartGuard(part, self))  # type: ignore[return-value]

    def add_worksheet(self, part: str) -> None:
        """Count a worksheet part as openpyxl opens it: it opens each as the workbook loads."""
        self.worksheets.add(part)
        if len(self.worksheets) > self.limits.max_sheets:
            raise _PartError(None, 0, "too_many_sheets", max=self.limits.max_sheets)


class _XlsxReading(NamedTuple):
    """openpyxl's reader as the import reads a workbook, and what it raises for one that is not."""

    reader: type[ExcelReader]
    unreadable: tuple[type[BaseException], ...]


@cache
def _xlsx_reading() -> _XlsxReading:
    """Imports openpyxl (once, when a workbook is first read) and makes the import's reader."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.utils.cell import range_boundaries
    from openpyxl.utils.exceptions import InvalidFileException
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    class _StreamedSheet(ReadOnlyWorksheet):
        """openpyxl's read-only worksheet, but opened by reading the head of its part only.

        openpyxl looks for the ``<dimension>`` element until the end of ``<sheetData>``, so
        opening a sheet without one (openpyxl's own write-only mode writes none) reads the whole
        sheet before a single row is asked for, and a wrong header could not be reported at once.
        The element comes before ``<sheetData>`` or not at all: the search stops there.
        """

        def _get_size(self) -> None:
            with self._get_source() as source:
                for _, element in ElementTree.iterparse(source, events=("start",)):
                    tag = element.tag.rpartition("}")[2]
                    if tag == "sheetData":
                        return
                    if tag == "dimension":
                        try:
                            bounds = range_boundaries(element.get("ref", ""))
                        except ValueError:
                            return  # not a range: as good as no dimension
                        self._min_column, self._min_row, self._max_column, self._max_row = bounds
                        return

    class _WorkbookReader(ExcelReader):
        """openpyxl's reader, read-only, on the guarded zip, opening worksheets as
        `_StreamedSheet`."""

        def __init__(self, path: Path, archive: _GuardedArchive) -> None:
            super().__init__(path, read_only=True, data_only=True, keep_links=False)
            # The reader opened the file itself: every part is to be read through the guard
            # instead.
            self.archive.close()
            self.archive = archive
            self.valid_files = archive.namelist()

        def read_worksheets(self) -> None:
            # Chart sheets are left out: they hold nothing to import, and openpyxl would parse
            # their drawings and charts whole.
            for sheet, rel in self.parser.find_sheets():
                if rel.target in self.valid_files and "chartsheet" not in rel.Type:
                    worksheet = _StreamedSheet(
                        self.wb, sheet.name, rel.target, self.shared_strings
                    )
                    worksheet.sheet_state = sheet.state
                    self.wb._sheets.append(worksheet)

    return _XlsxReading(_WorkbookReader, (InvalidFileException, *_UNREADABLE))


def _stopped(exc: _PartError, where: str) -> _Stop:
    stop = _Refused if exc.limit else _Unreadable
    return stop(_limit(where, exc.row, exc.key, **exc.fields), exc.detail)


def _sheet_titles(reader: ExcelReader) -> dict[str, str]:
    """Worksheet part → sheet title, as far as openpyxl got (it reads the workbook part first)."""
    parser = getattr(reader, "parser", None)
    if parser is None:
        return {}
    return {rel.target: sheet.name for sheet, rel in parser.find_sheets()}


# What a file a program stores as an OLE compound document starts with: an old .xls workbook, or
# an .xlsx with a password to open it (Excel encrypts the whole zip into one).
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _unreadable(path: Path, where: str, exc: BaseException, key: str) -> _Unreadable:
    """What openpyxl or zipfile could not read, said as what to do about it: an old or encrypted
    workbook and a broken zip by name, anything else as `key`; the library's words are logged."""
    if isinstance(exc, zipfile.BadZipFile | zlib.error | EOFError):
        with path.open("rb") as handle:
            key = "ole" if handle.read(len(_OLE_MAGIC)) == _OLE_MAGIC else "broken_zip"
    return _Unreadable(_limit(where, 0, key), f"{type(exc).__name__}: {exc}")


@contextmanager
def _open_workbook(path: Path, limits: ImportLimits) -> Iterator[Workbook]:
    """The workbook, read-only and guarded, once the checks that need no parsing have passed."""
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise _Refused(_too_large(path.name, limits, size))
    try:
        archive = _GuardedArchive(path, limits)
    except _UNREADABLE as exc:
        raise _unreadable(path, path.name, exc, "unreadable_workbook") from None
    with archive:
        unzipped = sum(info.file_size for info in archive.infolist())
        if unzipped > limits.max_unzipped_bytes:
            maximum = _size(limits.max_unzipped_bytes)
            error = _limit(path.name, 0, "unpacks_too_large", max=maximum, size=_size(unzipped))
            raise _Refused(error)
        reading = _xlsx_reading()
        reader = None
        try:
            reader = reading.reader(path, archive)
            reader.read()
        except _PartError as exc:
            titles = _sheet_titles(reader) if reader is not None else {}
            where = titles.get(exc.part, path.name) if exc.part else path.name
            raise _stopped(exc, where) from None
        except reading.unreadable as exc:
            raise _unreadable(path, path.name, exc, "unreadable_workbook") from None
        yield reader.wb


def _too_large(name: str, limits: ImportLimits, size: int) -> RowError:
    return _limit(name, 0, "too_large", max=_size(limits.max_file_bytes), size=_size(size))


def _xlsx_sheets(workbook: Workbook, path: Path, limits: ImportLimits) -> list[_Sheet]:
    """The worksheets, after checking the sizes they declare."""
    worksheets = workbook.worksheets
    if len(worksheets) > limits.max_sheets:
        raise _Refused(_limit(path.name, 0, "too_many_sheets", max=limits.max_sheets))
    for sheet in worksheets:
        # A sheet's <dimension>, when it has one, refuses a big sheet before a row is read; it
        # can be missing or wrong, so the rows are counted as they stream all the same, and
        # openpyxl is told to forget it (else it would cut rows off, or pad them, to match).
        rows, columns = sheet.max_row, sheet.max_column
        if rows is not None and rows > limits.max_rows:
            error = _limit(sheet.title, 0, "rows_declared", max=limits.max_rows, rows=rows)
            raise _Refused(error)
        if columns is not None and columns > limits.max_columns:
            maximum = limits.max_columns
            error = _limit(sheet.title, 0, "columns_declared", max=maximum, columns=columns)
            raise _Refused(error)
        sheet.reset_dimensions()
    return [_Sheet(sheet.title, sheet.title, _worksheet_rows(sheet, path)) for sheet in worksheets]


def _worksheet_rows(sheet: ReadOnlyWorksheet, path: Path) -> Iterator[Row]:
    try:
        yield from sheet.iter_rows(values_only=True)
    except _PartError as exc:
        raise _stopped(exc, sheet.title) from None
    except _xlsx_reading().unreadable as exc:
        raise _unreadable(path, sheet.title, exc, "unreadable_sheet") from None


# --- .csv: one file per kind


@contextmanager
def _csv_field_limit(chars: int) -> Iterator[None]:
    """csv's field size limit for the while: it is process-wide, so it is put back after."""
    before = csv.field_size_limit(chars)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _csv_sheets(folder: Path, limits: ImportLimits) -> list[_Sheet]:
    files = [
        file
        for file in sorted(folder.iterdir())
        if file.is_file() and file.suffix.lower() == ".csv"
    ]
    if len(files) > limits.max_sheets:
        raise _Refused(_limit(folder.name, 0, "too_many_csv", max=limits.max_sheets))
    return [_Sheet(file.name, file.stem, _csv_rows(file, limits)) for file in files]


class _CsvLines:
    """A CSV file's lines for csv.reader, refusing a row longer than its cells could make it.

    csv.reader builds a whole row before handing it over, and a row may go on over many lines
    (a quoted field can hold line breaks), so the characters are counted here, line by line.
    """

    def __init__(self, handle: TextIO, name: str, limits: ImportLimits) -> None:
        self.handle = handle
        self.name = name
        self.max_chars = limits.max_columns * (limits.max_cell_chars + 3)  # quotes and a comma
        self.chars = 0
        self.row = 1

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        line = self.handle.readline(self.max_chars + 1)
        if not line:
            raise StopIteration
        self.chars += len(line)
        if self.chars > self.max_chars:
            error = _limit(self.name, self.row, "csv_row_too_long", max=self.max_chars)
            raise _Refused(error)
        return line

    def next_row(self) -> None:
        self.chars = 0
        self.row += 1


def _csv_rows(file: Path, limits: ImportLimits) -> Iterator[Row]:
    """The rows of one CSV file, its size checked before it is opened."""
    size = file.stat().st_size
    if size > limits.max_file_bytes:
        raise _Refused(_too_large(file.name, limits, size))
    with file.open(encoding="utf-8-sig", newline="") as handle:
        lines = _CsvLines(handle, file.name, limits)
        try:
            for record in csv.reader(lines):
                lines.next_row()
                yield tuple(record)
        except UnicodeDecodeError:
            raise _Unreadable(_error(file.name, 0, "file.not_utf8")) from None
        except csv.Error as exc:
            if str(exc).startswith("field larger than field limit"):
                error = _limit(file.name, lines.row, "cell_too_long", max=limits.max_cell_chars)
                raise _Refused(error, exc) from None
            error = _limit(file.name, lines.row, "unreadable")
            raise _Unreadable(error, f"{type(exc).__name__}: {exc}") from None


# --- both


@dataclass
class _Read:
    """What reading a file gave: the good rows, the errors, and the units named by bad rows.

    Rows that name a unit in `loose_units` (a unit row with a problem) are not reported again for
    naming a unit that does not exist; when it is None (the units sheet's header is wrong), no
    row is. `rows` counts the rows under the headers that hold anything, good or bad; `refused`
    says reading stopped at a limit, so what was read is only part of the file.
    """

    data: EstateData = field(default_factory=EstateData)
    errors: list[RowError] = field(default_factory=list)
    loose_units: set[str] | None = field(default_factory=set)
    rows: int = 0
    refused: bool = False
    warnings: list[RowError] = field(default_factory=list)
    # The units an owner register names, by label: created when there is no units sheet.
    register_units: dict[str, UnitRow] = field(default_factory=dict)


def _read(path: Path, limits: ImportLimits = DEFAULT_LIMITS) -> _Read:
    read = _Read()
    try:
        if path.is_dir():
            with _csv_field_limit(limits.max_cell_chars):
                sheets = _csv_sheets(path, limits)
                seen = _read_sheets(sheets, read, limits)
        elif path.is_file() and path.suffix.lower() == ".xlsx":
            with _open_workbook(path, limits) as workbook:
                sheets = _xlsx_sheets(workbook, path, limits)
                seen = _read_sheets(sheets, read, limits)
        else:
            read.errors.append(_error(path.name, 0, "file.not_xlsx"))
            return read
    except _Stop as stop:
        stop.log()
        read.errors.append(stop.error)
        read.refused = isinstance(stop, _Refused)
        return read
    if not read.errors and not read.rows:
        # Importing nothing would look like success: an empty file is a mistake worth naming.
        if seen:
            key = "file.header_only"
        elif sheets and not read.warnings:  # no sheet was read past as of no kind
            key = "file.empty"
        else:
            key = "file.no_sheet"
        read.errors.append(_error(path.name, 0, key))
    return read


def _read_sheets(sheets: Iterable[_Sheet], read: _Read, limits: ImportLimits) -> dict[str, str]:
    """Parse the sheets into `read`, one after the other; the kinds seen and their sheets."""
    seen: dict[str, str] = {}
    for sheet in sheets:
        try:
            with closing(sheet.rows):  # a sheet left part read closes its file at once
                rows = _numbered(sheet.name, sheet.rows, limits)
                head = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
                if all(_blank(values) for _, values in head):
                    first = next(((n, v) for n, v in rows if not _blank(v)), None)
                    if first is None:
                        continue  # an empty sheet, such as Excel's default one
                    head = [first]
                if _clean(sheet.stem).lower() in NOTES_SHEETS:
                    continue  # the template's notes, for the person filling it in
                kind = _kind_of(sheet.stem) or _kind_by_header(head)
                if kind is None:
                    accepted = " / ".join(names[0] for names in SHEETS.values())
                    chinese = " / ".join(
                        next(name for name in names if not name.isascii())
                        for names in SHEETS.values()
                    )
                    # A register's other sheets (统计, 车位): read past, and said so.
                    unknown = _error(
                        sheet.name, 0, "sheet.unknown", accepted=accepted, accepted_zh=chinese
                    )
                    read.warnings.append(unknown)
                elif kind in seen:
                    second = _error(sheet.name, 0, "sheet.second", kind=kind, first=seen[kind])
                    read.errors.append(second)
                else:
                    seen[kind] = sheet.name
                    at = _header_at(kind, head)
                    rest = itertools.chain(head[at + 1 :], rows)
                    _parse_sheet(kind, sheet.name, head[at], rest, read, limits)
        except _Unreadable as unreadable:
            unreadable.log()
            read.errors.append(unreadable.error)
    if "units" not in seen:
        # An owner register (业主档案) is the only list of units the workbook has.
        read.data.units.extend(read.register_units.values())
    return seen


def _header_at(kind: str, head: list[tuple[int, Row]]) -> int:
    """Where the header row is among a sheet's first rows: the first row that names the most
    columns of the kind, below any title rows; the first row that is not blank if none does."""
    scores = [_header_score(kind, values) for _, values in head]
    if max(scores, default=0) > 0:
        return scores.index(max(scores))
    return next(i for i, (_, values) in enumerate(head) if not _blank(values))


def _kind_by_header(head: list[tuple[int, Row]]) -> str | None:
    """The kind a sheet with a name of its own (Sheet1) holds, by its header: the kind whose
    needed columns one of its first rows has, naming the most columns; None if none has them."""
    best: tuple[int, str] | None = None
    for kind in KINDS:
        for _, values in head:
            fields = {
                name
                for value in values
                if value is not None
                and (name := _aliases(kind).get(_header_key(value))) is not None
            }
            needed = set(_REQUIRED[kind])
            if kind == "owners" and "building" in fields:
                needed = {"owner_name", "building", "room"}
            elif kind == "owners":
                fields = {"units" if name == "room" else name for name in fields}
            if needed <= fields and (best is None or len(fields) > best[0]):
                best = (len(fields), kind)
    return best[1] if best else None


def read_estate(
    path: Path, limits: ImportLimits = DEFAULT_LIMITS
) -> tuple[EstateData, list[RowError]]:
    """Parse a workbook or CSV folder within `limits`: good rows, and a `RowError` for each bad."""
    read = _read(path, limits)
    return read.data, read.errors


def _parse_sheet(
    kind: str,
    sheet: str,
    numbered_header: tuple[int, Row],
    rows: Iterator[tuple[int, Row]],
    read: _Read,
    limits: ImportLimits,
) -> None:
    """Add the sheet's good rows to the data read, and a `RowError` for each other.

    A wrong header stops the sheet at its header: the rest of it is never read.
    """
    header_row, header = numbered_header
    columns = _header(kind, sheet, header, header_row, read.errors, read.warnings)
    if columns is None:
        if kind == "units":
            read.loose_units = None
        return
    headers = {name: str(header[index]).strip() for index, name in columns.items()}
    target: list[object] = getattr(read.data, kind)
    for number, values in rows:
        if _blank(values):
            continue
        read.rows += 1
        by_name = {name: values[i] for i, name in columns.items() if i < len(values)}
        cells = _Cells(by_name, headers)
        parsed = _ROW_PARSERS[kind](cells, sheet, number)
        if not cells.problems:
            target.append(parsed)
            if isinstance(parsed, OwnerRow):
                for unit in parsed.unit_rows:
                    read.register_units.setdefault(unit.label, unit)
            continue
        read.errors.append(RowError.of(sheet, number, *cells.problems))
        if read.loose_units is not None:
            if isinstance(parsed, UnitRow) and parsed.building and parsed.room:
                read.loose_units.add(parsed.label)
            elif isinstance(parsed, OwnerRow):
                read.loose_units.update(parsed.units)
        if len(read.errors) >= limits.max_problems:
            raise _Refused(
                _error(sheet, number, "file.too_many_problems", max=limits.max_problems)
            )


# ---------------------------------------------------------------------------------------------
# Checking against the file itself and the store


@dataclass
class _Existing:
    """What the store already holds for the estate, as far as duplicates are concerned."""

    units: dict[str, Unit] = field(default_factory=dict)
    owners: set[tuple[str, str]] = field(default_factory=set)
    staff: set[str] = field(default_factory=set)
    bills: set[tuple[str, str, str]] = field(default_factory=set)
    faq: set[tuple[str, str]] = field(default_factory=set)
    # Shifts on the roster: (staff name, start instant).
    roster: set[tuple[str, datetime]] = field(default_factory=set)
    timezone: str = "Asia/Shanghai"

    @classmethod
    async def load(cls, estate: Estate | None) -> _Existing:
        if estate is None:
            return cls()
        bills = await Bill.filter(unit__estate_id=estate.id).values_list(
            "unit__label", "period", "item"
        )
        return cls(
            units={u.label: u for u in await Unit.filter(estate_id=estate.id)},
            owners=set(await Owner.filter(estate_id=estate.id).values_list("name", "phone")),
            staff=set(await Staff.filter(estate_id=estate.id).values_list("name", flat=True)),
            bills={(label, period, str(item)) for label, period, item in bills},
            faq=set(
                await FaqEntry.filter(estate_id=estate.id).values_list("language", "question")
            ),
            roster={
                (name, starts_at)
                for name, starts_at in await DutyShift.filter(estate_id=estate.id).values_list(
                    "staff__name", "starts_at"
                )
            },
            timezone=estate.timezone,
        )


def _check(
    data: EstateData, existing: _Existing, loose_units: AbstractSet[str] | None = frozenset()
) -> list[RowError]:
    """Every duplicate and every reference to a unit that exists neither in the file nor store.

    References to `loose_units` are not reported (see `_Read`); nor, when it is None, any.
    """
    errors: list[RowError] = []

    def bad(
        row: UnitRow
        | OwnerRow
        | StaffRow
        | BillRow
        | FaqRow
        | HoursRow
        | ClosedDayRow
        | TargetRow
        | RosterRow,
        key: str,
        **fields: object,
    ) -> None:
        errors.append(_error(row.sheet, row.row, f"check.{key}", **fields))

    weekdays: dict[int, HoursRow] = {}
    for hours in data.hours:
        if hours.weekday in weekdays:
            bad(hours, "dup_weekday", first=weekdays[hours.weekday].row)
        weekdays.setdefault(hours.weekday, hours)
    days: dict[date, ClosedDayRow] = {}
    for closed in data.closed_days:
        if closed.day in days:
            bad(closed, "dup_day", day=closed.day, first=days[closed.day].row)
        days.setdefault(closed.day, closed)
    targets: dict[tuple[str, bool, str], TargetRow] = {}
    for target in data.targets:
        key = (str(target.kind), target.urgent, target.severity)
        if key in targets:
            bad(target, "dup_target", first=targets[key].row)
        targets.setdefault(key, target)

    units: dict[str, UnitRow] = {}
    for unit in data.units:
        label = unit.label
        if len(label) > 48:
            bad(unit, "label_long", unit=label)
        elif label in units:
            bad(unit, "dup_unit", unit=label, first=units[label].row)
        elif label in existing.units:
            stored = existing.units[label]
            if unit.floor_area is not None and stored.floor_area is not None:
                if Decimal(stored.floor_area) != unit.floor_area:
                    bad(unit, "unit_area", unit=label, area=stored.floor_area)
            if unit.warranty_end is not None and stored.warranty_end is not None:
                if stored.warranty_end != unit.warranty_end:
                    bad(unit, "unit_warranty", unit=label, day=stored.warranty_end)
        units.setdefault(label, unit)
    known = set(units) | set(existing.units) | set(loose_units or ())

    def missing(label: str) -> bool:
        return loose_units is not None and label not in known

    owners: dict[tuple[str, str], OwnerRow] = {}
    for owner in data.owners:
        key = (owner.name, owner.phone)
        if key in owners:
            bad(owner, "dup_owner", name=owner.name, first=owners[key].row)
        elif key in existing.owners:
            bad(owner, "owner_exists", name=owner.name)
        owners.setdefault(key, owner)
        for label in owner.units:
            if missing(label):
                bad(owner, "no_unit", unit=label)

    staff: dict[str, StaffRow] = {}
    for member in data.staff:
        if member.name in staff:
            bad(member, "dup_staff", name=member.name, first=staff[member.name].row)
        elif member.name in existing.staff:
            bad(member, "staff_exists", name=member.name)
        staff.setdefault(member.name, member)

    bills: dict[tuple[str, str, str], BillRow] = {}
    for bill in data.bills:
        key = (bill.unit, bill.period, str(bill.item))
        if missing(bill.unit):
            bad(bill, "no_unit", unit=bill.unit)
        elif key in bills:
            first = bills[key].row
            bad(bill, "dup_bill", item=bill.item, unit=bill.unit, period=bill.period, first=first)
        elif key in existing.bills:
            bad(bill, "bill_exists", item=bill.item, unit=bill.unit, period=bill.period)
        bills.setdefault(key, bill)

    faq: dict[tuple[str, str], FaqRow] = {}
    for entry in data.faq:
        key = (entry.language, entry.question)
        if key in faq:
            bad(entry, "dup_question", first=faq[key].row)
        elif key in existing.faq:
            bad(entry, "question_exists")
        faq.setdefault(key, entry)

    shifts: dict[tuple[str, datetime], RosterRow] = {}
    for shift in data.roster:
        starts_at, _ = shift_instants(shift, existing.timezone)
        key = (shift.name, starts_at)
        if shift.name not in staff and shift.name not in existing.staff:
            bad(shift, "shift_staff", name=shift.name)
        elif key in shifts:
            bad(shift, "dup_shift", name=shift.name, first=shifts[key].row)
        elif key in existing.roster:
            bad(shift, "shift_exists", name=shift.name)
        shifts.setdefault(key, shift)
    return errors


def _sorted(errors: list[RowError]) -> list[RowError]:
    def key(error: RowError) -> tuple[int, int]:
        kind = _kind_of(Path(error.sheet).stem if error.sheet.endswith(".csv") else error.sheet)
        return (KINDS.index(kind) if kind else len(KINDS), error.row)

    return sorted(errors, key=key)


# ---------------------------------------------------------------------------------------------
# Writing


# Rows written per transaction. SQLite lets one writer in at a time: between chunks a running
# Guanjia's own writes (an owner's repair) get the lock, so a long import never blocks them for
# long. All or nothing still holds: what a failed import wrote is taken back (`_Undo`).
WRITE_CHUNK = 500


@dataclass
class _Undo:
    """What an import created, to take back if a later chunk fails."""

    estate_id: int | None = None  # set when the import created the estate
    created: list[tuple[type[Model], list[int]]] = field(default_factory=list)

    def add(self, model: type[Model], ids: list[int]) -> None:
        if ids:
            self.created.append((model, ids))

    async def run(self) -> None:
        async with in_transaction():
            if self.estate_id is not None:
                await Estate.filter(id=self.estate_id).delete()  # everything else cascades
                return
            for model, ids in reversed(self.created):
                await model.filter(id__in=ids).delete()


async def _write_units(
    estate: Estate, rows: list[UnitRow], existing: _Existing, undo: _Undo
) -> dict[str, Unit]:
    """Create the units not yet in the store (and their buildings, entrances); all by label."""
    buildings = {b.name: b for b in await Building.filter(estate_id=estate.id)}
    entrances = {
        (e.building_id, e.name): e for e in await Entrance.filter(building__estate_id=estate.id)
    }
    async with in_transaction():
        for row in rows:
            if row.label in existing.units or row.building in buildings:
                continue
            buildings[row.building] = await Building.create(estate_id=estate.id, name=row.building)
            undo.add(Building, [buildings[row.building].id])
        for row in rows:
            if row.label in existing.units or row.entrance is None:
                continue
            building = buildings[row.building]
            if (building.id, row.entrance) not in entrances:
                entrance = await Entrance.create(building_id=building.id, name=row.entrance)
                entrances[(building.id, row.entrance)] = entrance
                undo.add(Entrance, [entrance.id])
    new = [row for row in rows if row.label not in existing.units]
    for chunk in chunks(new, WRITE_CHUNK):
        async with in_transaction():
            await Unit.bulk_create(
                [
                    Unit(
                        estate_id=estate.id,
                        building_id=buildings[row.building].id,
                        entrance_id=(
                            entrances[(buildings[row.building].id, row.entrance)].id
                            if row.entrance is not None
                            else None
                        ),
                        room=row.room,
                        label=row.label,
                        floor_area=row.floor_area,
                        warranty_end=row.warranty_end,
                    )
                    for row in chunk
                ]
            )
    units = {u.label: u for u in await Unit.filter(estate_id=estate.id)}
    undo.add(Unit, [units[row.label].id for row in new])
    return units


async def _bulk_in_chunks(
    model: type[Model], rows: list[Model], undo: _Undo, **of_estate: int
) -> None:
    """Create rows a chunk per transaction, remembering their ids (the estate's rows past the
    highest id before the chunk) for an undo."""
    for chunk in chunks(rows, WRITE_CHUNK):
        async with in_transaction():
            before = await model.filter(**of_estate).order_by("-id").first()
            await model.bulk_create(chunk)
            created = model.filter(**of_estate)
            if before is not None:
                created = created.filter(id__gt=before.pk)
            undo.add(model, list(await created.values_list("id", flat=True)))


async def write_estate(
    data: EstateData,
    estate_code: str,
    estate_name: str | None = None,
    *,
    cache: EstateCache | None = None,
    finish: Callable[[], Awaitable[None]] | None = None,
) -> ImportReport:
    """Check `data` against the store, then write it a chunk per transaction, so that a running
    Guanjia keeps answering; all or nothing: a failure takes back what was written. Or
    ImportFailed. `cache`: this process's cache of estates' rows, told once the writing ended
    (another process's sees the import within `reference.CACHE_TTL`). `finish`: a last step
    once everything is written (an update links owners to the units it created), taken back
    with the rest if it fails. Then, on PostgreSQL, the tables written are analyzed."""
    if not 0 < len(estate_code) <= 32:
        raise ValueError(f"an estate code has 1 to 32 characters: {estate_code!r}")
    estate = await Estate.get_or_none(code=estate_code)
    existing = await _Existing.load(estate)
    errors = _check(data, existing)
    if errors:
        raise ImportFailed(_sorted(errors))
    created = estate is None
    undo = _Undo()
    try:
        async with in_transaction():
            if estate is None:
                estate = await Estate.create(code=estate_code, name=estate_name or estate_code)
                undo.estate_id = estate.id
            changes = {
                name: value
                for name in ("payment_instructions", "payment_instructions_en")
                if (value := getattr(data, name)) is not None
            }
            if changes:
                await Estate.filter(id=estate.id).update(**changes)
        units = await _write_units(estate, data.units, existing, undo)
        for chunk in chunks(data.owners, WRITE_CHUNK):
            async with in_transaction():
                for row in chunk:
                    owner = await Owner.create(
                        estate_id=estate.id, name=row.name, phone=row.phone, language=row.language
                    )
                    await owner.units.add(*(units[label] for label in row.units))
                    undo.add(Owner, [owner.id])
        staff = [
            Staff(
                estate_id=estate.id,
                name=row.name,
                role=row.role,
                department=row.department,
                phone=row.phone,
            )
            for row in data.staff
        ]
        await _bulk_in_chunks(Staff, staff, undo, estate_id=estate.id)
        zone = ZoneInfo(estate.timezone)
        bills = [
            Bill(
                unit_id=units[row.unit].id,
                period=row.period,
                item=row.item,
                amount_cents=row.amount_cents,
                due_date=row.due_date,
                paid_at=row.paid_at.replace(tzinfo=zone) if row.paid_at else None,
                number=row.number,
            )
            for row in data.bills
        ]
        await _bulk_in_chunks(Bill, bills, undo, unit__estate_id=estate.id)
        faq = [
            FaqEntry(
                estate_id=estate.id,
                language=row.language,
                question=row.question,
                answer=row.answer,
            )
            for row in data.faq
        ]
        await _bulk_in_chunks(FaqEntry, faq, undo, estate_id=estate.id)
        if data.roster:
            names = dict(await Staff.filter(estate_id=estate.id).values_list("name", "id"))
            roster = []
            for row in data.roster:
                starts_at, ends_at = shift_instants(row, estate.timezone)
                roster.append(
                    DutyShift(
                        estate_id=estate.id,
                        department=row.department,
                        staff_id=names[row.name],
                        starts_at=starts_at,
                        ends_at=ends_at,
                    )
                )
            await _bulk_in_chunks(DutyShift, roster, undo, estate_id=estate.id)
        await _write_calendar(estate, data)
        if finish is not None:
            await finish()
    except BaseException:
        log.warning("import of %s failed half way: taking back what it wrote", estate_code)
        await undo.run()
        raise
    finally:
        if cache is not None:
            # Whatever a message read between the chunks is read again.
            cache.invalidate(estate.id if estate is not None else None)
    await _analyze_written()
    reused = len({row.label for row in data.units} & set(existing.units))
    return ImportReport(
        estate_code=estate_code,
        estate_created=created,
        units=len(data.units) - reused,
        units_reused=reused,
        owners=len(data.owners),
        staff=len(data.staff),
        bills=len(data.bills),
        faq=len(data.faq),
        office_hours=len(data.hours),
        closed_days=len(data.closed_days),
        targets=len(data.targets),
        roster=len(data.roster),
    )


# The tables an import or an update writes (with the owners' units, their link table).
WRITTEN = (
    Estate,
    Building,
    Entrance,
    Unit,
    Owner,
    Staff,
    Bill,
    FaqEntry,
    DutyShift,
    OfficeHours,
    ClosedDay,
    ServiceTarget,
)


async def _analyze_written() -> None:
    """Gather PostgreSQL's statistics of the tables an import wrote (`models.statements.analyze`;
    nothing on SQLite): the per-message look-ups of units, owners and buildings are then planned
    by index, rather than read whole as tables of a few pages, from the first message on a
    server whose autovacuum has not got to them yet (or never will: off). What was written
    stays written if this fails: the estate works, only slower, until the next ANALYZE."""
    try:
        await analyze(*WRITTEN)
    except OperationalError as exc:
        log.warning("the imported tables were not analyzed: %s", exc)


async def _write_calendar(estate: Estate, data: EstateData) -> None:
    """Replace the estate's office hours, closed days and targets with the sheets' rows (a
    sheet the file does not have leaves the estate's as they are), in one transaction."""
    async with in_transaction():
        if data.hours:
            await OfficeHours.filter(estate_id=estate.id).delete()
            await OfficeHours.bulk_create(
                [
                    OfficeHours(
                        estate_id=estate.id,
                        weekday=row.weekday,
                        opens_minute=row.opens_minute,
                        closes_minute=row.closes_minute,
                    )
                    for row in data.hours
                ]
            )
        if data.closed_days:
            await ClosedDay.filter(estate_id=estate.id).delete()
            await ClosedDay.bulk_create(
                [
                    ClosedDay(estate_id=estate.id, day=row.day, note=row.reason)
                    for row in data.closed_days
                ]
            )
        if data.targets:
            await ServiceTarget.filter(estate_id=estate.id).delete()
            await ServiceTarget.bulk_create(
                [
                    ServiceTarget(
                        estate_id=estate.id,
                        kind=row.kind,
                        urgent=row.urgent,
                        severity=row.severity,
                        respond_minutes=row.respond_minutes,
                        resolve_minutes=row.resolve_minutes,
                        office_time=row.office_time,
                    )
                    for row in data.targets
                ]
            )


async def import_estate(
    path: Path,
    estate_code: str,
    estate_name: str | None = None,
    *,
    limits: ImportLimits = DEFAULT_LIMITS,
    cache: EstateCache | None = None,
) -> ImportReport:
    """Import a workbook or CSV folder into the estate (created if missing), all or nothing;
    `cache`: this process's cache of estates' rows (see `write_estate`)."""
    read = _read(path, limits)
    if read.refused:
        raise ImportFailed(_sorted(read.errors))
    if read.errors:
        # Report the file's own problems together with those only the store can reveal.
        existing = await _Existing.load(await Estate.get_or_none(code=estate_code))
        more = _check(read.data, existing, read.loose_units)
        raise ImportFailed(_sorted(read.errors + more))
    report = await write_estate(read.data, estate_code, estate_name, cache=cache)
    return replace(report, warnings=tuple(read.warnings))
