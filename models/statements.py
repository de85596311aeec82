"""Single statements for what tortoise would take several round trips to do (issue 17).

- `insert_ignoring`: INSERT … ON CONFLICT DO NOTHING RETURNING id — a dedup in one statement,
  with no savepoint to catch an IntegrityError (which on PostgreSQL would abort the transaction).
- `insert_many`: one multi-row INSERT … RETURNING id.
- `upsert`: INSERT … ON CONFLICT (key) DO UPDATE — `update_or_create` in one statement.
- `atomic`: a transaction, or nothing when one is open already (no savepoint pair for a block
  whose failure fails the whole transaction anyway).
- `select`: a query of ours, run and logged as tortoise's own are.
- `analyze`: PostgreSQL's planner statistics of tables just filled, gathered now.
- `together`: several statements (`Statement`) in one round trip: on PostgreSQL one statement
  whose parts are data-modifying WITH clauses, on SQLite one hop to the driver's thread. A later
  statement may take the id the first one returned (`FIRST_ID`): a ticket and its first rows.

PostgreSQL and SQLite (3.35 and later) both take these statements; values go through each
field's own `to_db_value`, as tortoise's own statements do.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.connection import connections
from tortoise.exceptions import IntegrityError, MultipleObjectsReturned, OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

__all__ = [
    "FIRST_COUNT",
    "FIRST_ID",
    "Statement",
    "analyze",
    "atomic",
    "chunks",
    "column_and_value",
    "column_of",
    "delete_ids",
    "fetch",
    "fetch_one",
    "insert_ignoring",
    "insert_many",
    "insert_statement",
    "refresh_statistics",
    "select",
    "select_statement",
    "together",
    "update_statement",
    "upsert",
    "upsert_statement",
]


M = TypeVar("M", bound=Model)
T = TypeVar("T")

# How many values one statement is given at most, as an IN list or a bulk write's rows (SQLite
# takes at most 32,766 in a statement, older builds 999).
CHUNK = 500


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`: a statement for each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


class _Columns:
    """What the statement builders need of a model, worked out once per model: each field's
    column and field by the name a row gives it (a foreign key's by `name` and `name_id`), and
    the fields a row may leave out that have a default."""

    def __init__(self, model: type[Model]) -> None:
        meta = model._meta
        self.table: str = meta.db_table
        self.by_name: dict[str, tuple[str, Any]] = {}
        for name in meta.fields_db_projection:
            field = meta.fields_map[name]
            self.by_name[name] = (field.source_field or name, field)
        for name in meta.fk_fields:
            if f"{name}_id" in self.by_name:
                self.by_name[name] = self.by_name[f"{name}_id"]
        self.defaulted: tuple[tuple[str, Any], ...] = tuple(
            (name, field)
            for name in meta.fields_db_projection
            if not ((field := meta.fields_map[name]).pk and field.generated)
            and field.default is not None
        )
        # INSERT texts by (the row's names, how many rows).
        self.inserts: dict[tuple[tuple[str, ...], int], tuple[str, tuple[Any, ...]]] = {}
        # SELECT texts by (the names tested, which are tested for NULL, the order, the limit).
        self.selects: dict[tuple[Any, ...], str] = {}
        self.every_column = ", ".join(
            f'"{column}"' for column in meta.fields_db_projection.values()
        )


_COLUMNS: dict[type[Model], _Columns] = {}


def _columns(model: type[Model]) -> _Columns:
    found = _COLUMNS.get(model)
    if found is None:
        found = _COLUMNS[model] = _Columns(model)
    return found


def column_and_value(model: type[Model], name: str, value: Any) -> tuple[str, Any]:
    """A field's column (a foreign key's by `name` or `name_id`), and `value` as the store
    takes it (through the field's own `to_db_value`, which validates it)."""
    column, field = _column_and_field(model, name)
    return column, value if value is FIRST_ID else field.to_db_value(value, None)


def column_of(model: type[Model], name: str) -> str:
    """A field's column (a foreign key's by `name` or `name_id`)."""
    return _column_and_field(model, name)[0]


def _column_and_field(model: type[Model], name: str) -> tuple[str, Any]:
    found = _columns(model).by_name.get(name)
    if found is not None:
        return found
    meta = model._meta
    if name in meta.fk_fields:
        name = f"{name}_id"
    field = meta.fields_map[name]
    return field.source_field or name, field


def _with_defaults(model: type[Model], row: Mapping[str, Any]) -> dict[str, Any]:
    """The row with each field it leaves out at its model default (as `Model.create` does)."""
    meta = model._meta
    given = {f"{name}_id" if name in meta.fk_fields else name for name in row}
    full = dict(row)
    for name, field in _columns(model).defaulted:
        if name in given:
            continue
        full[name] = field.default() if callable(field.default) else field.default
    return full


def _rows_sql(model: type[Model], rows: Sequence[Mapping[str, Any]]) -> Statement:
    rows = [_with_defaults(model, row) for row in rows]
    names = tuple(rows[0])
    known = _columns(model)
    shape = (names, len(rows))
    made = known.inserts.get(shape)
    if made is None:
        columns = [_column_and_field(model, name)[0] for name in names]
        marks = f"({', '.join('?' for _ in names)})"
        quoted = ", ".join(f'"{column}"' for column in columns)
        fields = tuple(_column_and_field(model, name)[1] for name in names)
        sql = f'INSERT INTO "{known.table}" ({quoted}) VALUES {", ".join(marks for _ in rows)}'
        made = known.inserts[shape] = (sql, fields)
    sql, fields = made
    values: list[Any] = []
    for row in rows:
        for name, field in zip(names, fields, strict=True):
            value = row[name]
            values.append(value if value is FIRST_ID else field.to_db_value(value, None))
    return Statement(sql, values)


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
        return self.sql.lstrip()[:6].upper() == "SELECT" or " RETURNING " in self.sql

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
    keys = ", ".join(f'"{_column_and_field(model, name)[0]}"' for name in key)
    sets = ", ".join(
        f'"{column}" = excluded."{column}"'
        for column in (_column_and_field(model, name)[0] for name in update)
    )
    return _rows_sql(model, [values]).then(f"ON CONFLICT ({keys}) DO UPDATE SET {sets}")


def update_statement(
    model: type[Model], where: Mapping[str, Any], values: Mapping[str, Any]
) -> Statement:
    """An UPDATE of `values` (None sets NULL) on the rows equal to `where` in each field."""
    sets = [column_and_value(model, name, value) for name, value in values.items()]
    tests = [column_and_value(model, name, value) for name, value in where.items()]
    return Statement(
        f'UPDATE "{model._meta.db_table}" SET '
        + ", ".join(f'"{column}" = ?' for column, _ in sets)
        + " WHERE "
        + " AND ".join(f'"{column}" = ?' for column, _ in tests),
        [value for _, value in sets] + [value for _, value in tests],
    )


def _test(column: str, value: Any) -> str:
    if value is None:
        return f'"{column}" IS NULL'
    if isinstance(value, _MANY):
        return f'"{column}" IN ({", ".join("?" for _ in value)})' if value else "1 = 0"
    return f'"{column}" = ?'


# Values a `select_statement` tests a field against any of (IN).
_MANY = (list, tuple, set, frozenset)


def select_statement(
    model: type[Model],
    where: Mapping[str, Any],
    *,
    order_by: Sequence[str] = (),
    limit: int | None = None,
    columns: Sequence[str] = (),
) -> Statement:
    """A SELECT of every column (or of the fields `columns` names) of the rows equal to `where`
    in each field (None: NULL; a list, tuple or set: any of its values), in `order_by` order
    ("-id": descending), at most `limit` of them. Its text is made once per shape; the values
    go through each field's `to_db_value`."""
    known = _columns(model)
    shape = (
        tuple(where),
        tuple(
            None if value is None else len(value) if isinstance(value, _MANY) else 1
            for value in where.values()
        ),
        tuple(order_by),
        limit,
        tuple(columns),
    )
    sql = known.selects.get(shape)
    if sql is None:
        tests = [_test(column_of(model, name), value) for name, value in where.items()]
        order = [
            f'"{column_of(model, name.lstrip("-"))}" {"DESC" if name.startswith("-") else "ASC"}'
            for name in order_by
        ]
        selected = (
            ", ".join(f'"{column_of(model, name)}"' for name in columns)
            if columns
            else known.every_column
        )
        sql = f'SELECT {selected} FROM "{known.table}"'
        if tests:
            sql += f" WHERE {' AND '.join(tests)}"
        if order:
            sql += f" ORDER BY {', '.join(order)}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        known.selects[shape] = sql
    values: list[Any] = []
    for name, value in where.items():
        if value is None:
            continue
        _, field = _column_and_field(model, name)
        for one in value if isinstance(value, _MANY) else (value,):
            values.append(field.to_db_value(one, None))
    return Statement(sql, values)


async def fetch(
    model: type[M],
    where: Mapping[str, Any],
    *,
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> list[M]:
    """The models of the rows `select_statement` selects: `Model.filter(**where)` for a query
    that runs for every message, without tortoise's query building each time."""
    statement = select_statement(model, where, order_by=order_by, limit=limit)
    return [model._init_from_db(**row) for row in await select(model, statement)]


async def fetch_one(model: type[M], **where: Any) -> M | None:
    """The row equal to `where` (a unique key) as a model, or None: `Model.get_or_none`."""
    found = await fetch(model, where, limit=2)
    if len(found) > 1:
        raise MultipleObjectsReturned(model)
    return found[0] if found else None


def delete_ids(model: type[Model], ids: Sequence[int]) -> Statement:
    """A DELETE of the rows with these ids."""
    marks = ", ".join("?" for _ in ids)
    return Statement(f'DELETE FROM "{model._meta.db_table}" WHERE "id" IN ({marks})', list(ids))


def _postgres(statement: Statement, start: int, dependent: bool = False) -> tuple[str, list[Any]]:
    """The statement with `$n` marks from `start`. A `dependent` one (it takes `FIRST_ID`: a
    one-row INSERT) inserts its row once per row the first statement ("s0") returned."""
    firsts = tuple(i for i, value in enumerate(statement.values) if value is FIRST_ID)
    text = _postgres_text(statement.sql, len(statement.values), firsts, start, dependent)
    values = statement.values
    if firsts:
        values = [value for value in values if value is not FIRST_ID]
    return text, values


@functools.lru_cache(maxsize=1024)
def _postgres_text(
    sql: str, count: int, firsts: tuple[int, ...], start: int, dependent: bool
) -> str:
    """`_postgres`'s text, made once per statement text and shape: `count` values, those at
    `firsts` being `FIRST_ID`."""
    parts = sql.split("?")
    if len(parts) != count + 1:
        raise ValueError(f"{count} values for {len(parts) - 1} marks")
    made = [parts[0]]
    mark = start
    for index, part in enumerate(parts[1:]):
        if index in firsts:
            made.append('"s0"."id"')
        else:
            made.append(f"${mark}")
            mark += 1
        made.append(part)
    text = "".join(made)
    if not dependent:
        return text
    if text.startswith("INSERT INTO "):
        head, _, rest = text.partition(" VALUES (")
        row, _, tail = rest.partition(")")
        return f'{head} SELECT {row} FROM "s0"{tail}'
    head, _, rest = text.partition(" WHERE ")
    condition, returning, tail = rest.partition(" RETURNING ")
    return f'{head} WHERE ({condition}) AND EXISTS (SELECT 1 FROM "s0"){returning}{tail}'


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


async def select(model: type[Model], statement: Statement) -> list[dict[str, Any]]:
    """Run one query on the store of `model` through its client, as tortoise's own queries go
    (logged as they are); the rows, keyed by column."""
    client = _client(model)
    if client.capabilities.dialect == "postgres":
        return await client.execute_query_dict(*_postgres(statement, 1))
    return await client.execute_query_dict(statement.sql, statement.values)


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


def tables_of(*models: type[Model]) -> list[str]:
    """The models' tables and their many-to-many link tables, each once, in order."""
    tables: list[str] = []
    for model in models:
        names = [model._meta.db_table]
        names += [model._meta.fields_map[name].through for name in sorted(model._meta.m2m_fields)]
        tables += [name for name in names if name not in tables]
    return tables


async def analyze(*models: type[Model]) -> bool:
    """On PostgreSQL, gather the planner's statistics of the models' tables (and link tables)
    now, as autovacuum would some time after they changed much, or never, on a server where it
    is off. Without them, a table just filled (an estate's units and owners) is planned for as
    a few pages, and read whole by every look-up: thousands of sequential scans. True when it
    ran.

    Nothing on SQLite: its planner, without statistics, goes by its rules, which the query-plan
    tests check, and statistics once gathered stay as they are until the next ANALYZE (SQLite
    never renews them), while the tickets and deliveries the store grows by are not analyzed
    (`sqlite_stat1` then holds some tables and not others)."""
    client = _postgres_client(models)
    if client is None:
        return False
    await _analyze(client, tables_of(*models))
    return True


def _postgres_client(models: Sequence[type[Model]]) -> BaseDBAsyncClient | None:
    """The models' client when there are models and it is PostgreSQL's."""
    if not models:
        return None
    client = _client(models[0])
    return client if client.capabilities.dialect == "postgres" else None


async def _analyze(client: BaseDBAsyncClient, tables: Sequence[str]) -> None:
    await client.execute_script("ANALYZE " + ", ".join(f'"{table}"' for table in tables))


# What autovacuum analyzes a table after, by PostgreSQL's defaults (autovacuum_analyze_threshold
# and autovacuum_analyze_scale_factor): this many rows changed, plus this share of its rows.
ANALYZE_ROWS = 50
ANALYZE_SHARE = 0.1


async def refresh_statistics(*models: type[Model]) -> list[str]:
    """On PostgreSQL whose autovacuum is off, ANALYZE those of the models' tables that changed
    by more than autovacuum would analyze them after (`ANALYZE_ROWS` + `ANALYZE_SHARE` of their
    rows; never analyzed counts as changed by every row); the tables analyzed. Nothing where
    autovacuum is on (it does this itself) and nothing on SQLite (see `analyze`).

    Without it, a store that starts empty is planned for as it was when each connection first
    ran a statement: a prepared statement's generic plan is kept until the table's statistics
    change, and one made while the tickets were a few hundred (the two-column index by estate
    and time fitting one page, the duplicate check's own index two) read the estate's tickets
    by time for every report once thousands were open. An ANALYZE gives the planner the rows
    and invalidates the plans made before it."""
    client = _postgres_client(models)
    if client is None:
        return []
    rows = await client.execute_query_dict(
        "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
        "AND relname = ANY($1::text[]) AND NOT current_setting('autovacuum')::boolean "
        "AND n_mod_since_analyze > $2 + $3 * GREATEST(n_live_tup, 0)",
        [tables_of(*models), ANALYZE_ROWS, ANALYZE_SHARE],
    )
    stale = [str(row["relname"]) for row in rows]
    if stale:
        await _analyze(client, stale)
    return stale
