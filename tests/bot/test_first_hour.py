"""A newcomer's first hour: logs in TIMEZONE, and one plain line (no traceback, exit 1) when the
store cannot be reached or its file cannot be written, from `guanjia run` and the other commands,
each run in its own process as a user does."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import LOG_FORMAT, ZonedFormatter
from bot.cli import StepBar
from bot.core.i18n import Catalogues
from bot.core.nlu.train import TRAIN_STAGES
from tests.bot.test_run import ROOT, free_port


def guanjia(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`guanjia ARGS` in `cwd` (no .env there), with these settings."""
    environment = {
        key: value for key, value in os.environ.items() if key not in ("TIMEZONE", "LOG_LEVEL")
    }
    environment |= {
        "NLU_MODEL_PATH": str(ROOT / "data" / "nlu" / "model.pkl"),
        "DATA_DIR": str(cwd),
        "HTTP_PORT": str(free_port()),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_log_line_is_stamped_in_the_zone_with_its_offset() -> None:
    record = logging.LogRecord("guanjia", logging.INFO, __file__, 1, "ready", None, None)
    record.created = datetime(2026, 12, 6, 21, 30, 5, 250_000, tzinfo=UTC).timestamp()
    record.msecs = 250.0
    shanghai = ZonedFormatter(LOG_FORMAT, ZoneInfo("Asia/Shanghai"))
    assert shanghai.format(record) == "2026-12-07 05:30:05,250 +0800 INFO guanjia: ready"
    kolkata = ZonedFormatter(LOG_FORMAT, ZoneInfo("Asia/Kolkata"))
    assert kolkata.format(record).startswith("2026-12-07 03:00:05,250 +0530 INFO")


def test_the_commands_log_in_timezone(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/store.sqlite3"
    # The first migrates the store; the second opens it (the default zone is Asia/Shanghai).
    for command, zone, offset in (
        ("db", "Asia/Kolkata", "+0530"),
        ("estates", None, "+0800"),
    ):
        settings = {"DATABASE_URL": url} | ({"TIMEZONE": zone} if zone else {})
        done = guanjia(
            tmp_path, *([command, "upgrade"] if command == "db" else [command]), **settings
        )
        assert done.returncode == 0, done.stderr
        (line,) = [line for line in done.stderr.splitlines() if "store open" in line]
        assert re.fullmatch(
            rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}} {re.escape(offset)} INFO "
            r"models\.store: store open: sqlite://.*",
            line,
        )


def unwritable_sqlite(tmp_path: Path) -> list[tuple[str, str]]:
    """SQLite paths that cannot be a store, each with what the error says."""
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    found = [
        (f"sqlite://{tmp_path}/a-folder", "is a folder, not a database file"),
        (f"sqlite://{tmp_path}/a-file/store.sqlite3", "File exists"),
        (f"sqlite://{tmp_path}/a-file/data/store.sqlite3", "Not a directory"),
    ]
    if not os.access("/proc/1", os.W_OK):  # a folder even root cannot create files in
        found.append(("sqlite:///proc/1/store.sqlite3", "no file can be created in /proc/1"))
    return found


def check_one_line(done: subprocess.CompletedProcess[str], why: str) -> None:
    """Exit 1, and the last line says the store cannot be opened, and why; no traceback."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "s3cret-pw" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("guanjia: cannot open the store "), last
    assert last.endswith("(DATABASE_URL)") and why in last, last


def refused_postgres() -> str:
    """A PostgreSQL URL (with a password) at a loopback port nothing listens on."""
    return f"postgres://guanjia:s3cret-pw@127.0.0.1:{free_port()}/guanjia"


def test_run_says_in_one_line_that_the_store_cannot_be_opened(tmp_path: Path) -> None:
    cases = [(refused_postgres(), "Connect call failed"), *unwritable_sqlite(tmp_path)]
    for url, why in cases:
        check_one_line(guanjia(tmp_path, "run", DATABASE_URL=url), why)
    # Nothing was made where the store could not be.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "a-folder"]


@pytest.mark.parametrize("command", [("estates",), ("db", "upgrade")])
def test_other_commands_say_it_in_one_line_too(command: tuple[str, ...], tmp_path: Path) -> None:
    check_one_line(
        guanjia(tmp_path, *command, DATABASE_URL=refused_postgres()), "Connect call failed"
    )
    (tmp_path / "a-folder").mkdir()
    check_one_line(
        guanjia(tmp_path, *command, DATABASE_URL=f"sqlite://{tmp_path}/a-folder"), "is a folder"
    )


class Terminal(io.StringIO):
    """What a terminal receives (tqdm draws only on one)."""

    def isatty(self) -> bool:
        return True


def test_a_step_bar_draws_on_a_terminal_only() -> None:
    catalogues = Catalogues()
    shown = Terminal()
    bar = StepBar("progress.report", ("figures", "files"), catalogues, "zh", file=shown)
    assert shown.getvalue() == ""  # nothing before the first step
    bar("figures")
    assert "生成月报" in shown.getvalue() and "0/2, 统计工单" in shown.getvalue()
    bar("files")
    assert "1/2, 生成图表和工作簿" in shown.getvalue()
    bar.close()
    assert shown.getvalue().rstrip().endswith("2/2 [00:00]")
    bar.close()  # twice is harmless

    hidden = io.StringIO()  # a pipe or a file: `make run > log`, CI
    quiet = StepBar("progress.nlu", TRAIN_STAGES, catalogues, "en", file=hidden)
    for stage in TRAIN_STAGES:
        quiet(stage)
    quiet.close()
    assert hidden.getvalue() == ""
