"""Single statements for what tortoise would take several round trips to do (issue 17).

- `insert_ignoring`: INSERT … ON CONFLICT DO NOTHING RETURNING id — a dedup in one statement,
  with no savepoint to catch an IntegrityError (which on PostgreSQL would abort the transaction).
- `insert_many`: one multi-row INSERT … RETURNING id.
- `upsert`: INSERT … ON CONFLICT (key) DO UPDATE — `update_or_create` in one statement.
- `atomic`: a transaction, or nothing when one is open already (no savepoint pair for a block
  whose failure fails the whole transaction anyway).

PostgreSQL and SQLite (3.35 and later) both take these statements; values go through each
field's own `to_db_value`, as tortoise's own statements do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.connection import connections
from tortoise.models import Model
from tortoise.transactions import in_transaction

__all__ = ["atomic", "insert_ignoring", "insert_many", "upsert"]


def _client(model: type[Model]) -> BaseDBAsyncClient:
    return model._meta.db


def atomic() -> contextlib.AbstractAsyncContextManager[Any]:
    """A transaction, unless the code runs inside one already (then its statements are part
    of that one, and a failure rolls that one back)."""
    if isinstance(connections.get("default"), TransactionalDBClient):
        return contextlib.nullcontext()
    return in_transaction()


def _placeholders(client: BaseDBAsyncClient, start: int, count: int) -> str:
    if client.capabilities.dialect == "postgres":
        return ", ".join(f"${i}" for i in range(start, start + count))
    return ", ".join("?" for _ in range(count))


def _column_and_value(model: type[Model], name: str, value: Any) -> tuple[str, Any]:
    meta = model._meta
    if name in meta.fk_fields:
        name = f"{name}_id"
    field = meta.fields_map[name]
    return field.source_field or name, field.to_db_value(value, None)


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


def _rows_sql(
    client: BaseDBAsyncClient, model: type[Model], rows: Sequence[Mapping[str, Any]]
) -> tuple[str, list[Any]]:
    rows = [_with_defaults(model, row) for row in rows]
    names = list(rows[0])
    columns = [_column_and_value(model, name, rows[0][name])[0] for name in names]
    values: list[Any] = []
    groups = []
    for row in rows:
        groups.append(f"({_placeholders(client, len(values) + 1, len(names))})")
        values.extend(_column_and_value(model, name, row[name])[1] for name in names)
    table = model._meta.db_table
    quoted = ", ".join(f'"{column}"' for column in columns)
    return f'INSERT INTO "{table}" ({quoted}) VALUES {", ".join(groups)}', values


async def insert_ignoring(model: type[Model], **values: Any) -> int | None:
    """Insert a row unless it conflicts with one (a unique key); its id, or None."""
    client = _client(model)
    sql, params = _rows_sql(client, model, [values])
    rows = await client.execute_query_dict(f"{sql} ON CONFLICT DO NOTHING RETURNING id", params)
    return int(rows[0]["id"]) if rows else None


async def insert_many(model: type[Model], rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert rows (each with the same fields) in one statement; their ids, in order."""
    if not rows:
        return []
    client = _client(model)
    sql, params = _rows_sql(client, model, rows)
    returned = await client.execute_query_dict(f"{sql} RETURNING id", params)
    return sorted(int(row["id"]) for row in returned)


async def upsert(
    model: type[Model], key: Sequence[str], values: Mapping[str, Any], update: Sequence[str]
) -> None:
    """Insert a row, or update `update` of the row with the same `key` (a unique key)."""
    client = _client(model)
    sql, params = _rows_sql(client, model, [values])
    keys = ", ".join(f'"{_column_and_value(model, name, values[name])[0]}"' for name in key)
    sets = ", ".join(
        f'"{column}" = excluded."{column}"'
        for column in (_column_and_value(model, name, values[name])[0] for name in update)
    )
    await client.execute_query(f"{sql} ON CONFLICT ({keys}) DO UPDATE SET {sets}", params)
