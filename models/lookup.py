"""Who sent a message, where, and what they were asked: read in one query (issue 17).

`read_context` returns the sender's chat identity (with the owner and the staff member it is
bound to), the chat (with its estate) and the sender's open dialog there, each None when there
is none: what the router used to read one by one, in one statement of LEFT JOINs, the rows made
into models the way tortoise makes them from its own queries. The router's dedup INSERT goes in
the same round trip (`before`).

The other reads here run for many messages too, each by a statement written once rather than
built by tortoise every time: `owner_units`, the units an owner owns (`owner.units.all()`);
`on_duty_staff`, the staff whose shifts cover a moment (shifts and staff in one read); and
`open_tickets_like`, the duplicate check's candidates, the newest open tickets of a fault at a
place, as rows (the check compares their kept features and makes a model only of the ticket a
report joins).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.models import Model

from models.desk import Escalation
from models.enums import EventKind, Platform, TicketStatus
from models.estate import Chat, ChatIdentity, Estate, Owner, Staff, Unit
from models.messaging import Dialog
from models.roster import DutyShift
from models.statements import (
    FIRST_COUNT,
    Statement,
    column_and_value,
    column_of,
    select,
    together,
)
from models.ticket import Ticket, TicketEvent, TicketReporter, is_open

__all__ = [
    "Found",
    "TicketRow",
    "escalations_due",
    "on_duty_staff",
    "open_tickets_like",
    "owner_units",
    "read_context",
]


@dataclass(frozen=True)
class Found:
    """What `read_context` found (None: no such row)."""

    identity: ChatIdentity | None
    owner: Owner | None
    staff: Staff | None
    chat: Chat | None
    estate: Estate | None
    dialog: Dialog | None
    # How many rows the first statement run before the query returned (see `read_context`).
    first_count: int = 0


# alias, model, and how the alias joins (its parameters are marked {platform} {user} {chat}).
_JOINS: tuple[tuple[str, type[Model], str], ...] = (
    ("i", ChatIdentity, '"i"."platform" = {platform} AND "i"."user_id" = {user}'),
    ("o", Owner, '"o"."id" = "i"."owner_id"'),
    ("s", Staff, '"s"."id" = "i"."staff_id"'),
    ("c", Chat, '"c"."platform" = {platform} AND "c"."chat_id" = {chat}'),
    ("e", Estate, '"e"."id" = "c"."estate_id"'),
    (
        "d",
        Dialog,
        '"d"."platform" = {platform} AND "d"."chat_id" = {chat} AND "d"."user_id" = {user}',
    ),
)


@dataclass(frozen=True)
class _Made:
    """The statement (marked `?`), the order its parameters are given in, and for each alias
    the row's keys with the columns they are (`_init_from_db`'s names) and its key column."""

    sql: str
    order: list[str]
    keys: dict[str, tuple[tuple[str, str], ...]]
    pks: dict[str, str]


@functools.cache
def _sql() -> _Made:
    """The context's statement, made once."""
    order: list[str] = []

    def mark(name: str) -> str:
        order.append(name)
        return "?"

    columns = []
    joins = []
    keys: dict[str, tuple[tuple[str, str], ...]] = {}
    pks: dict[str, str] = {}
    for alias, model, on in _JOINS:
        pairs = []
        for column in model._meta.fields_db_projection.values():
            columns.append(f'"{alias}"."{column}" AS "{alias}__{column}"')
            pairs.append((f"{alias}__{column}", column))
        keys[alias] = tuple(pairs)
        pks[alias] = f"{alias}__{model._meta.db_pk_column}"
        # Marks in the order they appear: they are taken by position.
        condition = re.sub(r"\{(platform|user|chat)\}", lambda m: mark(m.group(1)), on)
        joins.append(f'LEFT JOIN "{model._meta.db_table}" "{alias}" ON {condition}')
    sql = f"SELECT {', '.join(columns)} FROM (SELECT 1 AS one) AS base {' '.join(joins)}"
    return _Made(sql, order, keys, pks)


def _model(row: dict[str, Any], made: _Made, alias: str, model: type[Model]) -> Any:
    if row.get(made.pks[alias]) is None:
        return None
    return model._init_from_db(**{column: row[key] for key, column in made.keys[alias]})


