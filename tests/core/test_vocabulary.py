"""The vocabulary: one reading of a flat for the estate import and the NLU, one table of words."""

from __future__ import annotations

import pytest

from bot.core import vocabulary
from bot.core.estate_import import (
    DEPARTMENTS,
    ROLES,
    normalize_building,
    normalize_entrance,
    normalize_room,
    parse_unit_label,
)
from bot.core.nlu.units import parse_unit
from models import Department, StaffRole, unit_label

# (what an owner writes in a chat, the manager's cells (building, entrance, room), the label)
FORMS: list[tuple[str, tuple[str, str, str], str]] = [
    ("3-2-501", ("3", "2", "501"), "3-2-501"),
    ("3栋2单元501", ("3栋", "2单元", "501"), "3-2-501"),
    ("3栋2单元501室", ("03", "02", "501室"), "3-2-501"),
    ("第3栋2单元501室", ("第3栋", "第2单元", "501室"), "3-2-501"),
    ("3幢2单元501", ("3幢", "2门", "501号"), "3-2-501"),
    ("三栋二单元五零一", ("三栋", "二单元", "五零一"), "3-2-501"),
    ("五号楼三单元四零二", ("五号楼", "三单元", "四零二"), "5-3-402"),
    ("十二栋一单元一千二百零二", ("十二栋", "一单元", "一千二百零二"), "12-1-1202"),
    ("七栋二单元十二零三", ("七栋", "二单元", "十二零三"), "7-2-1203"),
    ("8栋1单元零五零一", ("8栋", "1单元", "零五零一"), "8-1-0501"),
    ("3#楼2单元501", ("3#楼", "2单元", "501"), "3-2-501"),
    ("3#2-501", ("3#", "2", "501"), "3-2-501"),
    ("12号楼3单元502号", ("12号楼", "3单元", "502号"), "12-3-502"),
    ("３栋２单元５０１室", ("３栋", "２单元", "５０１室"), "3-2-501"),
    ("B座1202室", ("b座", "", "1202室"), "B-1202"),
    ("A1栋301室", ("A1栋", "", "301室"), "A1-301"),
    ("12-1801", ("12", "", "1801"), "12-1801"),
    ("Block 3 #05-01", ("Block 3", "", "#05-01"), "3-05-01"),
    ("Tower 2 Unit 1502", ("Tower 2", "", "Unit 1502"), "2-1502"),
    ("Tower B Flat 12B", ("tower b", "", "flat 12b"), "B-12B"),
    ("Building 12 Apt 1801", ("Building 12", "", "Apt. 1801"), "12-1801"),
    ("Bldg 5 Entrance 2 Room 301", ("Bldg. 5", "Entrance 2", "Room 301"), "5-2-301"),
    ("Blk 7 Stairwell 1 Rm 1203", ("Blk 7", "stairwell 1", "Rm 1203"), "7-1-1203"),
]


@pytest.mark.parametrize(("written", "cells", "label"), FORMS)
def test_the_import_and_the_nlu_read_a_unit_alike(
    written: str, cells: tuple[str, str, str], label: str
) -> None:
    parsed = parse_unit(written)
    assert parsed is not None
    assert unit_label(parsed.building, parsed.entrance, parsed.room) == label
    building, entrance, room = cells
    imported = unit_label(
        normalize_building(building), normalize_entrance(entrance) or None, normalize_room(room)
    )
    assert imported == label


# An owners sheet's `units` cell names units as labels, parts with or without their marks.
LABEL_CELLS = [
    ("3-2-501", "3-2-501"),
    ("3栋-2单元-501室", "3-2-501"),
    ("三栋-二单元-五零一", "3-2-501"),
    ("七栋-二单元-十二零三", "7-2-1203"),
    ("b－1202", "B-1202"),
    ("12-1801", "12-1801"),
    ("12号楼—3单元—502号", "12-3-502"),
]


@pytest.mark.parametrize(("cell", "label"), LABEL_CELLS)
def test_a_label_cell_names_the_unit_an_owner_writes(cell: str, label: str) -> None:
    assert parse_unit_label(cell) == label
    parsed = parse_unit(cell)
    assert parsed is not None
    assert unit_label(parsed.building, parsed.entrance, parsed.room) == label


def test_a_building_that_is_no_number_is_kept_as_written() -> None:
    assert normalize_building("东区") == "东区"
    assert normalize_building("") == normalize_room("  ") == ""


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("building_name", "03", "3"),
        ("building_name", "十二", "12"),
        ("building_name", "b", "B"),
        ("building_name", "12a", "12A"),
        ("building_name", "零", None),
        ("entrance_name", "二", "2"),
        ("entrance_name", "a", "A"),
        ("room_name", "0501", "0501"),
        ("room_name", "五零一", "501"),
        ("room_name", "十二零三", "1203"),
        ("room_name", "一千二百零二", "1202"),
        ("room_name", "12b", "12B"),
    ],
)
def test_a_part_of_a_unit_is_named_one_way(name: str, raw: str, expected: str | None) -> None:
    assert getattr(vocabulary, name)(raw) == expected


def test_department_words_are_one_table_for_staff_and_the_import() -> None:
    assert {vocabulary.department_named(d.value) for d in Department} == set(Department)
    assert set(vocabulary.DEPARTMENT_WORDS.values()) == {d.value for d in Department}
    # The import reads every word staff may type after `转派 R-0012`, and no other.
    assert DEPARTMENTS == {w: Department(v) for w, v in vocabulary.DEPARTMENT_WORDS.items()}
    assert vocabulary.department_named("Cleaning ") == "cleaning"
    assert vocabulary.department_named("保洁") == vocabulary.department_named("cleaning")
    assert vocabulary.department_named("厨房") is None


def test_role_words_name_every_role() -> None:
    assert set(vocabulary.ROLE_WORDS.values()) == {r.value for r in StaffRole}
    assert ROLES == {w: StaffRole(v) for w, v in vocabulary.ROLE_WORDS.items()}
    assert vocabulary.role_named("主管") == "supervisor"


def test_the_tables_hold_words_as_they_are_looked_up() -> None:
    tables = [vocabulary.DEPARTMENT_WORDS, vocabulary.ROLE_WORDS]
    assert all(vocabulary.word_key(word) == word for table in tables for word in table)
    commands = [w for c in vocabulary.STAFF_COMMANDS for w in c.words]
    assert all(vocabulary.word_key(word) == word for word in commands)
    assert len(commands) == len(set(commands))
    assert all(c.zh and c.en for c in vocabulary.STAFF_COMMANDS)
