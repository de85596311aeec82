"""Counting the store's round trips: a small wrapper around the tortoise clients' methods.

`install()` wraps every method of tortoise's SQLite and asyncpg clients (and their transaction
wrappers) that sends something to the database: the `execute_*` methods and `begin`, `commit`,
`rollback` and the savepoints. A call made from inside another counted call (a subclass's method
calling its parent's) counts once. `COUNTER.total` is how many there were since the start;
`track()` in a task counts that task's own apart (a context variable, so tasks side by side do
not mix).

Kept apart from the benchmark so that it can be swapped for `models/querycount.py` when that
exists; nothing else imports it.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import Any

METHODS = (
    "execute_insert",
    "execute_many",
    "execute_query",
    "execute_query_dict",
    "execute_script",
    "begin",
    "commit",
    "rollback",
    "savepoint",
    "release_savepoint",
    "savepoint_rollback",
)

_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("_inside", default=False)
# The round trips of the work running in this context (a task and the tasks it starts).
_cell: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("_cell", default=None)


class Counter:
    """How many round trips the store has made."""

    def __init__(self) -> None:
        self.total = 0
        self.installed = False


COUNTER = Counter()


def _wrap(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def counted(*args: Any, **kwargs: Any) -> Any:
        if _inside.get():
            return await method(*args, **kwargs)
        COUNTER.total += 1
        cell = _cell.get()
        if cell is not None:
            cell[0] += 1
        token = _inside.set(True)
        try:
            return await method(*args, **kwargs)
        finally:
            _inside.reset(token)

    counted.__wrapped_roundtrip__ = True  # type: ignore[attr-defined]
    return counted


def track() -> list[int]:
    """Count the round trips of the current task (and of the tasks it starts) apart: the
    returned cell's one item is their number."""
    cell = [0]
    _cell.set(cell)
    return cell


def install() -> Counter:
    """Wrap the clients' methods (once); the counter."""
    if COUNTER.installed:
        return COUNTER
    from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
    from tortoise.backends.base_postgres.client import BasePostgresClient
    from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionWrapper

    for cls in (
        BasePostgresClient,
        AsyncpgDBClient,
        TransactionWrapper,
        SqliteClient,
        SqliteTransactionWrapper,
    ):
        for name in METHODS:
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "__wrapped_roundtrip__", False):
                setattr(cls, name, _wrap(method))
    COUNTER.installed = True
    return COUNTER
