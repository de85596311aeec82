"""Who will not hear: the owners with no chat account bound, and their export."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from bot.core.i18n import Catalogues
from bot.core.owners import unbound_owners, write_unbound_workbook
from models import ChatIdentity, Owner, Platform
from tests.factories import make_estate, make_owner, make_unit


async def test_unbound_owners_by_unit_then_exported(store: str, tmp_path: Path) -> None:
    estate = await make_estate("sun")
    other = await make_estate("moon")
    high = await make_unit(estate, "12", "1", "101")
    low = await make_unit(estate, "3", "2", "501")
    second = await make_unit(estate, "3", "2", "502")
    li = await make_owner(estate, "李华", low)
    await make_owner(estate, "王芳", high, low, phone="13800000001")
    await make_owner(estate, "赵磊", phone="13800000002")  # no unit on record
    gone = await make_owner(estate, "钱多多", high)
    await Owner.filter(id=gone.id).update(active=False)  # moved out: no one to invite
    await make_owner(estate, '=HYPERLINK("http://x")', second)  # text, not a formula
    await make_owner(other, "Moon Owner", await make_unit(other, "1", "1", "101"))
    await ChatIdentity.create(platform=Platform.WEBCHAT, user_id="u-li", owner=li)
    # An account bound to nobody, or to staff, binds no owner.
    await ChatIdentity.create(platform=Platform.WEBCHAT, user_id="u-nobody")

    (found,) = await unbound_owners("sun")
    assert found.estate.code == "sun" and found.owners == 4
    assert [(o.units, o.name, o.phone) for o in found.unbound] == [
        (("3-2-501", "12-1-101"), "王芳", "13800000001"),
        (("3-2-502",), '=HYPERLINK("http://x")', ""),
        ((), "赵磊", "13800000002"),
    ]
    assert [e.estate.code for e in await unbound_owners()] == ["sun", "moon"]
    assert await unbound_owners("nowhere") == []

    out = tmp_path / "out" / "unbound.xlsx"
    write_unbound_workbook(found, out, Catalogues(), "zh")
    sheet = load_workbook(out).active
    assert sheet is not None and sheet.title == "未绑定业主"
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["房号", "业主姓名", "联系电话"],
        ["3-2-501、12-1-101", "王芳", "13800000001"],
        ["3-2-502", '=HYPERLINK("http://x")', None],
        [None, "赵磊", "13800000002"],
    ]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:C4"
    assert sheet["B3"].data_type == "s" and sheet["A1"].font.b

    write_unbound_workbook(found, out, Catalogues(), "en")
    sheet = load_workbook(out).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == ["Unit", "Owner", "Phone"]
