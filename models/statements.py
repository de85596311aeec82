"""Single statements for what tortoise would take several round trips to do (issue 17).

- `insert_ignoring`: INSERT … ON CONFLICT DO NOTHING RETURNING id — a dedup in one statement,
  with no savepoint to catch an IntegrityError (which on PostgreSQL would abort the transaction).
- `insert_many`: one multi-row INSERT … RETURNING id.
- `upsert`: INSERT … ON CONFLICT (key) DO UPDATE — `update_or_create` in one statement.
- `atomic`: a transaction, or nothing when one is open already (no savepoint pair for a block
  whose failure fails the whole transaction anyway).
- `together`: several statements (`Statement`) in one round trip: on PostgreSQL one statement
  whose parts are data-modifying WITH clauses, on SQLite one hop to the driver's thread. A later
  statement may take the id the first one returned (`FIRST_ID`): a ticket and its first rows.

PostgreSQL and SQLite (3.35 and later) both take these statements; values go through each
field's own `to_db_value`, as tortoise's own statements do.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.connection import connections
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

__all__ = [
    "FIRST_COUNT",
    "FIRST_ID",
    "Statement",
    "atomic",
    "delete_ids",
    "insert_ignoring",
    "insert_many",
    "insert_statement",
    "together",
    "update_statement",
    "upsert",
    "upsert_statement",
]


class _FirstId:
    def __repr__(self) -> str:
        return "FIRST_ID"


# In a `together` statement's values: the id the first statement returned.
FIRST_ID: Any = _FirstId()
# The column `together(count_first=True)` adds to its rows.
FIRST_COUNT = "__first_count"


def _client(model: type[Model]) -> BaseDBAsyncClient:
    return model._meta.db


def atomic() -> contextlib.AbstractAsyncContextManager[Any]:
    """A transaction, unless the code runs inside one already (then its statements are part
    of that one, and a failure rolls that one back)."""
    if isinstance(connections.get("default"), TransactionalDBClient):
        return contextlib.nullcontext()
    return in_transaction()


def _column_and_value(model: type[Model], name: str, value: Any) -> tuple[str, Any]:
    meta = model._meta
    if name in meta.fk_fields:
        name = f"{name}_id"
    field = meta.fields_map[name]
    column = field.source_field or name
    return column, value if value is FIRST_ID else field.to_db_value(value, None)


def _with_defaults(model: type[Model], row: Mapping[str, Any]) -> dict[str, Any]:
    """The row with each field it leaves out at its model default (as `Model.create` does)."""
    meta = model._meta
    given = {f"{name}_id" if name in meta.fk_fields else name for name in row}
    full = dict(row)
    for name in meta.fields_db_projection:
        field = meta.fields_map[name]
        if name in given or (field.pk and field.generated) or field.default is None:
            continue
        full[name] = field.default() if callable(field.default) else field.default
    return full


def _rows_sql(model: type[Model], rows: Sequence[Mapping[str, Any]]) -> Statement:
    rows = [_with_defaults(model, row) for row in rows]
    names = list(rows[0])
    columns = [_column_and_value(model, name, rows[0][name])[0] for name in names]
    values: list[Any] = []
    marks = f"({', '.join('?' for _ in names)})"
    for row in rows:
        values.extend(_column_and_value(model, name, row[name])[1] for name in names)
    table = model._meta.db_table
    quoted = ", ".join(f'"{column}"' for column in columns)
    return Statement(
        f'INSERT INTO "{table}" ({quoted}) VALUES {", ".join(marks for _ in rows)}', values
    )


@dataclass(frozen=True)
class Statement:
    """One statement, its values marked `?` in order (rendered for PostgreSQL when it runs)."""

    sql: str
    values: list[Any]
    # In `together`: made only when the first statement returned a row (a one-row INSERT, or
    # an UPDATE or DELETE with a WHERE).
    after_first: bool = False

    def then(self, tail: str) -> Statement:
        """The statement with `tail` (no values) after it: `RETURNING id`, `ON CONFLICT …`."""
        return Statement(f"{self.sql} {tail}", self.values, self.after_first)

    def if_first(self) -> Statement:
        """In `together`: made only when the first statement returned a row (as is a statement
        that takes `FIRST_ID`)."""
        return Statement(self.sql, self.values, after_first=True)

    @property
    def returns(self) -> bool:
        """Whether it returns rows (a SELECT, or a statement with RETURNING)."""
        return self.sql.lstrip().upper().startswith("SELECT") or " RETURNING " in self.sql

    @property
    def dependent(self) -> bool:
        """Whether it depends on the first statement of a `together` (see `if_first`)."""
        return self.after_first or FIRST_ID in self.values


def insert_statement(model: type[Model], rows: Sequence[Mapping[str, Any]]) -> Statement:
    """An INSERT of `rows` (each with the same fields; those left out at their defaults)."""
    return _rows_sql(model, rows)


def upsert_statement(
    model: type[Model], key: Sequence[str], values: Mapping[str, Any], update: Sequence[str]
) -> Statement:
    """Insert a row, or update `update` of the row with the same `key` (a unique key)."""
    keys = ", ".join(f'"{_column_and_value(model, name, values[name])[0]}"' for name in key)
    sets = ", ".join(
        f'"{column}" = excluded."{column}"'
        for column in (_column_and_value(model, name, values[name])[0] for name in update)
    )
    return _rows_sql(model, [values]).then(f"ON CONFLICT ({keys}) DO UPDATE SET {sets}")


def update_statement(
    model: type[Model], where: Mapping[str, Any], values: Mapping[str, Any]
) -> Statement:
    """An UPDATE of `values` (None sets NULL) on the rows equal to `where` in each field."""
    sets = [_column_and_value(model, name, value) for name, value in values.items()]
    tests = [_column_and_value(model, name, value) for name, value in where.items()]
    return Statement(
        f'UPDATE "{model._meta.db_table}" SET '
        + ", ".join(f'"{column}" = ?' for column, _ in sets)
        + " WHERE "
        + " AND ".join(f'"{column}" = ?' for column, _ in tests),
        [value for _, value in sets] + [value for _, value in tests],
    )


def delete_ids(model: type[Model], ids: Sequence[int]) -> Statement:
    """A DELETE of the rows with these ids."""
    marks = ", ".join("?" for _ in ids)
    return Statement(f'DELETE FROM "{model._meta.db_table}" WHERE "id" IN ({marks})', list(ids))


def _postgres(statement: Statement, start: int, dependent: bool = False) -> tuple[str, list[Any]]:
    """The statement with `$n` marks from `start`. A `dependent` one (it takes `FIRST_ID`: a
    one-row INSERT) inserts its row once per row the first statement ("s0") returned."""
    parts = statement.sql.split("?")
    if len(parts) != len(statement.values) + 1:
        raise ValueError(f"{len(statement.values)} values for {len(parts) - 1} marks")
    sql = [parts[0]]
    values: list[Any] = []
    for value, part in zip(statement.values, parts[1:], strict=True):
        if value is FIRST_ID:
            sql.append('"s0"."id"')
        else:
            values.append(value)
            sql.append(f"${start + len(values) - 1}")
        sql.append(part)
    text = "".join(sql)
    if not dependent:
        return text, values
    if text.startswith("INSERT INTO "):
        head, _, rest = text.partition(" VALUES (")
        row, _, tail = rest.partition(")")
        return f'{head} SELECT {row} FROM "s0"{tail}', values
    head, _, rest = text.partition(" WHERE ")
    condition, returning, tail = rest.partition(" RETURNING ")
    return f'{head} WHERE ({condition}) AND EXISTS (SELECT 1 FROM "s0"){returning}{tail}', values


def _check_dependent(statement: Statement) -> None:
    """A statement that depends on the first of a `together` is a one-row INSERT, or an UPDATE
    or DELETE with a WHERE (and takes `FIRST_ID` only if an INSERT)."""
    sql = statement.sql
    if sql.startswith("INSERT INTO "):
        _, found, rest = sql.partition(" VALUES (")
        _, closed, tail = rest.partition(")")
        if found and closed and not tail.lstrip().startswith(","):
            return
    elif sql.startswith(("UPDATE ", "DELETE ")) and " WHERE " in sql:
        if FIRST_ID not in statement.values:
            return
    raise ValueError(f"this statement cannot depend on the first of a together: {sql}")


async def run(model: type[Model], statement: Statement) -> list[dict[str, Any]]:
    """Run one statement on the store of `model`; the rows it returned."""
    return await together(model, [statement])


async def together(
    model: type[Model],
    statements: Sequence[Statement],
    *,
    result: int = 0,
    count_first: bool = False,
) -> list[dict[str, Any]]:
    """Run `statements` in order, in one round trip to the store of `model`; the rows the one
    at index `result` returned.

    A one-row INSERT may take the id of the row the first statement returned (`FIRST_ID`, with
    the first `RETURNING id`, or `*`): it inserts nothing when the first returned no row (an
    `ON CONFLICT DO NOTHING` that did nothing), as does a statement made `if_first` (a one-row
    INSERT, or an UPDATE or DELETE with a WHERE).
    `count_first`: each row returned says in `FIRST_COUNT` how many rows the first statement
    returned (whether a dedup INSERT inserted).

    Inside a transaction they are part of it; outside one, on PostgreSQL they commit or fail
    together, on SQLite each commits on its own. On PostgreSQL the statements after the first
    see the store as it was before the first (a single statement's snapshot): each must stand
    on its own but for `FIRST_ID`.
    """
    if not statements:
        return []
    for statement in statements[1:]:
        if statement.dependent:
            _check_dependent(statement)
    client = _client(model)
    if client.capabilities.dialect == "postgres":
        if len(statements) == 1 and not count_first:
            sql, values = _postgres(statements[0], 1)
            return await client.execute_query_dict(sql, values)
        parts: list[str] = []
        values = []
        for index, statement in enumerate(statements):
            sql, more = _postgres(statement, len(values) + 1, statement.dependent)
            parts.append(f'"s{index}" AS ({sql})')
            values.extend(more)
        counted = f', (SELECT count(*) FROM "s0") AS "{FIRST_COUNT}"' if count_first else ""
        main = f'SELECT *{counted} FROM "s{result}"'
        if not statements[result].returns:
            main = "SELECT 1 WHERE false"  # a WITH part returns nothing without RETURNING
        return await client.execute_query_dict(f"WITH {', '.join(parts)} {main}", values)
    async with client.acquire_connection() as connection:
        try:
            rows: list[dict[str, Any]] = await connection._execute(
                _sqlite_together, connection._conn, statements, result, count_first
            )
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from exc
        except sqlite3.OperationalError as exc:
            raise OperationalError(exc) from exc
    return rows


def _sqlite_together(
    connection: sqlite3.Connection,
    statements: Sequence[Statement],
    result: int,
    count_first: bool,
) -> list[dict[str, Any]]:
    """`together` on SQLite, in the driver's thread."""
    first: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for index, statement in enumerate(statements):
        if index > 0 and statement.dependent and not first:
            continue  # the first statement returned no row: nothing depends on it
        values = [first[0]["id"] if v is FIRST_ID else v for v in statement.values]
        rows = [dict(row) for row in connection.execute(statement.sql, values).fetchall()]
        if index == 0:
            first = rows
        if index == result:
            kept = rows
    if count_first:
        for row in kept:
            row[FIRST_COUNT] = len(first)
    return kept


async def insert_ignoring(model: type[Model], **values: Any) -> int | None:
    """Insert a row unless it conflicts with one (a unique key); its id, or None."""
    rows = await run(model, _rows_sql(model, [values]).then("ON CONFLICT DO NOTHING RETURNING id"))
    return int(rows[0]["id"]) if rows else None


async def insert_many(model: type[Model], rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert rows (each with the same fields) in one statement; their ids, in order."""
    if not rows:
        return []
    returned = await run(model, _rows_sql(model, rows).then("RETURNING id"))
    return sorted(int(row["id"]) for row in returned)


async def upsert(
    model: type[Model], key: Sequence[str], values: Mapping[str, Any], update: Sequence[str]
) -> None:
    """Insert a row, or update `update` of the row with the same `key` (a unique key)."""
    await run(model, upsert_statement(model, key, values, update))
