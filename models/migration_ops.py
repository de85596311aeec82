"""Operations the migrations share (imported by them; never changed once a migration uses them)."""

from __future__ import annotations

from tortoise.migrations import operations as ops


class DescribeEnumField(ops.AlterField):
    """An AlterField that changes the migration state only (the column is as it was).

    A new member of a string enum changes only the columns' description: they stay VARCHAR.
    Tortoise's SQLite AlterField would rebuild each table and drop its unique-together
    constraints and indexes (see 0008), so a new enum member moves the state on and leaves the
    database alone.
    """

    async def database_forward(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        return None

    async def database_backward(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        return None
