"""The estate workbook's template: every sheet the import reads (`estate_import.SHEETS`), its
headers in the manager's language (`estate_import.COLUMNS`), one or two example rows, and a notes
sheet. The example rows import as they are, so the template is also a worked example (a test
imports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from bot.core.estate_import import (
    COLUMNS,
    DEPARTMENTS,
    ITEMS,
    KINDS,
    LANGUAGES,
    ROLES,
    SEVERITIES,
    SHEETS,
    TICKET_KINDS,
    WEEKDAYS,
    YES_NO,
)
from bot.core.i18n import Catalogues

__all__ = [
    "CHOICES",
    "EXAMPLES",
    "FIELDS",
    "NOTES_SHEET",
    "choices",
    "header",
    "sheet_title",
    "write_template",
]

# The example rows, by kind and field: consistent with each other (the owner's flat is in the
# units sheet, the roster's people in the staff sheet) and written as a manager would write them.
EXAMPLES: dict[str, list[dict[str, str]]] = {
    "units": [
        {
            "building": "3",
            "entrance": "2",
            "room": "501",
            "floor_area": "89.5",
            "warranty_end": "2027-06-30",
        },
        {
            "building": "5",
            "entrance": "1",
            "room": "1202",
            "floor_area": "120",
            "warranty_end": "2027-06-30",
        },
    ],
    "owners": [
        {"owner_name": "李华", "phone": "13800138000", "units": "3-2-501", "language": "zh"},
        {"owner_name": "John Smith", "phone": "", "units": "5-1-1202", "language": "en"},
    ],
    "staff": [
        {"name": "张师傅", "role": "工程", "department": "工程部", "phone": "13900139000"},
        {"name": "王主管", "role": "主管", "department": "客服部", "phone": ""},
    ],
    "bills": [
        {
            "unit": "3-2-501",
            "period": "2026-12",
            "item": "物业费",
            "amount": "268.50",
            "due_date": "2026-12-31",
        },
    ],
    "faq": [
        {
            "question": "物业办公时间是几点？",
            "answer": "工作日 8:30–17:30，节假日值班电话 0755-88880000。",
            "language": "zh",
        },
    ],
    "hours": [
        {"weekday": day, "opens": "08:30", "closes": "17:30"}
        for day in ("周一", "周二", "周三", "周四", "周五")
    ],
    "closed_days": [{"day": "2026-12-31", "reason": "年终盘点"}],
    "targets": [
        {
            "kind": "报修",
            "urgent": "否",
            "severity": "",
            "respond_minutes": "15",
            "resolve_minutes": "1440",
            "office_time": "是",
        },
        {
            "kind": "报修",
            "urgent": "是",
            "severity": "",
            "respond_minutes": "5",
            "resolve_minutes": "240",
            "office_time": "否",
        },
        {
            "kind": "投诉",
            "urgent": "否",
            "severity": "严重",
            "respond_minutes": "30",
            "resolve_minutes": "480",
            "office_time": "否",
        },
    ],
    "roster": [
        {
            "date": "2026-12-08",
            "start": "08:00",
            "end": "20:00",
            "department": "工程部",
            "name": "张师傅",
        },
        {
            "date": "2026-12-08",
            "start": "20:00",
            "end": "08:00",
            "department": "客服部",
            "name": "王主管",
        },
    ],
}

NOTES_SHEET = {"zh": "说明", "en": "notes"}
_NOTES = {
    "zh": (
        "每张表的第一行是表头，请勿改动；示例行可以删掉或改写。",
        "房屋：楼栋、单元（可空）、房号；业主表的“房屋”写 3-2-501 这样的房号，多套用逗号分隔。",
        "办公时间、休息日、服务时限、值班表可以不填：不填则沿用默认的服务标准。",
        "服务时限按分钟；“按办公时间”为“是”时，只在办公时间内计时（紧急工单始终全天计时）。",
        "值班表的结束时间早于或等于开始时间，表示到次日。",
        "带下拉列表的列（岗位、部门、项目、类型、是/否等）请从列表中选择。",
        "也可以直接导入已有的业主档案：一张表，含楼栋/单元/房号/业主姓名/联系电话等列，表头上方可有标题行。",
        "导入：guanjia import 文件.xlsx --estate 小区代码",
        "每月更新（电话变更、新业主、迁出业主、新账单）：加 --update，先加 --dry-run 预览。",
    ),
    "en": (
        "Row 1 of each sheet is its header: keep it; the example rows may be deleted or changed.",
        "Units: building, entrance (may be empty), room; an owner's units are written 3-2-501, "
        "several separated by commas.",
        "Office hours, closed days, targets and the roster may be left empty: the default "
        "service standard then applies.",
        "Targets are in minutes; office_time 'yes' counts only office hours (urgent tickets "
        "always run round the clock).",
        "A roster shift whose end is at or before its start ends the next day.",
        "Columns with a drop-down list (role, department, item, kind, yes/no…): pick from it.",
        "An owner register you already keep imports as it is: one sheet with building, entrance,"
        " room, owner name and phone columns, title rows above the header allowed.",
        "Import: guanjia import FILE.xlsx --estate CODE",
        "Each month (new phones, new or departed owners, new bills): add --update, and first"
        " --dry-run to preview.",
    ),
}


# The columns of each sheet, where the template has fewer than the import reads: the owners
# sheet names whole units (3-2-501); an owner register's 楼栋/单元/房号 columns are read too.
FIELDS: dict[str, tuple[str, ...]] = {"owners": ("owner_name", "phone", "units", "language")}


# The columns whose cells are one of a few words, and the importer's table of them.
CHOICES: dict[tuple[str, str], Mapping[str, object]] = {
    ("owners", "language"): LANGUAGES,
    ("staff", "role"): ROLES,
    ("staff", "department"): DEPARTMENTS,
    ("bills", "item"): ITEMS,
    ("faq", "language"): LANGUAGES,
    ("hours", "weekday"): WEEKDAYS,
    ("targets", "kind"): TICKET_KINDS,
    ("targets", "urgent"): YES_NO,
    ("targets", "severity"): SEVERITIES,
    ("targets", "office_time"): YES_NO,
    ("roster", "department"): DEPARTMENTS,
}
# Rows a choice column's drop-down list covers below the header.
CHOICE_ROWS = 2000


def choices(kind: str, field: str, lang: str = "zh") -> list[str]:
    """The words a choice column's drop-down list offers, each one the import reads: one per
    value in Chinese (a department as 工程部, a weekday as 周一), and for the English template
    the English word first and then the Chinese one (the example rows are in Chinese)."""
    table = CHOICES.get((kind, field))
    if table is None:
        return []
    if table is LANGUAGES:
        return list(dict.fromkeys(LANGUAGES.values()))  # the codes the example rows use
    words: dict[object, list[str]] = {}
    for word, value in table.items():
        words.setdefault(value, []).append(word)
    chinese, english = [], []
    for candidates in words.values():
        written = [word for word in candidates if _chinese((word,))]
        preferred = [word for word in written if word.endswith("部") or word.startswith("周")]
        chinese.append((preferred or written or candidates)[0])
        spelled = [word for word in candidates if word.isascii() and len(word) > 1]
        english.append((spelled or candidates)[0])
    return chinese if lang == "zh" else english + chinese


def _validate(
    sheet: Worksheet, kind: str, fields: list[str], lang: str, catalogues: Catalogues
) -> None:
    """A drop-down list on each choice column, refusing other words."""
    for index, field in enumerate(fields, start=1):
        offered = choices(kind, field, lang)
        if not offered:
            continue
        validation = DataValidation(
            type="list",
            formula1='"' + ",".join(offered) + '"',
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=catalogues.text(lang, "import.template.choose_title"),
            error=catalogues.text(
                lang,
                "import.template.choose",
                words=" ".join(offered),
            ),
        )
        letter = get_column_letter(index)
        validation.add(f"{letter}2:{letter}{CHOICE_ROWS + 1}")
        sheet.add_data_validation(validation)


def _chinese(words: tuple[str, ...]) -> str | None:
    return next((word for word in words if any("\u4e00" <= ch <= "\u9fff" for ch in word)), None)


def sheet_title(kind: str, lang: str = "zh") -> str:
    """The sheet's name in the template: its first Chinese name, or the kind in English."""
    return (_chinese(SHEETS[kind]) if lang == "zh" else None) or kind


def header(kind: str, field: str, lang: str = "zh") -> str:
    """A column's header in the template: its first Chinese name, or the field in English."""
    return (_chinese(COLUMNS[kind][field]) if lang == "zh" else None) or field


def write_template(path: Path, lang: str = "zh") -> None:
    """Write the template workbook (`lang` "zh" or "en") to `path`."""
    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = NOTES_SHEET[lang]
    for line in _NOTES[lang]:
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    bold = Font(bold=True)
    catalogues = Catalogues()
    for kind in KINDS:
        sheet = book.create_sheet(sheet_title(kind, lang))
        fields = list(FIELDS.get(kind, COLUMNS[kind]))
        sheet.append([header(kind, field, lang) for field in fields])
        for cell in sheet[1]:
            cell.font = bold
        for example in EXAMPLES[kind]:
            sheet.append([example.get(field, "") for field in fields])
        _validate(sheet, kind, fields, lang, catalogues)
        sheet.freeze_panes = "A2"
        for index in range(len(fields)):
            sheet.column_dimensions[get_column_letter(index + 1)].width = 16
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