async def read_context(
    platform: Platform, user_id: str, chat_id: str, before: Sequence[Statement] = ()
) -> Found:
    """The sender's identity, owner and staff member, the chat and its estate, and the open
    dialog, in one query; `before`: statements run first in the same round trip (a dedup
    INSERT: `Found.first_count` says how many rows the first returned)."""
    made = _sql()
    given = {"platform": str(platform), "user": user_id, "chat": chat_id}
    query = Statement(made.sql, [given[name] for name in made.order])
    rows = await together(
        ChatIdentity, [*before, query], result=len(before), count_first=bool(before)
    )
    row = rows[0]
    found = {alias: _model(row, made, alias, model) for alias, model, _ in _JOINS}
    identity, chat = found["i"], found["c"]
    if identity is not None:
        object.__setattr__(identity, "_owner", found["o"])
        object.__setattr__(identity, "_staff", found["s"])
    if chat is not None:
        object.__setattr__(chat, "_estate", found["e"])
    return Found(
        identity,
        found["o"],
        found["s"],
        chat,
        found["e"],
        found["d"],
        first_count=int(row.get(FIRST_COUNT, 0)),
    )


@functools.cache
def _ticket_columns() -> str:
    return ", ".join(f'"t"."{column}"' for column in Ticket._meta.fields_db_projection.values())


@dataclass(frozen=True)
class TicketRow:
    """A ticket's row as read (`open_tickets_like`): its id, text and kept features at hand,
    made a model only when wanted."""

    row: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def text(self) -> str:
        return str(self.row["text"])

    @property
    def features(self) -> list[str] | None:
        """Its kept features (None: opened before tickets kept them)."""
        features: list[str] | None = _FEATURES.to_python_value(self.row["features"])
        return features

    def model(self) -> Ticket:
        return Ticket._init_from_db(**self.row)


_FEATURES = Ticket._meta.fields_map["features"]


async def open_tickets_like(
    where: Mapping[str, Any],
    since: datetime,
    limit: int,
    reporter: tuple[Platform, str] | None = None,
) -> list[TicketRow]:
    """The newest `limit` open tickets (`OPEN_STATUSES`; by creation, then id) equal to `where`
    in each field (None: NULL), created at `since` or later, and, with `reporter` (platform,
    user id), reported by them. Read through the open tickets' partial index when `where` holds
    the estate, kind and department (its condition is written here as the index has it); with
    `reporter`, through the reporter's own reports instead (`_reported_by`).

    A field that is None is ordered by too, before the time (all its rows are NULL: the order
    is the same), in the order `where` gives them: PostgreSQL takes `IS NULL` as an index
    condition but not as fixing the column's place in the index's order, and, without it in
    the ORDER BY, would read every matching row and sort them rather than stop at `limit`."""
    tests: list[str] = []
    values: list[Any] = []
    order: list[str] = []
    for name, value in where.items():
        if value is None:
            column = column_of(Ticket, name)
            tests.append(f'"t"."{column}" IS NULL')
            order.append(f'"t"."{column}" DESC')
            continue
        column, converted = column_and_value(Ticket, name, value)
        tests.append(f'"t"."{column}" = ?')
        values.append(converted)
    tests.append(is_open(f'"t"."{column_of(Ticket, "status")}"'))
    column, converted = column_and_value(Ticket, "created_at", since)
    tests.append(f'"t"."{column}" >= ?')
    values.append(converted)
    order += ['"t"."created_at" DESC', '"t"."id" DESC']
    query = f"WHERE {' AND '.join(tests)} ORDER BY {', '.join(order)} LIMIT {int(limit)}"
    if reporter is None:
        sql = f'SELECT {_ticket_columns()} FROM "{Ticket._meta.db_table}" "t" {query}'
    else:
        sql, values = _reported_by(reporter, since, query, values)
    return [TicketRow(row) for row in await select(Ticket, Statement(sql, values))]


