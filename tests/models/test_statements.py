"""`together` runs several statements in one round trip on either store: a later INSERT takes
the first's id, or is not made when the first inserted nothing; `count_first` says whether it
did; statements that return nothing return nothing."""

from __future__ import annotations

import pytest
from tortoise.exceptions import MultipleObjectsReturned
from tortoise.transactions import in_transaction

from models import Building, Entrance, Estate, Unit
from models.querycount import count_queries
from models.statements import (
    FIRST_COUNT,
    FIRST_ID,
    Statement,
    delete_ids,
    fetch,
    fetch_one,
    insert_statement,
    select,
    select_statement,
    together,
    update_statement,
)
from tests.factories import make_estate, make_unit


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


async def test_fetch_reads_what_filter_reads(store: str) -> None:
    # The per-message reads written once (`fetch`, `fetch_one`, `select_statement`) select the
    # rows tortoise's filter selects: equal, NULL, any of a list, in order, at most a limit.
    estate = await make_estate()
    other = await make_estate("other")
    for name in ("B", "A", "C"):
        await Building.create(estate=estate, name=name)
    await Building.create(estate=other, name="A")
    mine = {"estate_id": estate.id}
    assert [b.name for b in await fetch(Building, mine, order_by=["-name"])] == ["C", "B", "A"]
    named = {"estate_id": estate.id, "name": ["A", "C"]}
    assert [b.name for b in await fetch(Building, named, order_by=["name"], limit=1)] == ["A"]
    expected = await Building.filter(estate_id=estate.id, name__in=["A", "C"]).order_by("id")
    assert [b.id for b in await fetch(Building, named, order_by=["id"])] == [
        b.id for b in expected
    ]
    assert await fetch(Building, {"estate_id": estate.id, "name": []}) == []
    a = await fetch_one(Building, estate_id=estate.id, name="A")
    assert a is not None and a.name == "A" and a.estate_id == estate.id  # type: ignore[attr-defined]
    assert await fetch_one(Building, estate_id=estate.id, name="Z") is None
    with pytest.raises(MultipleObjectsReturned):
        await fetch_one(Building, name="A")
    walled = await make_unit(estate, "A", "1", "101")
    open_plan = await make_unit(estate, "A", None, "102")
    assert [u.id for u in await fetch(Unit, {"entrance_id": None})] == [open_plan.id]
    assert [u.label for u in await fetch(Unit, {"estate_id": estate.id}, order_by=["id"])] == [
        walled.label,
        open_plan.label,
    ]
    rows = await select(
        Building, select_statement(Building, mine, order_by=["name"], columns=["name"])
    )
    assert rows == [{"name": "A"}, {"name": "B"}, {"name": "C"}]
    estate.name = "改名"
    await estate.save()
    [again] = await fetch(Estate, {"id": estate.id, "code": "demo"})
    assert again.name == "改名"
