"""The estate workbook template (`guanjia import --template FILE`): every sheet the import reads,
with its headers and example rows, and the examples import as they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.core.estate_import import COLUMNS, KINDS, import_estate
from bot.core.estate_template import (
    CHOICES,
    EXAMPLES,
    FIELDS,
    choices,
    header,
    sheet_title,
    write_template,
)
from models import (
    Bill,
    ClosedDay,
    DutyShift,
    Estate,
    FaqEntry,
    OfficeHours,
    Owner,
    ServiceTarget,
    Staff,
    Unit,
)


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_template_has_every_sheet_and_its_examples_import(
    store: str, tmp_path: Path, lang: str
) -> None:
    path = tmp_path / f"template-{lang}.xlsx"
    write_template(path, lang)

    book = load_workbook(path)
    for kind in KINDS:
        sheet = book[sheet_title(kind, lang)]
        headers = [cell.value for cell in sheet[1]]
        assert headers == [header(kind, field, lang) for field in FIELDS.get(kind, COLUMNS[kind])]
        assert sheet.max_row == 1 + len(EXAMPLES[kind])
    # The calendar, the targets and the roster are there, in the manager's language.
    if lang == "zh":
        assert {"办公时间", "休息日", "服务时限", "值班表", "说明"} <= set(book.sheetnames)

    report = await import_estate(path, "sample", "示例小区")

    assert report.units == 2 and report.owners == 2 and report.staff == 2
    assert report.bills == 1 and report.faq == 1
    assert (report.office_hours, report.closed_days, report.targets, report.roster) == (5, 1, 3, 2)
    estate = await Estate.get(code="sample")
    assert await Unit.filter(estate=estate).count() == 2
    assert await Owner.filter(estate=estate).count() == 2
    assert await Staff.filter(estate=estate).count() == 2
    assert await Bill.all().count() == 1 and await FaqEntry.all().count() == 1
    assert await OfficeHours.filter(estate=estate).count() == 5
    assert await ClosedDay.filter(estate=estate).count() == 1
    assert await ServiceTarget.filter(estate=estate).count() == 3
    assert await DutyShift.filter(estate=estate).count() == 2


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_choice_columns_offer_a_list_of_the_words_the_import_reads(
    tmp_path: Path, lang: str
) -> None:
    path = tmp_path / f"template-{lang}.xlsx"
    write_template(path, lang)

    book = load_workbook(path)
    staff = book[sheet_title("staff", lang)]
    lists = {
        str(validation.sqref): validation.formula1.strip('"').split(",")
        for validation in staff.data_validations.dataValidation
    }
    # 姓名, 岗位, 部门, 电话: the role and department columns have lists, the others none.
    assert set(lists) == {"B2:B2001", "C2:C2001"}
    assert ("工程部" in lists["C2:C2001"]) and ("保洁" in lists["B2:B2001"])
    if lang == "en":
        assert lists["C2:C2001"][0] == "engineering"
    for (kind, field), table in CHOICES.items():
        fields = list(FIELDS.get(kind, COLUMNS[kind]))
        sheet = book[sheet_title(kind, lang)]
        letter = "ABCDEFGHIJ"[fields.index(field)]
        [validation] = [
            v for v in sheet.data_validations.dataValidation if str(v.sqref).startswith(letter)
        ]
        offered = validation.formula1.strip('"').split(",")
        assert offered == choices(kind, field, lang)
        assert all(word.lower() in table for word in offered)
        # The example rows are among the words offered.
        for example in EXAMPLES[kind]:
            assert example.get(field, "") in ("", *offered)
