"""Unit parsing: the many ways owners write a flat, and what must never parse as one."""

from __future__ import annotations

import random
import re

import pytest

from bot.core.nlu import units
from bot.core.nlu.units import Unit, cn_to_int, normalize_text, parse_unit, scan_units

from .conftest import corpus_texts

# (text, (building, entrance, room))
WRITTEN_FORMS: list[tuple[str, tuple[str, str | None, str]]] = [
    # Chinese markers
    ("5栋1单元1202 马桶堵了", ("5", "1", "1202")),
    ("3栋2单元501室", ("3", "2", "501")),
    ("3幢2单元501", ("3", "2", "501")),
    ("12号楼3单元502号", ("12", "3", "502")),
    ("我家3号楼2单元502的厕所漏水", ("3", "2", "502")),
    ("B座1202室漏水", ("B", None, "1202")),
    ("b座1202", ("B", None, "1202")),
    ("E座 1502", ("E", None, "1502")),
    ("C座10楼1001", ("C", None, "1001")),
    ("A栋2001", ("A", None, "2001")),
    ("A1栋301室", ("A1", None, "301")),
    ("7栋802房", ("7", None, "802")),
    ("5幢1202", ("5", None, "1202")),
    ("二期5栋1202", ("5", None, "1202")),
    ("第3栋2单元501室", ("3", "2", "501")),
    ("3 栋 2 单元 501", ("3", "2", "501")),
    ("3栋2单元 501 漏水了", ("3", "2", "501")),
    ("5栋 1202 空调漏水 已经3天了", ("5", None, "1202")),
    ("3栋12楼1202", ("3", None, "1202")),
    ("3栋二单元5楼501", ("3", "2", "501")),
    ("@管家 3栋501 漏水", ("3", None, "501")),
    ("8栋的1401", ("8", None, "1401")),
    # Chinese numerals
    ("三栋二单元五零一", ("3", "2", "501")),
    ("十二栋", None),  # building only: not a unit
    ("十二栋一单元一千二百零二", ("12", "1", "1202")),
    ("八栋一单元三零二", ("8", "1", "302")),
    ("十栋五零二", ("10", None, "502")),
    ("三栋二单元五零一一直漏水", ("3", "2", "501")),
    ("七栋二单元十二零三 窗户漏风", ("7", "2", "1203")),
    ("二十三栋一单元五百零一室", ("23", "1", "501")),
    ("两栋之间", None),
    ("五号楼三单元四零二", ("5", "3", "402")),
    # full-width digits and letters
    ("３栋２单元５０１室", ("3", "2", "501")),
    ("Ｂ座１２０２", ("B", None, "1202")),
    # hyphen and hash forms
    ("3-2-501", ("3", "2", "501")),
    ("12-1801", ("12", None, "1801")),
    ("3#2-501", ("3", "2", "501")),
    ("3#501", ("3", None, "501")),
    ("3#楼2单元501", ("3", "2", "501")),
    ("5栋1-1202", ("5", "1", "1202")),
    ("3幢2-501", ("3", "2", "501")),
    ("9-1-1102 厨房漏水", ("9", "1", "1102")),
    ("no water at all in the flat. 10-3-402. been 5 hours", ("10", "3", "402")),
    ("装修噪音投诉：5-2-702，今天中午", ("5", "2", "702")),
    ("7-2-1101天天把电瓶车推进电梯", ("7", "2", "1101")),
    ("apt 10-506 bathroom sink clogged", ("10", None, "506")),
    # English
    ("Block 3 #05-01", ("3", None, "05-01")),
    ("blk 3 #05-01 aircon leaking", ("3", None, "05-01")),
    ("I live in block C, #12-05", ("C", None, "12-05")),
    ("Tower 2 Unit 1502", ("2", None, "1502")),
    ("Bldg 5 Rm 1202", ("5", None, "1202")),
    ("Bldg. 5, Rm. 1202", ("5", None, "1202")),
    ("Apt 1801 building 12", ("12", None, "1801")),
    ("Room 501, Building 3, Entrance 2", ("3", "2", "501")),
    ("Building 5, Unit 1202", ("5", None, "1202")),
    ("my flat 1202 at tower 3", ("3", None, "1202")),
    ("Flat 12B, Block 7", ("7", None, "12B")),
    ("1708 Tower 4 water everywhere", ("4", None, "1708")),
    ("请问Bldg 5 Rm 1202这套的管理费", ("5", None, "1202")),
    ("Tower B unit 2301 no hot water", ("B", None, "2301")),
    ("building 12 apartment 1801", ("12", None, "1801")),
    ("15栋1单元501 floor drain smells", ("15", "1", "501")),
    # what follows or precedes the unit must not hide it
    ("地址：17栋3单元1301", ("17", "3", "1301")),
    ("业主：12栋1802 洗衣机漏水", ("12", None, "1802")),
    ("2号楼1单元1801 楼上天天跳", ("2", "1", "1801")),
    ("6幢1单元301 次卧顶上渗水", ("6", "1", "301")),
    ("unit 11-2-302: a car parked outside", ("11", "2", "302")),
    ("9栋2单元，我住1902", ("9", "2", "1902")),
]


