"""Urgency rules: danger now (zh + en phrasings), and what is not urgent."""

from __future__ import annotations

import time

import pytest

from bot.core.nlu.urgency import SIGNALS, rule_urgent, split_clauses, urgent_signals

URGENT: list[tuple[str, str]] = [
    # trapped
    ("电梯里有人被关住了", "trapped"),
    ("有人被困电梯了", "trapped"),
    ("电梯停在半层 里面有人", "trapped"),
    ("电梯卡住了，我在里面", "trapped"),
    ("电梯突然往下掉", "trapped"),
    ("lift stopped with my son inside", "trapped"),
    ("someone's stuck in the elevator", "trapped"),
    ("we are stuck in the lift", "trapped"),
    ("lift is stuck between floors and my mum is inside", "trapped"),
    ("Stuck in the lift in building 7 with my kid!!!", "trapped"),
    # gas
    ("I can smell gas in the kitchen", "gas"),
    ("there's a gas leak on the 5th floor", "gas"),
    ("smells like gas in the hallway", "gas"),
    ("厨房有煤气味", "gas"),
    ("燃气泄漏了", "gas"),
    ("闻到一股天然气的味道", "gas"),
    ("18楼楼道有gas smell 很重 快来人看看", "gas"),
    # fire, smoke, sparks, burning smell
    ("厨房着火了", "fire"),
    ("楼道里冒烟了", "fire"),
    ("插座冒火花了", "fire"),
    ("家里有烧焦的味道", "fire"),
    ("电线短路冒烟了", "fire"),
    ("there's a fire in the bin room", "fire"),
    ("smoke coming out of the meter box", "fire"),
    ("sparks coming from the socket", "fire"),
    ("there's a burning smell in the corridor", "fire"),
    # water pouring, flooding, burst pipes
    ("水管爆了", "water"),
    ("家里水漫金山了", "water"),
    ("楼上漏水像下雨一样", "water"),
    ("水哗哗地往下流", "water"),
    ("地下车库进水了 车都淹了", "water"),
    ("暖气管爆了 水喷得到处都是", "water"),
    ("a pipe burst in the kitchen", "water"),
    ("our flat is flooding", "water"),
    ("water pouring through the ceiling", "water"),
    ("water is gushing out of the wall", "water"),
    # whole flat / building without power or water
    ("整栋楼停电了", "outage"),
    ("家里没电了", "outage"),
    ("全屋停水", "outage"),
    ("整个小区都停电了", "outage"),
    ("家里停水一整天了", "outage"),
    ("no power in the whole flat", "outage"),
    ("our whole building has no water", "outage"),
    ("the whole building lost power", "outage"),
    ("we have no water at all", "outage"),
    # a threat in progress
    ("有人在撬我家门", "threat"),
    ("楼下有人打起来了", "threat"),
    ("有小偷在偷电动车 现在还在", "threat"),
    ("someone is trying to break in", "threat"),
    ("there's a fight in the car park", "threat"),
    ("a man with a knife at the gate", "threat"),
    ("there is an intruder in the garden", "threat"),
    ("someone is breaking into cars right now", "threat"),
]

NOT_URGENT = [
    # over, fixed, never there
    "昨天的漏水已经修好了",
    "no gas smell anymore",
    "没有煤气味了 谢谢",
    "smelled a bit of gas yesterday, it's gone now",
    "上次电梯困人的事处理了吗",
    # hypothetical, drills, questions about how to
    "what should we do if there's a fire",
    "fire drill tomorrow at 10",
    "消防演习是几点",
    "how do I report a gas leak",
    "如果着火了应该走哪个楼梯",
    # planned outages, bills
    "停水通知什么时候发",
    "明天停水吗",
    "the gas bill is too high",
    "燃气费怎么交",
    "can I pay the electricity bill online",
    # small faults
    "我家水管有点滴水",
    "厨房水龙头滴水",
    "the lift is slow",
    "电梯按钮坏了",
    "请问燃气报警器在哪里买",
    "fire extinguisher expired on 5F",
    "the fire lane is blocked by cars",
    # nuisances that look like danger words
    "楼下有人抽烟 烟味很大",
    "楼下烧烤烟太大了",
    "neighbour's dog barks all night",
    "the bins are overflowing",
    "垃圾桶满了溢出来了",
    "草坪的喷头一直在喷水",
    # past threats are complaints
    "last week someone broke into a car, is the CCTV fixed",
    "昨天有人打架 保安来得太慢",
    "",
]


@pytest.mark.parametrize(("text", "kind"), URGENT)
def test_urgent(text: str, kind: str) -> None:
    assert kind in urgent_signals(text)
    assert rule_urgent(text)


@pytest.mark.parametrize("text", NOT_URGENT)
def test_not_urgent(text: str) -> None:
    assert urgent_signals(text) == ()
    assert not rule_urgent(text)


def test_every_kind_is_covered() -> None:
    covered = {kind for _, kind in URGENT}
    assert {"trapped", "gas", "fire", "water", "outage", "threat"} <= covered
    assert covered <= set(SIGNALS)


def test_clauses_are_judged_separately() -> None:
    # The first clause is over, the second is happening now.
    assert rule_urgent("上周的漏水修好了，但是现在水管又爆了")
    assert rule_urgent("the leak was fixed yesterday but now water is pouring through the ceiling")
    assert split_clauses("修好了。但是又漏了") == ["修好了", "又漏了"]


def test_huge_text_is_fast() -> None:
    started = time.perf_counter()
    assert not rule_urgent("物业你好" * 30_000)
    assert rule_urgent("水管爆了！" + "快来" * 50_000)
    assert time.perf_counter() - started < 2.0