def _reported_by(
    reporter: tuple[Platform, str], since: datetime, query: str, values: list[Any]
) -> tuple[str, list[Any]]:
    """`open_tickets_like`'s statement with a reporter: `query` (its WHERE, ORDER BY and LIMIT
    on "t", with `values`) run on the tickets the reporter reported since `since`.

    Driven by the sender's own reports, which are few: read through their index by platform,
    user and time (a reporter row is written when its ticket is opened or joined, so at or
    after the ticket's creation: `since` bounds them too), each one's ticket read by id (one
    row per reporter and ticket: the join adds none), and only these tested. The fence (a
    materialized CTE: outer tests are not pushed into it, on SQLite or PostgreSQL) keeps the
    ticket's tests from being an index's: PostgreSQL without statistics, estimating a row or
    so either way, read the open tickets' index in the order asked (no sort), every open
    ticket of the fault with no place, thousands in a busy estate's window, and looked up the
    sender's report of each, or found each report's ticket through that whole index."""
    platform, user_id = reporter
    tests: list[str] = []
    found: list[Any] = []
    for name, value, compare in (
        ("platform", platform, "="),
        ("user_id", user_id, "="),
        ("at", since, ">="),
    ):
        column, converted = column_and_value(TicketReporter, name, value)
        tests.append(f'"r"."{column}" {compare} ?')
        found.append(converted)
    ticket_id = column_of(TicketReporter, "ticket")
    sql = (
        'WITH "reported" AS MATERIALIZED (SELECT "t".* '
        f'FROM "{TicketReporter._meta.db_table}" "r" '
        f'JOIN "{Ticket._meta.db_table}" "t" ON "t"."id" = "r"."{ticket_id}" '
        f"WHERE {' AND '.join(tests)}) "
        f'SELECT {_ticket_columns()} FROM "reported" "t" {query}'
    )
    return sql, [*found, *values]


@functools.cache
def _owner_units_sql() -> str:
    link = Owner._meta.fields_map["units"]
    columns = ", ".join(f'"u"."{column}"' for column in Unit._meta.fields_db_projection.values())
    return (
        f'SELECT {columns} FROM "{Unit._meta.db_table}" "u" '
        f'JOIN "{link.through}" "l" ON "l"."{link.forward_key}" = "u"."id" '
        f'WHERE "l"."{link.backward_key}" = ?'
    )


async def owner_units(owner_id: int) -> list[Unit]:
    """The units an owner owns (in no particular order)."""
    rows = await select(Unit, Statement(_owner_units_sql(), [owner_id]))
    return [Unit._init_from_db(**row) for row in rows]


@functools.cache
def _on_duty_sql() -> str:
    columns = ", ".join(f'"s"."{column}"' for column in Staff._meta.fields_db_projection.values())
    return (
        f'SELECT {columns} FROM "{DutyShift._meta.db_table}" "d" '
        f'JOIN "{Staff._meta.db_table}" "s" ON "s"."id" = "d"."staff_id" '
        'WHERE "d"."estate_id" = ? AND "d"."department" = ? '
        'AND "d"."starts_at" <= ? AND "d"."ends_at" > ? '
        'ORDER BY "d"."starts_at" ASC, "d"."id" ASC'
    )


async def on_duty_staff(estate_id: int, department: str, at: datetime) -> list[Staff]:
    """The staff member of each of the department's shifts that covers the instant `at`, in
    shift order (by start, then id): one per shift, active or not."""
    values = [
        column_and_value(DutyShift, "estate_id", estate_id)[1],
        column_and_value(DutyShift, "department", department)[1],
        column_and_value(DutyShift, "starts_at", at)[1],
        column_and_value(DutyShift, "ends_at", at)[1],
    ]
    rows = await select(DutyShift, Statement(_on_duty_sql(), values))
    return [Staff._init_from_db(**row) for row in rows]


def _levels_owed(deadline: str, count: int) -> str:
    """SQL: how many of `count` escalation steps have come due for a breach of `deadline` (a
    column), given by `count` values, the times before which each step is not yet due (`now`
    less each step, the smallest step first)."""
    cases = " ".join(f"WHEN {deadline} > ? THEN {level}" for level in range(count))
    return f"(CASE {cases} ELSE {count} END)"


def _levels_raised(breach: str, deadline: str, count: int) -> str:
    """SQL: that every step due for the ticket's breach `breach` of `deadline` was raised:
    as many escalations recorded below the steps due as there are steps due (the unique key
    allows one a level)."""
    owed = _levels_owed(deadline, count)
    escalation = Escalation._meta.db_table
    return (
        f'(SELECT COUNT(*) FROM "{escalation}" "e" WHERE "e"."ticket_id" = "t"."id" '
        f'AND "e"."breach" = \'{breach}\' AND "e"."deadline" = {deadline} '
        f'AND "e"."level" < {owed}) = {owed}'
    )