@pytest.mark.parametrize(("text", "expected"), WRITTEN_FORMS)
def test_written_forms(text: str, expected: tuple[str, str | None, str] | None) -> None:
    unit = parse_unit(text)
    if expected is None:
        assert unit is None
    else:
        assert unit == Unit(*expected)


def test_at_least_fifty_written_forms() -> None:
    assert sum(1 for _, e in WRITTEN_FORMS if e is not None) >= 50


NOT_A_UNIT = [
    # a floor alone
    "12楼",
    "12层",
    "3栋12楼",
    "floor 12",
    "12th floor corridor light is out",
    "Tower 2, 15th floor",
    # a common area only
    "3号楼电梯坏了",
    "5栋电梯 1202",
    "5号楼2单元",
    # a room without a building
    "501室",
    "2单元501",
    "pls fix the hallway light outside 1502",
    # times, dates, prices, phones, counts
    "3点",
    "下午3点半来修",
    "2026-11-23",
    "2026-11-23 3点",
    "11月23号",
    "11月23号3栋2单元",
    "9:00-18:00",
    "100块",
    "100-200元",
    "物业费一年3600元",
    "13812345678",
    "138-1234-5678",
    "等了3天",
    "5分钟",
    "30/s",
    "1-3楼",
    "等了2-3天",
    "订单号20240315001",
    "kid stuck in lift, building 8 unit 2",
    "",
    "   ",
]


@pytest.mark.parametrize("text", NOT_A_UNIT)
def test_not_a_unit(text: str) -> None:
    assert parse_unit(text) is None


def test_to_dict() -> None:
    assert Unit("3", None, "05-01").to_dict() == {
        "building": "3",
        "entrance": None,
        "room": "05-01",
    }


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("十二", 12),
        ("二十", 20),
        ("二十三", 23),
        ("一千二百零二", 1202),
        ("五零一", 501),
        ("十", 10),
    ],
)
def test_chinese_numerals(numeral: str, value: int) -> None:
    assert cn_to_int(numeral) == value


def test_huge_text_is_parsed() -> None:
    # How fast is measured in benchmarks/nlu_speed.py, not here (no wall-clock asserts).
    text = "3栋2单元501 " + "漏水" * 50_000
    assert parse_unit(text) == Unit("3", "2", "501")
    assert parse_unit("好" * 100_000) is None


# A room tied to a flat, and exactly one building named elsewhere without a room of its own.
WRITTEN_APART: list[tuple[str, tuple[str, str | None, str]]] = [
    ("楼上1502天天半夜剁肉…8栋的", ("8", None, "1502")),
    ("隔壁1203又在敲墙 我们是5号楼的", ("5", None, "1203")),
    ("对门906家的狗一直叫，我住11栋", ("11", None, "906")),
    ("楼下的2101天天在阳台烧烤 我是9幢的", ("9", None, "2101")),
    ("我家1804卫生间渗水了，在7栋", ("7", None, "1804")),
    ("1801室的装修声从早到晚 我是12栋的", ("12", None, "1801")),
    ("楼上1502吵死了 8栋2单元的", ("8", "2", "1502")),
    (
        "The family that lives in 1407 keeps dumping bags in the corridor, Tower 3",
        ("3", None, "1407"),
    ),
    ("upstairs flat is leaking, I live in unit 1206. Block 2", ("2", None, "1206")),
]


