"""Opening and closing the store: the tortoise config, migrations, and a health check."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from asyncpg import PostgresError
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.migrations.executor import MigrationExecutor

log = logging.getLogger(__name__)

MODEL_MODULES = [
    "models.estate",
    "models.ticket",
    "models.billing",
    "models.messaging",
    "models.desk",
    "models.schedule",
    "models.groupsend",
    "models.calendar",
    "models.roster",
]


# SQLite lets one writer in at a time: another (an import in a second process, say) waits this
# long for the lock instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000


async def _keep_session(connection: Any) -> None:
    """What a PostgreSQL connection going back to the pool needs beyond asyncpg's own cleanup
    (which rolls back an open transaction): nothing. The store takes no advisory lock, LISTENs
    to nothing, and sets nothing for a session, so asyncpg's default reset query (one more
    round trip after every statement outside a transaction) has nothing to reset."""


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The tortoise config for one database URL."""
    url = database_url.replace("postgresql://", "postgres://", 1)
    connection: str | dict[str, Any] = url
    if url.startswith("sqlite://"):
        if "busy_timeout" not in url:
            # Tortoise passes a SQLite URL's query parameters on as PRAGMAs.
            url += ("&" if "?" in url else "?") + f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"
        # Tortoise's SQLite engine, with transactions that take the write lock as they begin.
        connection = {**expand_db_url(url), "engine": "models.sqlite"}
    elif url.startswith(("postgres://", "asyncpg://")):
        expanded = expand_db_url(url)
        credentials = expanded["credentials"]
        connection = {
            **expanded,
            "credentials": {
                **credentials,
                "reset": _keep_session,
                # No JIT compilation: the store's statements are short, and a statement the
                # planner costs high (a scan of many late tickets, the month report) would spend
                # more compiling (0.3 s measured) than running. Given at connect, not SET.
                "server_settings": {"jit": "off"},
            },
        }
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _ensure_sqlite_folder(database_url: str) -> None:
    """Make the SQLite file's folder, and check the file can be written there: found before
    the driver's thread starts, a bad path is one plain error (OSError)."""
    if database_url.startswith("sqlite://") and ":memory:" not in database_url:
        path = Path(database_url.removeprefix("sqlite://").split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder, not a database file")
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise PermissionError(f"{path} cannot be written")
        if not path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
            raise PermissionError(f"no file can be created in {path.parent}")


async def upgrade_schema() -> int:
    """Apply every migration not yet applied to the open store; returns how many were applied."""
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")
            log.info("migration applied: %s.%s", app_label, name)

    apps = tortoise_config("sqlite://:memory:")["apps"]
    executor = MigrationExecutor(get_connection("default"), apps)
    await executor.migrate(progress=progress)
    return len(applied)


class StoreUnavailable(Exception):
    """The store cannot be reached or opened; the message says where and why, in one line."""


def _reason(exc: BaseException) -> str:
    """What went wrong, in one line: the driver's message, else the error's kind."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


async def _connect(database_url: str) -> None:
    """Initialise tortoise and talk to the store once, or StoreUnavailable."""
    try:
        _ensure_sqlite_folder(database_url)
        await Tortoise.init(config=tortoise_config(database_url))
        connection = get_connection("default")
        if database_url.startswith("sqlite://"):
            # Foreign keys are off by default in SQLite; cascades and SET NULL rely on them.
            await connection.execute_script("PRAGMA foreign_keys = ON")
        else:
            await connection.execute_query("SELECT 1")
    except (OSError, DBConnectionError, OperationalError, PostgresError) as exc:
        # Refused, unknown host, no such database or role, a path that cannot be a file: the
        # store was never open, so nothing is half-done.
        with contextlib.suppress(Exception):
            await close_store()
        raise StoreUnavailable(
            f"cannot open the store {_redact(database_url)}: {_reason(exc)}"
        ) from exc


async def open_store(database_url: str, *, upgrade: bool = True) -> None:
    """Connect to the store, upgrading its schema first unless told not to; StoreUnavailable
    when it cannot be reached or opened."""
    await _connect(database_url)
    if upgrade:
        await upgrade_schema()
    log.info("store open: %s", _redact(database_url))


async def close_store() -> None:
    """Close every connection of the store."""
    await Tortoise.close_connections()
    # Tortoise caches each model's INSERT statement under (connection name, table), not under the
    # dialect: a process that reopens the store on another backend (the tests do) must drop it.
    EXECUTOR_CACHE.clear()


async def store_answers() -> bool:
    """Whether the store answers a trivial query now."""
    try:
        await get_connection("default").execute_query("SELECT 1")
    except Exception:  # any driver error means "does not answer"
        log.exception("store does not answer")
        return False
    return True


def _redact(database_url: str) -> str:
    if "@" not in database_url or "://" not in database_url:
        return database_url
    scheme, rest = database_url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else database_url


# For tortoise's own command line, which makes migrations from the models:
#   .venv/bin/tortoise -c models.store.TORTOISE_ORM makemigrations --name WHAT_CHANGED
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
