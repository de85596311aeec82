"""The month report on a month built by hand (tests/month.py): figures, text, chart, workbook."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pytest
from matplotlib.image import imread
from openpyxl import load_workbook

from bot.core.i18n import Catalogues
from bot.core.reports import (
    BadMonth,
    ComplaintRow,
    OnTime,
    OpenTicket,
    chart_lang,
    chart_png,
    cjk_font,
    month_bounds,
    month_report,
    month_started,
    parse_month,
    render_text,
    report_directory,
    workbook_bytes,
    write_report_files,
)
from models import Department, Estate, TicketStatus
from tests.factories import make_estate
from tests.month import AS_OF, MONTH, PHONES, SHANGHAI, at, build_month

ENG, CLEANING, SECURITY, CS = (
    Department.ENGINEERING,
    Department.CLEANING,
    Department.SECURITY,
    Department.CUSTOMER_SERVICE,
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def estate(store: str) -> Estate:
    """The estate with November 2026 built in it."""
    estate = await make_estate()
    await build_month(estate)
    return estate


@pytest.fixture
def catalogues() -> Catalogues:
    return Catalogues()


async def test_repair_figures_by_hand(estate: Estate) -> None:
    report = await month_report(estate, MONTH, AS_OF)
    repair = report.repair

    # Received: R-0002..R-0008 opened in November (Shanghai); R-0001 (10-31 23:30) is October,
    # though R-0002 (11-01 00:10 Shanghai) was still October 31 in UTC. The other estate's
    # ticket and the enquiry Q-0001 do not count.
    assert repair.received == 7
    # Dispatched (claimed at least once): R-0002, R-0004, R-0006 (its resolve without a claim
    # made the resolver its holder) and R-0007 in engineering; R-0003 in cleaning, and R-0005 in
    # cleaning, where it was claimed after its transfer. R-0008 has never been claimed.
    assert repair.dispatched == 6
    assert repair.dispatched_by_department == {ENG: 4, CLEANING: 2}
    # Done: R-0002, R-0003, R-0004 closed; R-0005 resolved and waiting for its rating.
    assert repair.done == 4
    # Response, against the promise made when each was opened (15 minutes, urgent 5):
    #   R-0002 00:20 ≤ 00:25 kept     R-0003 09:30 > 09:15 late     R-0004 08:03 ≤ 08:05 kept
    #   R-0005 14:12 ≤ 14:15 kept (a transfer keeps the promise)
    #   R-0006 09:10 ≤ 09:15 kept (resolved at once)                R-0007 20:30 > 20:15 late
    #   R-0008 not claimed, due 10:05, it is 10:00: not due yet, left out        → 4 of 6
    assert repair.response == OnTime(kept=4, due=6)
    # Done, against 24 hours from opening (the first resolve counts, a reopen does not undo it):
    #   R-0002 11-01 09:00 kept   R-0003 11-03 11:00 kept   R-0004 11-05 10:00 kept
    #   R-0005 11-12 10:00 > 11-11 14:00 late   R-0006 11-20 09:10 kept
    #   R-0007 due 11-23 20:00 and R-0008 due 11-24 09:50: not due yet, left out  → 4 of 5
    assert repair.resolve == OnTime(kept=4, due=5)
    assert repair.response.rate == pytest.approx(4 / 6)
    # Ratings given, in order: R-0002 5, R-0003 2 then 4, R-0004 3, R-0006 1.
    # Average (5+2+4+3+1)/5 = 3.0; 不满意/极不满意: the 2 and the 1, 2 of 5 = 40%;
    # reopened by a poor rating: R-0003 and R-0006.
    assert repair.ratings == (5, 2, 4, 3, 1)
    assert repair.average_rating == pytest.approx(3.0)
    assert repair.poor_ratings == 2 and repair.poor_share == pytest.approx(0.4)
    assert repair.reopened_by_rating == 2
    # Still open, and why, at 11-23 10:00:
    #   R-0006 reopened 11-20 12:00 with new promises (12:15, 11-21 12:00): unclaimed, both late.
    #   R-0007 with 张工; done by 11-23 20:00: not late yet.
    #   R-0008 unclaimed; on site by 10:05: not late yet.
    assert repair.still_open == (
        OpenTicket("R-0006", ENG, TicketStatus.OPEN, None, True, True, True),
        OpenTicket("R-0007", ENG, TicketStatus.CLAIMED, "张工", False, False, False),
        OpenTicket("R-0008", SECURITY, TicketStatus.OPEN, None, False, False, False),
    )
    assert [item.overdue for item in repair.still_open] == [True, False, False]


async def test_complaint_figures_by_hand(estate: Estate) -> None:
    report = await month_report(estate, MONTH, AS_OF)
    complaint = report.complaint

    # C-0001 (customer service), C-0002 (security), C-0003 (cleaning, never claimed).
    assert complaint.received == 3
    assert complaint.dispatched == 2
    assert complaint.dispatched_by_department == {SECURITY: 1, CS: 1}
    assert complaint.done == 2
    # Answered and settled within 24 hours of opening:
    #   C-0001 claimed 11-02 11:00, resolved 16:00: both kept.
    #   C-0002 opened 11-15 21:00, claimed 11-17 09:00 and resolved 10:00: both late.
    #   C-0003 opened 11-21 08:00, untouched, both due 11-22 08:00: both late.   → 1 of 3 each
    assert complaint.response == OnTime(kept=1, due=3)
    assert complaint.resolve == OnTime(kept=1, due=3)
    # Ratings 4 and 3: average 3.5, none poor.
    assert complaint.ratings == (4, 3)
    assert complaint.average_rating == pytest.approx(3.5)
    assert complaint.poor_ratings == 0 and complaint.poor_share == 0
    assert complaint.reopened_by_rating == 0
    assert complaint.still_open == (
        OpenTicket("C-0003", CLEANING, TicketStatus.OPEN, None, True, True, False),
    )


async def test_complaint_summary_table(estate: Estate) -> None:
    report = await month_report(estate, MONTH, AS_OF)
    # Date in Shanghai, owner's name (never the phone), unit label, text, department, result,
    # and the rating now on the ticket.
    assert report.complaints == (
        ComplaintRow(
            date(2026, 11, 2),
            "C-0001",
            "李华",
            "3-2-501",
            "楼上装修噪音太大，晚上十点还在施工",
            CS,
            "已联系楼上业主，约定施工时间",
            4,
        ),
        ComplaintRow(
            date(2026, 11, 15),
            "C-0002",
            "John Smith",
            "3-1-501",
            "The guard at the north gate was rude to my wife",
            SECURITY,
            "已约谈当班保安并致歉",
            3,
        ),
        ComplaintRow(
            date(2026, 11, 21),
            "C-0003",
            "王芳",
            "5-1-1202",
            "垃圾两天没清运，味道很大",
            CLEANING,
            "",
            None,
        ),
    )


async def test_weeks_and_ticket_rows(estate: Estate) -> None:
    report = await month_report(estate, MONTH, AS_OF)
    # November 2026 runs from Sunday the 1st (ISO week 44) to Monday the 30th (week 49).
    # Repairs and complaints by the week they were opened in, by their department now
    # (R-0005 was transferred to cleaning):
    #   W44 R-0002 eng;  W45 C-0001 cs, R-0003 cleaning, R-0004 eng;
    #   W46 R-0005 cleaning, C-0002 security;  W47 R-0006 eng, C-0003 cleaning, R-0007 eng;
    #   W48 R-0008 security;  W49 none.
    assert [(w.week, w.first_day.day, w.last_day.day, dict(w.counts)) for w in report.weeks] == [
        (44, 1, 1, {ENG: 1}),
        (45, 2, 8, {ENG: 1, CLEANING: 1, CS: 1}),
        (46, 9, 15, {CLEANING: 1, SECURITY: 1}),
        (47, 16, 22, {ENG: 2, CLEANING: 1}),
        (48, 23, 29, {SECURITY: 1}),
        (49, 30, 30, {}),
    ]
    # The workbook's rows: every ticket of the month, enquiries too, in the order opened.
    assert [row.number for row in report.tickets] == [
        "R-0002",
        "C-0001",
        "R-0003",
        "Q-0001",
        "R-0004",
        "R-0005",
        "C-0002",
        "R-0006",
        "C-0003",
        "R-0007",
        "R-0008",
    ]
    first = report.tickets[0]
    assert first.created_at == datetime(2026, 11, 1, 0, 10, tzinfo=SHANGHAI)
    assert first.created_at.utcoffset() == SHANGHAI.utcoffset(first.created_at)
    assert first.claimed_at == at(11, 1, 0, 20) and first.closed_at == at(11, 1, 12)


async def test_month_follows_the_estate_time_zone(estate: Estate) -> None:
    october = await month_report(estate, "2026-10", AS_OF)
    assert [row.number for row in october.tickets] == ["R-0001"]
    assert october.repair.received == 1 and october.complaint.received == 0
    # In London the 10-31 23:30 Shanghai ticket was opened in October too, and so was R-0002
    # (10-31 16:10 in London).
    estate.timezone = "Europe/London"
    await estate.save()
    london = await month_report(estate, "2026-10", AS_OF)
    assert [row.number for row in london.tickets] == ["R-0001", "R-0002"]


async def test_an_empty_month(store: str, catalogues: Catalogues) -> None:
    estate = await make_estate()
    report = await month_report(estate, "2026-02", AS_OF)
    assert report.repair.received == 0 and report.repair.response == OnTime(0, 0)
    assert report.repair.average_rating is None and report.repair.poor_share is None
    assert report.complaints == ()
    assert [w.week for w in report.weeks] == [5, 6, 7, 8, 9]
    text = render_text(report, catalogues, "zh")
    assert "受理 0 单" in text and "及时率：响应 暂无，完成 暂无" in text
    assert "本月无投诉" in text and "暂无回访评价" in text
    assert chart_png(report, catalogues, "zh").startswith(PNG_SIGNATURE)


async def test_text_zh(estate: Estate, catalogues: Catalogues) -> None:
    text = render_text(await month_report(estate, MONTH, AS_OF), catalogues, "zh")
    lines = text.splitlines()
    assert lines[0] == "【Estate demo】2026-11 报修与投诉月报（统计至 2026-11-23 10:00）"
    assert lines[2:11] == [
        "报修：受理 7 单，派工 6 单，完成 4 单，未完成 3 单",
        "  派工部门：工程部 4 单，保洁部 2 单",
        "  及时率：响应 4/6（67%），完成 4/5（80%）",
        "  回访评价 5 次，平均 3.00 分，不满意/极不满意 2 次（40%），因差评二次派单 2 单",
        "  未完成工单：",
        "  · R-0006 工程部：无人接单，响应超时，完成超时，二次派单",
        "  · R-0007 工程部：张工 处理中",
        "  · R-0008 秩序维护部：无人接单",
        "",
    ]
    assert "投诉：受理 3 单，派工 2 单，完成 2 单，未完成 1 单" in lines
    assert "  派工部门：秩序维护部 1 单，客服部 1 单" in lines
    assert "  · C-0003 保洁部：无人接单，响应超时，完成超时" in lines
    assert lines[-3:] == [
        "11-02 | 李华 | 3-2-501 | 楼上装修噪音太大，晚上十点还在施工 | 客服部 "
        "| 已联系楼上业主，约定施工时间 | 满意",
        # The chat's table cuts a long text at 40 characters; the workbook keeps it whole.
        "11-15 | John Smith | 3-1-501 | The guard at the north gate was rude to… "
        "| 秩序维护部 | 已约谈当班保安并致歉 | 一般",
        "11-21 | 王芳 | 5-1-1202 | 垃圾两天没清运，味道很大 | 保洁部 | 处理中 | 未评价",
    ]
    assert not any(phone in text for phone in PHONES)


async def test_text_en(estate: Estate, catalogues: Catalogues) -> None:
    text = render_text(await month_report(estate, MONTH, AS_OF), catalogues, "en")
    assert "Repairs: 7 received, 6 dispatched, 4 done, 3 still open" in text
    assert "  On time: response 4/6 (67%), done 4/5 (80%)" in text
    assert "  · R-0007 engineering: with 张工" in text
    assert "  · C-0003 cleaning: nobody has claimed it, response late, past its due time" in text
    assert text.splitlines()[-1].endswith("| cleaning | in progress | not rated")


async def test_chart_png(estate: Estate, catalogues: Catalogues) -> None:
    png = chart_png(await month_report(estate, MONTH, AS_OF), catalogues, "zh")
    assert png.startswith(PNG_SIGNATURE)
    pixels = imread(io.BytesIO(png))
    height, width = pixels.shape[:2]
    assert (width, height) == (900, 500)
    # Bars were drawn: the image is not one flat colour.
    assert pixels.std() > 0.05


def test_cjk_font_choice() -> None:
    assert cjk_font(["DejaVu Sans", "WenQuanYi Zen Hei", "Noto Sans CJK SC"]) == (
        "Noto Sans CJK SC"
    )
    assert cjk_font(["DejaVu Sans", "Noto Serif CJK JP"]) == "Noto Serif CJK JP"
    assert cjk_font(["DejaVu Sans", "DejaVu Serif"]) is None
    # English needs no CJK font; Chinese falls back to English where there is none.
    assert chart_lang("en")[0] == "en"
    lang, font = chart_lang("zh")
    assert (lang, font) == (("zh", font) if font else ("en", None))


async def test_workbook(estate: Estate, catalogues: Catalogues) -> None:
    data = workbook_bytes(await month_report(estate, MONTH, AS_OF), catalogues, "zh")
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["工单明细", "投诉月度汇总表"]
    tickets = list(book["工单明细"].iter_rows(values_only=True))
    assert tickets[0] == (
        "单号",
        "类型",
        "部门",
        "紧急",
        "状态",
        "房号",
        "业主",
        "内容",
        "受理时间",
        "接单时间",
        "完成时间",
        "关闭时间",
        "评价",
        "处理结果",
        "二次派单次数",
    )
    assert len(tickets) == 1 + 11
    by_number = {row[0]: row for row in tickets[1:]}
    # R-0003: reopened once by its 2, then claimed again at 15:10, done 16:00, closed with a 4.
    assert by_number["R-0003"] == (
        "R-0003",
        "报修",
        "保洁部",
        "否",
        "已关闭",
        "5-1-1202",
        "王芳",
        "电梯厅地面油污",
        datetime(2026, 11, 3, 9, 0),
        datetime(2026, 11, 3, 15, 10),
        datetime(2026, 11, 3, 16, 0),
        datetime(2026, 11, 3, 18, 0),
        4,
        "重新清洗并打蜡",
        1,
    )
    assert by_number["R-0004"][3] == "是" and by_number["R-0005"][4] == "已完成待评价"
    assert by_number["R-0006"][6] == "3栋业主" and by_number["R-0006"][5] is None
    # An owner's text that looks like a formula stays text.
    sheet = book["工单明细"]
    enquiry_row = [row[0].value for row in sheet.iter_rows(min_row=2)].index("Q-0001") + 2
    assert sheet.cell(enquiry_row, 8).value == "=1+1 物业费怎么算"
    assert sheet.cell(enquiry_row, 8).data_type == "s"
    summary = list(book["投诉月度汇总表"].iter_rows(values_only=True))
    assert summary[0] == ("日期", "业主", "房号", "投诉内容", "部门", "处理结果", "评价")
    assert len(summary) == 1 + 3
    assert summary[1] == (
        datetime(2026, 11, 2),
        "李华",
        "3-2-501",
        "楼上装修噪音太大，晚上十点还在施工",
        "客服部",
        "已联系楼上业主，约定施工时间",
        "满意",
    )
    assert summary[3][-2:] == (None, "未评价")
    cells = [str(value) for row in tickets + summary for value in row if value is not None]
    assert not any(phone in cell for phone in PHONES for cell in cells)


async def test_write_report_files(estate: Estate, catalogues: Catalogues, tmp_path: Path) -> None:
    report = await month_report(estate, MONTH, AS_OF)
    directory = report_directory(tmp_path, report)
    assert directory == tmp_path / "demo" / "2026-11"
    files = write_report_files(report, catalogues, "en", directory)
    assert files.chart == directory / "demo-2026-11.png"
    assert files.workbook == directory / "demo-2026-11.xlsx"
    assert files.chart.read_bytes().startswith(PNG_SIGNATURE)
    assert load_workbook(files.workbook).sheetnames == ["Tickets", "Complaint summary"]
    assert sorted(p.name for p in directory.iterdir()) == ["demo-2026-11.png", "demo-2026-11.xlsx"]


async def test_a_code_unfit_for_a_folder_is_not_used(store: str, tmp_path: Path) -> None:
    estate = await make_estate("../x")
    report = await month_report(estate, MONTH, AS_OF)
    assert report_directory(tmp_path, report) == tmp_path / f"estate-{estate.id}" / "2026-11"


@pytest.mark.parametrize(
    ("text", "month"),
    [
        ("2026-11", "2026-11"),
        ("2026-1", "2026-01"),
        ("2026/11", "2026-11"),
        ("2026年11月", "2026-11"),
    ],
)
def test_parse_month(text: str, month: str) -> None:
    assert parse_month(text) == month


@pytest.mark.parametrize(
    "text", ["", "2026-13", "2026-00", "26-11", "1999-12", "11-2026", "2026-11x"]
)
def test_bad_months(text: str) -> None:
    with pytest.raises(BadMonth):
        parse_month(text)


def test_month_bounds_and_start() -> None:
    start, end = month_bounds("2026-12", SHANGHAI)
    assert start == datetime(2026, 12, 1, tzinfo=SHANGHAI)
    assert end == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert month_started("2026-11", SHANGHAI, AS_OF)
    assert not month_started("2026-12", SHANGHAI, AS_OF)