@pytest.mark.parametrize(("text", "expected"), WRITTEN_APART)
def test_a_room_written_apart_from_its_building(
    text: str, expected: tuple[str, str | None, str]
) -> None:
    assert parse_unit(text) == Unit(*expected)


NOT_APART = [
    "楼上3点还在吵 8栋的",  # a time
    "楼上2024年就开始装修 8栋的",  # a year
    "隔壁1000块买的 8栋的",  # a price
    "家13812345678 8栋的",  # a phone number
    "住了1500天了 8栋的",  # a count
    "楼上1502装修 5栋和6栋都听得到",  # two buildings
    "楼上1502装修 8栋电梯也坏了",  # the building is named with a place, not as an address
    "楼上1502和楼下1302都在装修 8栋的",  # two rooms
    "楼上天天装修 8栋的",  # no room
    "8栋的 等了1502分钟",  # a bare number is never a room
    "等了半天 8栋 1502个人",
    "3室2厅 8栋的",  # rooms of a flat, not a flat
    "地库天花板渗水 车位在A-108",  # a parking space
]


@pytest.mark.parametrize("text", NOT_APART)
def test_no_room_written_apart(text: str) -> None:
    assert parse_unit(text) is None


def test_an_adjacent_unit_comes_first() -> None:
    assert parse_unit("楼上1502装修 我是8栋2单元1402的") == Unit("8", "2", "1402")


def test_an_ellipsis_before_a_building_is_not_a_decimal() -> None:
    assert parse_unit("漏水了...8栋1202") == Unit("8", None, "1202")
    assert parse_unit("3.5栋1202") is None


def test_scan_units_tells_where_the_unit_and_the_other_buildings_are() -> None:
    scan = scan_units("我是7栋2单元702的 5号楼电梯坏了")
    assert scan.unit == Unit("7", "2", "702")
    assert [scan.text[a:b] for a, b in scan.unit_spans] == ["7栋2单元702"]
    assert [(b.building, scan.text[b.start : b.end]) for b in scan.buildings] == [("5", "5号楼")]
    apart = scan_units("楼上1502天天半夜剁肉…8栋的")
    assert apart.apart and [apart.text[a:b] for a, b in apart.unit_spans] == ["1502", "8栋"]
    both = scan_units("Block 3 and Block 4")
    assert [b.building for b in both.buildings] == ["3", "4"]


@pytest.mark.parametrize("text", ["1500房租太贵了 我是8栋的", "工单 #12345 已提交, Block 7 的"])
def test_markers_that_are_not_flats_written_apart(text: str) -> None:
    assert parse_unit(text) is None


def test_the_lookahead_on_a_components_first_character_changes_no_match() -> None:
    """The component scan looks ahead for a character a component can start with before
    trying its alternatives: every match is the one the alternatives alone give, on the corpus
    and on random text of digits, letters, Chinese numerals, marks and the letters that (?i:)
    takes for ASCII ones."""
    alone = re.compile(units._COMPONENT_ALTERNATIVES)
    texts = [normalize_text(t) for t in corpus_texts()]
    texts += [form for form, _ in WRITTEN_FORMS]
    rng = random.Random(20261206)
    alphabet = (
        "0123456789aBksSKLfFrRtTuU-#/ .:号楼栋座单元室房层一二三五十百两ſıK月车位 Block Room Unit"
    )
    texts += ["".join(rng.choices(alphabet, k=rng.randint(1, 30))) for _ in range(5000)]
    words = ["block", "BLK", "stair", "ſtair", "Suite", "ſuite", "floor", "3rd", "#05-01"]
    texts += [" ".join(rng.choices([*words, "5", "12", "1202"], k=4)) for _ in range(500)]

    def found(pattern: re.Pattern[str], text: str) -> list[tuple[int, int, dict[str, str | None]]]:
        return [(m.start(), m.end(), m.groupdict()) for m in pattern.finditer(text)]

    matched = 0
    for text in texts:
        expected = found(alone, text)
        assert found(units._COMPONENT, text) == expected, text
        matched += bool(expected)
    assert matched > 1000
