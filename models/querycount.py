"""Counting a piece of work's round trips to the store: what a benchmark or a test measures.

A round trip is one call that waits for the database driver to answer: a statement, and also
a transaction's BEGIN, COMMIT, ROLLBACK or SAVEPOINT. It is counted where the drivers take it
(asyncpg's connection methods; aiosqlite's hop to its worker thread), below tortoise, so that
what tortoise does on its own (a transaction's begin, a savepoint) counts too::

    from models.querycount import count_queries

    with count_queries() as counted:
        await router.handle(message, channel)
    counted.total          # round trips made by that handling
    counted.statements     # the first words of each ("SELECT", "INSERT", "BEGIN", "commit" …)

The drivers' methods are wrapped once per process (`install`; `count_queries` does it); outside
a `count_queries` block the wrappers only read a context variable, so nothing else pays for it.
The count follows the context: work started inside the block (tasks it creates) is counted,
work of other tasks running meanwhile is not.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiosqlite
import asyncpg

__all__ = ["QueryCount", "count_queries", "install"]


@dataclass
class QueryCount:
    """The round trips counted in one `count_queries` block."""

    statements: list[str] = field(default_factory=list)
    # The text of each statement (what the driver was given), for a look at what ran.
    texts: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """How many round trips were made."""
        return len(self.statements)

    def add(self, what: str, text: str = "") -> None:
        """Count one round trip (`what`: the statement's first word, or the driver call)."""
        self.statements.append(what)
        self.texts.append(text or what)


_counting: ContextVar[QueryCount | None] = ContextVar("guanjia_query_count", default=None)
_installed = False

# The driver calls that each make one round trip.
_ASYNCPG_CALLS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")


def _first_word(args: tuple[Any, ...], fallback: str) -> str:
    if args and isinstance(args[0], str):
        words = args[0].split(None, 1)
        return words[0].upper() if words else fallback
    return fallback


def _wrap_asyncpg(name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    @functools.wraps(call)
    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        count = _counting.get()
        if count is not None:
            count.add(
                _first_word(args, name), args[0] if args and isinstance(args[0], str) else ""
            )
        return await call(self, *args, **kwargs)

    counted.__guanjia_counted__ = True  # type: ignore[attr-defined]
    return counted


def _statements_text(args: tuple[Any, ...]) -> str:
    """The text of statements run together in one hop (`models.statements.together`)."""
    for arg in args:
        if isinstance(arg, list | tuple) and arg and all(hasattr(a, "sql") for a in arg):
            return " ; ".join(str(a.sql) for a in arg)
    return ""


def _wrap_aiosqlite(call: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    # Every aiosqlite call (execute, execute_fetchall, commit …) is one hop to the connection's
    # worker thread and back through `Connection._execute(fn, *args)`.
    @functools.wraps(call)
    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        count = _counting.get()
        if count is not None:
            text = args[0] if args and isinstance(args[0], str) else _statements_text(args)
            words = text.split(None, 1)
            count.add(words[0].upper() if words else getattr(fn, "__name__", "call"), text)
        return await call(self, fn, *args, **kwargs)

    counted.__guanjia_counted__ = True  # type: ignore[attr-defined]
    return counted


def install() -> None:
    """Wrap the drivers' calls once, so that `count_queries` blocks can count them."""
    global _installed
    if _installed:
        return
    connection = asyncpg.connection.Connection
    for name in _ASYNCPG_CALLS:
        call = getattr(connection, name)
        if not getattr(call, "__guanjia_counted__", False):
            setattr(connection, name, _wrap_asyncpg(name, call))
    hop = aiosqlite.Connection._execute
    if not getattr(hop, "__guanjia_counted__", False):
        aiosqlite.Connection._execute = _wrap_aiosqlite(hop)  # type: ignore[method-assign]
    _installed = True


@contextmanager
def count_queries() -> Iterator[QueryCount]:
    """Count the round trips made inside the block (see the module's doc)."""
    install()
    count = QueryCount()
    token = _counting.set(count)
    try:
        yield count
    finally:
        _counting.reset(token)
