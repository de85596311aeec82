"""Who sent a message, where, and what they were asked: read in one query (issue 17).

`read_context` returns the sender's chat identity (with the owner and the staff member it is
bound to), the chat (with its estate) and the sender's open dialog there, each None when there
is none: what the router used to read one by one, in one statement of LEFT JOINs, the rows made
into models the way tortoise makes them from its own queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tortoise.models import Model

from models.enums import Platform
from models.estate import Chat, ChatIdentity, Estate, Owner, Staff
from models.messaging import Dialog

__all__ = ["Found", "read_context"]


@dataclass(frozen=True)
class Found:
    """What `read_context` found (None: no such row)."""

    identity: ChatIdentity | None
    owner: Owner | None
    staff: Staff | None
    chat: Chat | None
    estate: Estate | None
    dialog: Dialog | None


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


def _sql(postgres: bool) -> tuple[str, list[str]]:
    """The statement, and the order its parameters are given in."""
    order: list[str] = []

    def mark(name: str) -> str:
        if postgres:
            if name not in order:
                order.append(name)
            return f"${order.index(name) + 1}"
        order.append(name)
        return "?"

    columns = []
    joins = []
    for alias, model, on in _JOINS:
        for column in model._meta.fields_db_projection.values():
            columns.append(f'"{alias}"."{column}" AS "{alias}__{column}"')
        # Marks in the order they appear: SQLite's `?` are taken by position.
        condition = re.sub(r"\{(platform|user|chat)\}", lambda m: mark(m.group(1)), on)
        joins.append(f'LEFT JOIN "{model._meta.db_table}" "{alias}" ON {condition}')
    sql = f"SELECT {', '.join(columns)} FROM (SELECT 1 AS one) AS base {' '.join(joins)}"
    return sql, order


_STATEMENTS: dict[bool, tuple[str, list[str]]] = {}


def _model(row: dict[str, Any], alias: str, model: type[Model]) -> Any:
    prefix = f"{alias}__"
    values = {key[len(prefix) :]: value for key, value in row.items() if key.startswith(prefix)}
    if values.get(model._meta.db_pk_column) is None:
        return None
    return model._init_from_db(**values)


async def read_context(platform: Platform, user_id: str, chat_id: str) -> Found:
    """The sender's identity, owner and staff member, the chat and its estate, and the open
    dialog, in one query."""
    client = ChatIdentity._meta.db
    postgres = client.capabilities.dialect == "postgres"
    if postgres not in _STATEMENTS:
        _STATEMENTS[postgres] = _sql(postgres)
    sql, order = _STATEMENTS[postgres]
    given = {"platform": str(platform), "user": user_id, "chat": chat_id}
    rows = await client.execute_query_dict(sql, [given[name] for name in order])
    row = rows[0]
    found = {alias: _model(row, alias, model) for alias, model, _ in _JOINS}
    identity, chat = found["i"], found["c"]
    if identity is not None:
        object.__setattr__(identity, "_owner", found["o"])
        object.__setattr__(identity, "_staff", found["s"])
    if chat is not None:
        object.__setattr__(chat, "_estate", found["e"])
    return Found(identity, found["o"], found["s"], chat, found["e"], found["d"])
