"""`together` runs several statements in one round trip on either store: a later INSERT takes
the first's id, or is not made when the first inserted nothing; `count_first` says whether it
did; statements that return nothing return nothing."""

from __future__ import annotations

import pytest
from tortoise.transactions import in_transaction

from models import Building, Entrance, Estate
from models.querycount import count_queries
from models.statements import (
    FIRST_COUNT,
    FIRST_ID,
    Statement,
    delete_ids,
    insert_statement,
    together,
    update_statement,
)
from tests.factories import make_estate


def _building(estate: Estate, name: str) -> Statement:
    return insert_statement(Building, [{"estate_id": estate.id, "name": name}]).then(
        "ON CONFLICT DO NOTHING RETURNING *"
    )


def _entrance(name: str) -> Statement:
    return insert_statement(Entrance, [{"building_id": FIRST_ID, "name": name}])


async def test_a_later_insert_takes_the_first_ones_id_in_one_round_trip(store: str) -> None:
    estate = await make_estate()
    with count_queries() as counted:
        async with in_transaction():
            rows = await together(Building, [_building(estate, "3"), _entrance("1")])
    assert counted.total == 3  # BEGIN, the statements, COMMIT
    building = Building._init_from_db(**rows[0])
    assert building.name == "3" and building.estate_id == estate.id  # type: ignore[attr-defined]
    entrance = await Entrance.get(building_id=building.id)
    assert entrance.name == "1"


async def test_nothing_depends_on_a_first_insert_that_inserted_nothing(store: str) -> None:
    estate = await make_estate()
    await together(Building, [_building(estate, "3"), _entrance("1")])
    again = [_building(estate, "3"), _entrance("2")]
    rows = await together(Building, again, count_first=True)
    assert rows == []
    # A statement not taking the first's id, made to depend on it, is not made either.
    renamed = update_statement(Estate, where={"id": estate.id}, values={"name": "改名"})
    context = Statement('SELECT "name" FROM "estate" WHERE "id" = ?', [estate.id])
    rows = await together(
        Building,
        [_building(estate, "3"), renamed.if_first(), context],
        result=2,
        count_first=True,
    )
    assert rows == [{"name": (await Estate.get(id=estate.id)).name, FIRST_COUNT: 0}]
    assert (await Estate.get(id=estate.id)).name != "改名"
    assert await Entrance.all().count() == 1


async def test_statements_that_return_nothing_run_together(store: str) -> None:
    estate = await make_estate()
    ids = [(await Building.create(estate=estate, name=name)).id for name in "ABC"]
    renamed = update_statement(Estate, where={"id": estate.id}, values={"name": "改名"})
    with count_queries() as counted:
        rows = await together(Building, [renamed, delete_ids(Building, ids[:2])])
    assert counted.total == 1
    assert rows == []
    assert (await Estate.get(id=estate.id)).name == "改名"
    assert [b.name for b in await Building.filter(estate_id=estate.id)] == ["C"]


async def test_a_statement_that_cannot_depend_on_the_first_is_refused(store: str) -> None:
    estate = await make_estate()
    many = insert_statement(
        Entrance, [{"building_id": FIRST_ID, "name": "1"}, {"building_id": FIRST_ID, "name": "2"}]
    )
    with pytest.raises(ValueError, match="cannot depend"):
        await together(Building, [_building(estate, "3"), many])
    assert not await Building.exists(estate_id=estate.id)
