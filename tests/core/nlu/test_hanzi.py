"""Traditional Chinese is read as Simplified; Simplified, English and the rest pass unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.nlu import hanzi
from bot.core.nlu.hanzi import to_simplified
from bot.core.nlu.lang import detect_lang
from bot.core.nlu.units import Unit, parse_unit

CORPUS = Path(hanzi.__file__).with_name("corpus")


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        ("廚房水龍頭漏水 8棟2單元1103", "厨房水龙头漏水 8栋2单元1103"),
        ("樓道燈壞了 黑漆漆的", "楼道灯坏了 黑漆漆的"),
        ("電梯門關不上 12號樓", "电梯门关不上 12号楼"),
        ("物業費怎麼繳", "物业费怎么缴"),
        ("停車場的欄杆壞了", "停车场的栏杆坏了"),
        ("兩棟之間", "两栋之间"),
    ],
)
def test_traditional_becomes_simplified(traditional: str, simplified: str) -> None:
    assert to_simplified(traditional) == simplified


@pytest.mark.parametrize(
    "text",
    [
        "5栋1单元1202 马桶堵了，能上门吗",
        "楼上装修太吵了 早上七点就开始",
        "我家的 toilet 堵了，can someone come fix?",
        "Block 3 #05-01 kitchen pipe leaking",
        "@管家 👍👍 666",
        "",
    ],
)
def test_simplified_english_and_the_rest_pass_unchanged(text: str) -> None:
    assert to_simplified(text) == text


def test_the_simplified_corpus_is_unchanged() -> None:
    # Converting before featurizing must not change what the models were trained on.
    lines = [
        json.loads(line)["text"]
        for path in sorted(CORPUS.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(lines) > 1000
    changed = [t for t in lines if to_simplified(t) != t]
    assert len(changed) <= len(lines) // 1000


def test_the_converter_is_built_once() -> None:
    to_simplified("樓道")
    first = hanzi._converter
    to_simplified("電梯")
    assert first is not None and hanzi._converter is first


def test_units_and_language_read_converted_text() -> None:
    text = to_simplified("我住3棟二單元五零一 熱水器壞了")
    assert parse_unit(text) == Unit("3", "2", "501")
    assert detect_lang(to_simplified("樓道燈壞了")) == "zh"
