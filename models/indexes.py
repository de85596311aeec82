"""Indexes tortoise cannot declare by itself. The migrations import them by this path: never
change one once a migration uses it (add another)."""

from __future__ import annotations

from typing import Any

from tortoise.indexes import Index


class WhereIndex(Index):
    """A B-tree index of only the rows a condition holds for (a partial index), the condition
    written in SQL: tortoise's PartialIndex knows only `column = value`. PostgreSQL and SQLite
    both have them; a query is served by one only when its WHERE says the condition too (with
    literals: a bound parameter would not do, under PostgreSQL's generic plan of a prepared
    statement)."""

    def __init__(self, *, fields: tuple[str, ...] | list[str], name: str, where: str) -> None:
        super().__init__(fields=fields, name=name)
        self.where = where
        self.extra = f" WHERE {where}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        path, args, kwargs = super().deconstruct()
        kwargs["where"] = self.where
        return path, args, kwargs
