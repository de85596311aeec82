"""Shared fixtures: a real tortoise store on SQLite, and on PostgreSQL when one is configured.

`GUANJIA_TEST_POSTGRES` holds a database URL; when set, every test that uses `store` runs on both
backends, and a server that cannot be reached fails the run rather than skipping it.

The store's migrations run once per run, not once per test (they take about a second, a fresh
store a hundredth of that): on SQLite into a template file that each test's in-memory store is
copied from, on PostgreSQL into the test database, whose tables are emptied after each test.
Either way every test runs on exactly the migrated schema.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import asyncpg
import pytest
from tortoise.connection import get_connection
from tortoise.contrib.test import truncate_all_models

from models.store import close_store, open_store

POSTGRES_URL = os.environ.get("GUANJIA_TEST_POSTGRES", "").strip()
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


class StoreOpener:
    """Opens a test's store, migrated once per run rather than once per test."""

    def __init__(self, folder: Path) -> None:
        self._template = folder / "migrated.sqlite3"
        self._postgres_migrated = False

    async def open(self, backend: str) -> None:
        """Open an empty, migrated store on `backend` ("sqlite" or "postgres")."""
        if backend == "postgres":
            await self._open_postgres()
        else:
            await self._open_sqlite()

    async def copy_sqlite_store(self, path: Path) -> str:
        """Put a migrated SQLite store file at `path` (a copy of the template); its URL."""
        shutil.copyfile(await self._sqlite_template(), path)
        return f"sqlite://{path}"

    async def _open_sqlite(self) -> None:
        template = await self._sqlite_template()
        await open_store("sqlite://:memory:", upgrade=False)
        # sqlite3's backup API writes the template's pages over the empty in-memory database;
        # the connection's own settings (foreign keys, busy timeout) stay as open_store set them.
        async with (
            get_connection("default").acquire_connection() as target,
            aiosqlite.connect(template) as source,
        ):
            await source.backup(target)

    async def _sqlite_template(self) -> Path:
        if not self._template.exists():
            await _migrate_sqlite_template(self._template)
        return self._template

    async def _open_postgres(self) -> None:
        if self._postgres_migrated:
            await open_store(POSTGRES_URL, upgrade=False)
            return
        await _reset_postgres_schema()
        await open_store(POSTGRES_URL)
        self._postgres_migrated = True


async def _migrate_sqlite_template(path: Path) -> None:
    """Migrate a new SQLite store file once; it appears at `path` only when complete."""
    building = path.with_name(f"{path.name}.building")
    building.unlink(missing_ok=True)
    await open_store(f"sqlite://{building}")
    await close_store()
    building.rename(path)


async def _reset_postgres_schema() -> None:
    """Start each test run on PostgreSQL from an empty schema."""
    dsn = POSTGRES_URL.replace("postgres://", "postgresql://", 1)
    try:
        connection = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"GUANJIA_TEST_POSTGRES={POSTGRES_URL} cannot be reached: {exc}")
    try:
        await connection.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `server_store` run on PostgreSQL only: their SQLite variants are deselected
    (an in-memory SQLite store cannot be shared by two processes), not skipped."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("store") if callspec is not None else None
        if item.get_closest_marker("server_store") and backend != "postgres":
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(autouse=True)
def _log_record_factory() -> Iterator[None]:
    """A test that runs `guanjia` in-process installs the log redaction: it ends with the test."""
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


@pytest.fixture(scope="session")
def store_opener(tmp_path_factory: pytest.TempPathFactory) -> StoreOpener:
    """Opens each test's store; the migrations run once for the whole run."""
    return StoreOpener(tmp_path_factory.mktemp("store"))


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, store_opener: StoreOpener) -> AsyncIterator[str]:
    """An open, migrated, empty store; yields the backend's name."""
    await store_opener.open(request.param)
    try:
        yield request.param
    finally:
        if request.param == "postgres":
            await truncate_all_models()
        await close_store()


@pytest.fixture
def now() -> datetime:
    """A fixed moment: Monday 2026-11-23 02:00 UTC (10:00 in Shanghai)."""
    return datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def nlu():
    """The trained NLU, loaded once for the whole run."""
    from tests.desk import load_nlu

    return load_nlu()


@pytest.fixture
async def desk(store: str, nlu, now: datetime):
    """A small estate wired to the real router, answering through a FakeChannel."""
    from tests.desk import build_desk

    return await build_desk(nlu, now)
