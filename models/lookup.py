"""Who sent a message, where, and what they were asked: read in one query (issue 17).

`read_context` returns the sender's chat identity (with the owner and the staff member it is
bound to), the chat (with its estate) and the sender's open dialog there, each None when there
is none: what the router used to read one by one, in one statement of LEFT JOINs, the rows made
into models the way tortoise makes them from its own queries. The router's dedup INSERT goes in
the same round trip (`before`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.models import Model

from models.enums import Platform
from models.estate import Chat, ChatIdentity, Estate, Owner, Staff
from models.messaging import Dialog
from models.statements import FIRST_COUNT, Statement, together

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


def _sql() -> tuple[str, list[str]]:
    """The statement (marked `?`), and the order its parameters are given in."""
    order: list[str] = []

    def mark(name: str) -> str:
        order.append(name)
        return "?"

    columns = []
    joins = []
    for alias, model, on in _JOINS:
        for column in model._meta.fields_db_projection.values():
            columns.append(f'"{alias}"."{column}" AS "{alias}__{column}"')
        # Marks in the order they appear: they are taken by position.
        condition = re.sub(r"\{(platform|user|chat)\}", lambda m: mark(m.group(1)), on)
        joins.append(f'LEFT JOIN "{model._meta.db_table}" "{alias}" ON {condition}')
    sql = f"SELECT {', '.join(columns)} FROM (SELECT 1 AS one) AS base {' '.join(joins)}"
    return sql, order


_STATEMENT: list[tuple[str, list[str]]] = []  # made once, on first use


def _model(row: dict[str, Any], alias: str, model: type[Model]) -> Any:
    prefix = f"{alias}__"
    values = {key[len(prefix) :]: value for key, value in row.items() if key.startswith(prefix)}
    if values.get(model._meta.db_pk_column) is None:
        return None
    return model._init_from_db(**values)


async def read_context(
    platform: Platform, user_id: str, chat_id: str, before: Sequence[Statement] = ()
) -> Found:
    """The sender's identity, owner and staff member, the chat and its estate, and the open
    dialog, in one query; `before`: statements run first in the same round trip (a dedup
    INSERT: `Found.first_count` says how many rows the first returned)."""
    if not _STATEMENT:
        _STATEMENT.append(_sql())
    sql, order = _STATEMENT[0]
    given = {"platform": str(platform), "user": user_id, "chat": chat_id}
    query = Statement(sql, [given[name] for name in order])
    rows = await together(
        ChatIdentity, [*before, query], result=len(before), count_first=bool(before)
    )
    row = rows[0]
    found = {alias: _model(row, alias, model) for alias, model, _ in _JOINS}
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
