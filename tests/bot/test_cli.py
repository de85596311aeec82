"""The `guanjia` command as a user types it: upgrade, demo, estates, import, understand."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot import cli
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqlite_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh SQLite store file in a temporary folder, and no .env from the machine."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite://{tmp_path}/store.sqlite3")
    monkeypatch.setenv("NLU_MODEL_PATH", str(ROOT / "data" / "nlu" / "model.pkl"))
    return tmp_path


def test_upgrade_then_demo_then_estates(
    sqlite_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["db", "upgrade"]) == 0
    assert "migration(s) applied" in capsys.readouterr().out
    assert cli.main(["estates"]) == 0
    assert "holds no estate" in capsys.readouterr().out

    assert cli.main(["demo"]) == 0
    assert "demo estate ready: demo" in capsys.readouterr().out
    assert cli.main(["estates"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("demo\t阳光花园")
    assert "units=200" in listing and "owners=180" in listing and "staff=13" in listing


def test_import_of_a_bad_folder_says_why_and_writes_nothing(
    sqlite_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = sqlite_store / "estate"
    folder.mkdir()
    (folder / "units.csv").write_text("building,entrance,room\n3,2,501\n", encoding="utf-8")
    (folder / "bills.csv").write_text(
        "unit,period,item,amount,due_date\n9-9-999,2026-11,property_fee,100,2026-11-15\n",
        encoding="utf-8",
    )
    assert cli.main(["import", str(folder), "--estate", "e1"]) == 1
    err = capsys.readouterr().err  # in the settings' language, with what to do
    assert err.startswith("导入失败，未写入任何数据：")
    assert "「bills.csv」第 2 行：房屋 9-9-999 不存在。请在房屋表中添加该房屋，或改正房号。" in err
    assert cli.main(["import", str(folder), "--estate", "e1", "--lang", "en"]) == 1
    err = capsys.readouterr().err
    assert "bills.csv, row 2: unit 9-9-999 does not exist. Add it to the units sheet" in err
    assert cli.main(["estates"]) == 0
    assert "holds no estate" in capsys.readouterr().out


def test_understand_reads_lines_and_writes_json(sqlite_store: Path) -> None:
    out = io.StringIO()
    count = cli.understand_lines(
        io.StringIO("3栋2单元501 厨房水管漏水了\nHow do I pay the property fee?\n\n"),
        out,
        ROOT / "data" / "nlu" / "model.pkl",
    )
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == 3 and len(rows) == 3
    assert rows[0]["intent"] == "repair" and rows[0]["unit"] == {
        "building": "3",
        "entrance": "2",
        "room": "501",
    }
    assert rows[0]["location"] == {"unit": rows[0]["unit"]}
    assert rows[1]["intent"] == "payment" and rows[1]["lang"] == "en"
    assert rows[1]["location"] is None
    assert rows[2]["intent"] == "other" and rows[2]["location"] is None
    assert set(rows[0]) == {
        "intent",
        "confidence",
        "urgent",
        "department",
        "unit",
        "lang",
        "location",
    }


def test_understand_writes_the_location_of_a_common_place(sqlite_store: Path) -> None:
    out = io.StringIO()
    cli.understand_lines(
        io.StringIO("5号楼电梯困人了，快来\n"), out, ROOT / "data" / "nlu" / "model.pkl"
    )
    row = json.loads(out.getvalue())
    assert row["intent"] == "repair" and row["unit"] is None
    assert row["location"] == {"building": "5", "place": "lift"}


def test_steps_are_shown_set_and_a_bad_value_changes_nothing(
    sqlite_store: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["demo"]) == 0
    capsys.readouterr()

    assert cli.main(["escalation", "--estate", "demo"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown == [
        "demo: escalation steps 0,30,120 (minutes after a breach)",
        "  +0 min: holder",
        "  +30 min: supervisor",
        "  +120 min: manager",
    ]

    assert cli.main(["escalation", "--estate", "demo", "--steps", "60, 0，15"]) == 0
    assert capsys.readouterr().out.startswith("demo: escalation steps 0,15,60 ")

    assert cli.main(["escalation", "--estate", "demo", "--steps", "0,-5"]) == 1
    assert "minutes such as 0,30,120" in capsys.readouterr().err
    assert cli.main(["escalation", "--estate", "nowhere"]) == 1
    assert "no estate 'nowhere'" in capsys.readouterr().err
    assert cli.main(["escalation", "--estate", "demo"]) == 0
    assert capsys.readouterr().out.startswith("demo: escalation steps 0,15,60 ")


def test_import_template_writes_a_workbook_that_imports_as_it_is(
    sqlite_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sqlite_store / "estate.xlsx"
    assert cli.main(["import", "--template", str(path)]) == 0
    assert f"template to {path}" in capsys.readouterr().out
    assert cli.main(["import", str(path), "--estate", "sample", "--name", "示例小区"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("已新建小区 sample 并导入：新建房屋 2 套，业主 2 人，员工 2 人")
    assert "ImportReport" not in out
    assert cli.main(["import", str(path)]) == 2
    assert "--estate" in capsys.readouterr().err


def test_import_of_a_register_with_headers_only_is_refused_in_the_managers_language(
    sqlite_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "业主档案"
    sheet.append(["阳光花园业主档案"])
    sheet.append(["序号", "楼栋", "单元", "房号", "业主姓名", "联系电话"])
    path = sqlite_store / "empty.xlsx"
    book.save(path)

    assert cli.main(["import", str(path), "--estate", "e1"]) == 1
    err = capsys.readouterr().err
    assert "没有可导入的数据：表格只有表头，下面没有数据行。请在表头下面填写数据。" in err
    assert cli.main(["estates"]) == 0
    assert "holds no estate" in capsys.readouterr().out


def test_import_update_dry_run_prints_what_would_change_and_writes_nothing(
    sqlite_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openpyxl import Workbook

    def register(path: Path, rows: list[list[object]]) -> Path:
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "业主档案"
        sheet.append(["序号", "楼栋", "单元", "房号", "业主姓名", "联系电话"])
        for row in rows:
            sheet.append(row)
        book.save(path)
        return path

    first = register(sqlite_store / "a.xlsx", [[1, 3, 2, 501, "张三", "13800138000"]])
    assert cli.main(["import", str(first), "--estate", "e1"]) == 0
    assert "已新建小区 e1 并导入：新建房屋 1 套，业主 1 人" in capsys.readouterr().out
    second = register(sqlite_store / "b.xlsx", [[1, 3, 2, 501, "张三", "13900139000"]])

    assert cli.main(["import", str(second), "--estate", "e1", "--update", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("试运行（--dry-run，未写入）：e1 将有以下变更：")
    assert "电话变更：1 人\n    张三 3-2-501: 13800138000 → 13900139000" in out
    assert cli.main(["import", str(second), "--estate", "e1", "--update", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Changed in e1:\n  phones changed: 1")
    assert cli.main(["import", str(second), "--estate", "e1", "--update"]) == 0
    assert "未变：业主 1 人，账单 0 条" in capsys.readouterr().out
