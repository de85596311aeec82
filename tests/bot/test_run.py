"""`guanjia run` as a user runs it: it starts on a fresh store and stops cleanly on a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{tmp_path}/store.sqlite3",
        "DATA_DIR": str(tmp_path),
        "NLU_MODEL_PATH": str(ROOT / "data" / "nlu" / "model.pkl"),
        "HTTP_PORT": str(free_port()),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=environment,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def read_until(process: subprocess.Popen[str], marker: str, limit: float = 60.0) -> str:
    """Read the process's log until `marker` appears (or it exits, or the limit passes)."""
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    process.kill()
    pytest.fail(f"no {marker!r} in the log:\n{''.join(seen)}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_starts_with_the_demo_and_stops_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    process = start(tmp_path)
    log = read_until(process, "Guanjia is running")
    assert "loaded the demo estate" in log

    process.send_signal(sig)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert "stopped" in rest and "Traceback" not in log + rest
    assert (tmp_path / "store.sqlite3").exists()


def test_run_refuses_a_bad_setting_without_a_traceback(tmp_path: Path) -> None:
    process = start(tmp_path, TIMEZONE="Nowhere/Land")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "TIMEZONE" in err and "Traceback" not in err


def test_run_says_why_a_channel_did_not_start_without_a_traceback(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there: the Bot API cannot be reached
    process = start(
        tmp_path,
        DEMO_ON_EMPTY="false",
        SCHEDULER_ENABLED="false",
        TELEGRAM_BOT_TOKEN="123456:ABCdef",
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{closed}/bot",
    )
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "the Telegram channel did not start" in err
    assert "Traceback" not in err and "ABCdef" not in err
