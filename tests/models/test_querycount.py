"""The query counter counts the round trips made inside its block, and only those."""

from __future__ import annotations

import asyncio

from tortoise.transactions import in_transaction

from models import Estate
from models.querycount import count_queries
from tests.factories import make_estate


async def test_it_counts_statements_and_transactions_inside_its_block(store: str) -> None:
    await make_estate()
    with count_queries() as counted:
        await Estate.all().count()
    assert counted.statements == ["SELECT"]

    with count_queries() as counted:
        async with in_transaction():
            await Estate.filter(code="demo").update(name="阳光花园")
    # BEGIN, the UPDATE and COMMIT: three waits for the store on either backend.
    assert counted.total == 3
    assert counted.statements[1] == "UPDATE"


async def test_work_outside_the_block_is_not_counted(store: str) -> None:
    await make_estate()
    with count_queries() as counted:
        await Estate.all().count()
    # Another task running meanwhile, started outside the block, is not counted.
    other = asyncio.ensure_future(Estate.all().count())
    with count_queries() as mine:
        inner = asyncio.ensure_future(Estate.all().count())
        await inner
    await other
    assert counted.total == 1
    assert mine.total == 1