@functools.lru_cache(maxsize=64)
def _escalations_due_sql(count: int, estates: int, response: str, resolve: str) -> str:
    status = '"t"."status"'
    responded_by = '"t"."due_response_at"'
    resolved_by = '"t"."due_resolve_at"'
    never_paused = '"t"."paused_at" IS NULL AND "t"."paused_seconds" = 0'
    # A response is owed while the ticket is open and its time has passed, unless that time is
    # its completion time too and, never paused, that one is late too: one alert says both.
    # Nor is it owed once staff answered the owner since the ticket was (re)opened.
    events = TicketEvent._meta.db_table
    answered = (
        f'EXISTS (SELECT 1 FROM "{events}" "a" WHERE "a"."ticket_id" = "t"."id" '
        f'AND "a"."kind" = \'{EventKind.ANSWERED.value}\' AND "a"."at" >= COALESCE('
        f'(SELECT MAX("r"."at") FROM "{events}" "r" WHERE "r"."ticket_id" = "t"."id" '
        f'AND "r"."kind" = \'{EventKind.REOPENED.value}\'), "t"."created_at"))'
    )
    response_settled = (
        f"({status} <> '{TicketStatus.OPEN.value}' OR {responded_by} >= ? "
        f"OR ({responded_by} = {resolved_by} AND {never_paused}) "
        f"OR {_levels_raised(response, responded_by, count)} OR {answered})"
    )
    # A pause moves the completion time on (later, never earlier), and while the clock is
    # stopped nothing is owed for it: a ticket that was never paused is due to be done at its
    # promised time.
    paused_now = (
        '"t"."paused_at" IS NOT NULL AND ("t"."paused_until" IS NULL OR "t"."paused_until" > ?)'
    )
    resolve_raised = _levels_raised(resolve, resolved_by, count)
    resolve_settled = (
        f"({resolved_by} >= ? OR ({paused_now}) OR ({never_paused} AND {resolve_raised}))"
    )
    estate_ids = ", ".join("?" for _ in range(estates))
    handled = is_open('"status"')
    late = " UNION ".join(
        f'SELECT "id" FROM "{Ticket._meta.db_table}" WHERE {handled} '
        f'AND "estate_id" IN ({estate_ids}) AND "{column}" < ?'
        for column in ("due_response_at", "due_resolve_at")
    )
    return (
        f'SELECT {_ticket_columns()} FROM "{Ticket._meta.db_table}" "t" '
        f'WHERE "t"."id" IN ({late}) AND NOT ({response_settled} AND {resolve_settled}) '
        'ORDER BY "t"."id"'
    )


async def escalations_due(
    estate_ids: Sequence[int],
    steps: Sequence[timedelta],
    now: datetime,
    response: str,
    resolve: str,
) -> list[Ticket]:
    """The open tickets of these estates past a promised time that may owe an escalation step
    at `now` (`steps`: after a breach, ascending; `response` and `resolve`: the breaches as
    `Escalation` records them): all of them but those the store can tell owe none, each step
    come due for each promised time passed recorded already (or the completion clock stopped
    now, or the owner answered). What is left (a step due; a clock stopped and restarted, whose
    moved time needs the estate's calendar) the escalation job decides by its own rule; so a
    run reads the tickets with steps due, not every ticket left late and escalated already."""
    if not estate_ids or not steps:
        return []
    count = len(steps)
    when = Ticket._meta.fields_map["due_response_at"]
    before = [when.to_db_value(now - step, None) for step in steps]
    at = when.to_db_value(now, None)
    ids = list(estate_ids)
    values: list[Any] = [
        *ids,
        at,
        *ids,
        at,
        # response settled: not late, or its steps raised (the CASE twice)
        at,
        *before,
        *before,
        # resolve settled: not late, its clock stopped, or its steps raised
        at,
        at,
        *before,
        *before,
    ]
    sql = _escalations_due_sql(count, len(ids), response, resolve)
    return [Ticket._init_from_db(**row) for row in await select(Ticket, Statement(sql, values))]
