"""How the store's PostgreSQL connections are set up."""

from __future__ import annotations

import pytest
from tortoise.connection import get_connection


@pytest.mark.server_store
async def test_the_postgres_store_compiles_no_statement_just_in_time(store: str) -> None:
    """A statement the planner costs high (a scan of many late tickets) spent 0.3 s compiling:
    the store's connections are opened with JIT off."""
    assert store == "postgres"
    rows = await get_connection("default").execute_query_dict("SHOW jit")
    assert rows == [{"jit": "off"}]
