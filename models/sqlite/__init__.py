"""Tortoise's SQLite engine, with transactions that take the write lock when they begin.

SQLite in WAL mode lets readers run beside one writer. A transaction begun with a plain `BEGIN`
reads first and asks for the write lock at its first write; if another process committed in
between, SQLite cannot let it write on its old snapshot and fails at once with "database is
locked", whatever the busy timeout. `BEGIN IMMEDIATE` takes the write lock up front, so a second
writer (an import in another process, say) waits for it — up to the busy timeout — instead of
failing. Every transaction here may write, so every one begins immediate.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError

__all__ = ["ImmediateSqliteClient", "client_class", "get_client_class"]


class _ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            # The connection is in autocommit mode: there is nothing to commit before BEGIN
            # unless a statement left a transaction open, and asking costs a round trip.
            if self._connection.in_transaction:
                await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    """A SQLite client whose transactions begin immediate."""

    def _in_transaction(self) -> SqliteTransactionContext:
        return SqliteTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient


def get_client_class(db_info: dict[str, Any]) -> type[SqliteClient]:
    """The client for a connection's settings (tortoise asks the engine module for it)."""
    return ImmediateSqliteClient
