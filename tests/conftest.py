"""Shared fixtures: a real tortoise store on SQLite, and on PostgreSQL when one is configured.

`GUANJIA_TEST_POSTGRES` holds a database URL; when set, every test that uses `store` runs on both
backends, and a server that cannot be reached fails the run rather than skipping it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import asyncpg
import pytest
from tortoise.contrib.test import truncate_all_models

from models.store import close_store, open_store

POSTGRES_URL = os.environ.get("GUANJIA_TEST_POSTGRES", "").strip()
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]
_postgres_reset = False


async def _reset_postgres_schema() -> None:
    """Start each test run on PostgreSQL from an empty schema."""
    global _postgres_reset
    if _postgres_reset:
        return
    dsn = POSTGRES_URL.replace("postgres://", "postgresql://", 1)
    try:
        connection = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"GUANJIA_TEST_POSTGRES={POSTGRES_URL} cannot be reached: {exc}")
    try:
        await connection.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()
    _postgres_reset = True


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


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An open, migrated, empty store; yields the backend's name."""
    if request.param == "postgres":
        await _reset_postgres_schema()
        await open_store(POSTGRES_URL)
    else:
        await open_store("sqlite://:memory:")
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
