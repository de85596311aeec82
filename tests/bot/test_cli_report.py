"""`guanjia report`: the text printed, the chart and workbook written, bad input refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.cli import main
from bot.config import Settings
from models.store import close_store, open_store
from tests.conftest import StoreOpener
from tests.factories import make_estate
from tests.month import build_month

AS_OF = "2026-11-23T10:00"  # Shanghai time, as the report's `now`


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store_opener: StoreOpener) -> str:
    """A SQLite store file holding November 2026, named by DATABASE_URL; cwd is tmp_path."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    url = f"sqlite://{tmp_path / 'guanjia.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)

    async def fill() -> None:
        await store_opener.copy_sqlite_store(tmp_path / "guanjia.sqlite3")
        await open_store(url)
        try:
            await build_month(await make_estate())
        finally:
            await close_store()

    asyncio.run(fill())
    return url


def test_report_prints_text_and_writes_files(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", "--estate", "demo", "--month", "2026-11", "--at", AS_OF])

    out = capsys.readouterr().out
    assert code == 0
    folder = Path("data/reports/demo/2026-11")
    assert "报修：受理 7 单，派工 6 单，完成 4 单，未完成 3 单" in out
    assert "  及时率：响应 4/6（67%），完成 4/5（80%）" in out
    assert f"chart: {folder / 'demo-2026-11.png'}" in out.splitlines()
    assert f"workbook: {folder / 'demo-2026-11.xlsx'}" in out.splitlines()
    assert (tmp_path / folder / "demo-2026-11.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    book = load_workbook(tmp_path / folder / "demo-2026-11.xlsx")
    assert book["工单明细"]["B5"].value == "R-0002"
    # Nobody named: the 编制 and 审核 cells are left to fill in by hand.
    assert (book["汇总"]["F2"].value, book["汇总"]["H2"].value) == (None, None)


def test_report_into_a_folder_in_english(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "exports"
    argv = ["report", "--estate", "demo", "--month", "2026-11", "--at", AS_OF]
    names = ["--prepared-by", "Chen", "--approved-by", "Zhou"]
    code = main([*argv, "--out", str(out_dir), "--lang", "en", *names])

    out = capsys.readouterr().out
    assert code == 0
    assert "Complaints: 3 received, 2 dispatched, 2 done, 1 still open" in out
    assert sorted(p.name for p in out_dir.iterdir()) == ["demo-2026-11.png", "demo-2026-11.xlsx"]
    summary = load_workbook(out_dir / "demo-2026-11.xlsx")["Summary"]
    assert [summary[cell].value for cell in ("E2", "F2", "G2", "H2")] == [
        "Prepared by",
        "Chen",
        "Approved by",
        "Zhou",
    ]
    assert not (tmp_path / "data" / "reports").exists()


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["--estate", "nowhere", "--month", "2026-11"], 1, "no estate 'nowhere'"),
        (["--estate", "demo", "--month", "2026-13"], 2, "'2026-13' is not a month"),
        (["--estate", "demo", "--month", "2026-11", "--at", "soon"], 2, "soon"),
        (["--estate", "demo", "--month", "2026-12", "--at", AS_OF], 2, "2026-12 has not begun"),
    ],
)
def test_bad_input_is_refused(
    database: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    status: int,
    says: str,
) -> None:
    assert main(["report", *argv]) == status
    captured = capsys.readouterr()
    assert says in captured.err and captured.out == ""
    assert not (tmp_path / "data" / "reports").exists()
