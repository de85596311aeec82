"""Urgency rules: danger now (zh + en phrasings), and what is not urgent."""

from __future__ import annotations

import dataclasses
import itertools
import re
import unicodedata
from pathlib import Path

import pytest

from bot.core.nlu import NLU, urgency
from bot.core.nlu.regex_text import needs_char
from bot.core.nlu.urgency import (
    HARD_KINDS,
    SIGNALS,
    Signals,
    hard_signals,
    rule_urgent,
    scan,
    split_clauses,
    urgent_signals,
)
from bot.core.nlu.urgency_lexicon import lexicon, lexicon_path, read_language

from .conftest import corpus_texts

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


def test_huge_text_is_judged() -> None:
    # How fast is measured in benchmarks/nlu_speed.py, not here (no wall-clock asserts).
    assert not rule_urgent("物业你好" * 30_000)
    assert rule_urgent("水管爆了！" + "快来" * 50_000)


# --- hard and soft signals ------------------------------------------------------------------
# Hard signals make a message urgent however it is phrased (the product rule); they must fire
# on short, unpunctuated, mixed and keyword-less wordings.
HARD: list[tuple[str, str]] = [
    # trapped
    ("困电梯了", "trapped"),
    ("救命 电梯里出不来", "trapped"),
    ("电梯关人了", "trapped"),
    ("电梯停在半空 我婆婆在里面", "trapped"),
    ("电梯不动了里面有个老人家你们快点来", "trapped"),
    ("电梯卡住了 里头有个孕妇", "trapped"),
    ("有个送外卖的被关在5号楼电梯里半个钟了", "trapped"),
    ("老人的手被电梯门夹住了", "trapped"),
    ("电梯一下子往下掉了两层", "trapped"),
    ("my dad is stuck between floors in lift B", "trapped"),
    ("got locked inside the bin room, door won't open", "trapped"),
    ("kid trapped in the lift, alarm does nothing", "trapped"),
    ("电梯里有人 trapped 按警铃没人理", "trapped"),
    # gas
    ("煤气味好大", "gas"),
    ("楼道里燃气味特别冲", "gas"),
    ("燃气软管被老鼠咬了个洞", "gas"),
    ("燃气阀门关不上 一直有气出来", "gas"),
    ("燃气热水器一开就头晕恶心想吐", "gas"),
    ("一氧化碳报警器响了", "gas"),
    ("gas smell!!! 8th floor", "gas"),
    ("the gas meter in the corridor is hissing", "gas"),
    ("CO alarm going off in the kitchen", "gas"),
    ("the 燃气报警器 is beeping non-stop", "gas"),
    # fire, smoke not from cooking, sparks, burning smell from wiring
    ("楼道里全是烟 看不清", "fire"),
    ("插座在冒烟", "fire"),
    ("配电箱打火花", "fire"),
    ("电线烧焦的味道 在卧室", "fire"),
    ("有股烧塑料的味道 越来越浓", "fire"),
    ("电动车充电着火了", "fire"),
    ("火苗窜得老高", "fire"),
    ("smoke in the hallway!!", "fire"),
    ("smoke in the stairwell, can't see the stairs", "fire"),
    ("the socket is sparking and smells burnt", "fire"),
    ("washing machine just caught fire", "fire"),
    ("楼下 car 着火了!!", "fire"),
    # water pouring, flooding, burst pipes
    ("救命 家里发大水了", "water"),
    ("一楼大堂进水了 快淹到电梯口", "water"),
    ("洗衣机进水管脱了 家里水到脚踝了", "water"),
    ("地库入口的水哗哗往里灌", "water"),
    ("天花板往下淌水 跟瀑布一样", "water"),
    ("楼顶水箱的水顺着楼梯流下来 每层都是水", "water"),
    ("热水器下面的管子崩开了", "water"),
    ("burst pipe in the kitchen", "water"),
    ("water is pouring out of my light fitting", "water"),
    ("sewage coming up through the shower drain", "water"),
    ("it's literally raining in our kitchen", "water"),
    ("ankle deep water in the lobby", "water"),
    ("pipe 爆了 under the sink!! 水 everywhere", "water"),
    # a threat in progress
    ("有人撬我家门", "threat"),
    ("家里进贼了 人好像还在里面", "threat"),
    ("有人从阳台爬进了隔壁家", "threat"),
    ("隔壁两口子在打架 女的一直喊救命", "threat"),
    ("man with a knife near the playground!!!", "threat"),
    ("I can hear my neighbour screaming for help", "threat"),
    ("someone 在撬 our door", "threat"),
    ("有个 guy with a 刀 near the 东门", "threat"),
    # a whole flat or building without power or water (LABELS.md: danger now)
    ("家里突然一点电都没了", "outage"),
    ("整栋楼停电了", "outage"),
    ("no power in the whole flat", "outage"),
    ("the whole tower is dark", "outage"),
    ("屋头莫得电了 冰箱都停了", "outage"),
    ("停水通知说中午来水 现在晚上了我们这栋还是没水", "outage"),
    ("all the lights and sockets went dead at once", "outage"),
    ("water's completely off in our block, can't flush", "outage"),
    # more ways of saying the other dangers
    ("电梯里下不来了 我和我妈都在里面", "trapped"),
    ("there's a child inside the lift and the doors won't open", "trapped"),
    ("我家厨房一股gas味 很冲", "gas"),
    ("阳台顶上的水滴成线了", "water"),
    ("漏得跟下雨似的 地板全湿了", "water"),
    ("water is raining down through the light in the hall", "water"),
    ("the hose behind the washer split and I can't stop the water", "water"),
    ("走廊电箱往下掉火星子", "fire"),
    ("the fuse box in the hallway is smoking", "fire"),
    ("有人在爬二楼的阳台", "threat"),
    ("someone is climbing the drainpipe towards the 3rd floor windows", "threat"),
    ("一个男的拿着菜刀在楼下骂人", "threat"),
    ("guy going door to door trying handles on level 9", "threat"),
    ("打扰一下 我们单元突然停电了 也没看到通知", "outage"),
    ("所有楼的水都停了 商户那边也没有", "outage"),
    ("家里热水冷水全都没有 一滴水都没", "outage"),
    ("我老妈在5栋电梯里 电梯不动了", "trapped"),
    ("my finger is caught in the lift door", "trapped"),
    ("孩子把自己反锁在卫生间里了", "trapped"),
    ("the hallway smells really strongly of gas", "gas"),
    ("燃气灶关了还是有股味 有点头晕", "gas"),
    ("楼下充电桩在smoking", "fire"),
    ("两个人从后面围墙翻进来了", "threat"),
    ("a guy with a crowbar is going along the doors", "threat"),
    ("吊灯里往下滴水", "water"),
    ("对门门缝往外流水 流了一楼道", "water"),
    ("修好没两天 今天又漏了 像下雨一样", "water"),
    ("关了总阀还在流 水越来越多", "water"),
]

# Soft signals need the classifier: they are found, but not as hard ones.
SOFT: list[tuple[str, str]] = [
    ("楼道灯和电梯都没电了", "outage"),  # common parts: not said to be a whole flat
    ("有个陌生男的跟着我女儿到了楼下 现在还在", "threat"),
    ("外墙瓷砖还在一直往下掉", "falling"),
    ("洗衣机漏电 摸着麻手", "shock"),
    ("马桶水都快溢出来了", "water"),
    ("楼道里一股烟味", "fire"),
    ("厨房里一股臭鸡蛋味 是不是漏气了", "gas"),
    ("储藏室的门坏了 我在地下室出不去", "trapped"),
    ("窗框松了 一刮风感觉要整块掉下来", "falling"),
    ("a cable is hanging in the car park and it buzzes", "shock"),
    ("卫生间漏水 已经流到插座下面了", "water"),
]

# Near-misses that give no signal at all, hard or soft.
NO_SIGNAL = [
    "烟感没电了 一直滴滴响",  # a device battery, not an outage; an alarm chirping, not a fire
    "smoke alarm keeps chirping, battery I think",
    "家里烟感半夜响了一下 没烟也没味",
    "厨房一炒菜烟感就叫 太灵敏了",
    "车库门坏了 车出不去",  # a car that cannot get out: a repair
    "有人挨家挨户塞传单",  # flyers, not a threat
    "电梯里有人抽过烟 一进去一股烟味",  # a smoker, not a fire
    "明天停水几点开始",
    "明天停电吗",
]

# Danger words that do not report danger now: negated, over, past, planned, hypothetical,
# smoke from cooking or cigarettes, drills, alarms chirping, slow drips and stains.
NOT_HARD = [
    # negated / over / past
    "没有煤气味 是楼下在做饭",
    "水管已经修好了 谢谢师傅",
    "火已经灭了 大家别担心",
    "电梯里的人已经出来了",
    "昨天电梯困人那次是什么原因",
    "上周有人在地库撬车，后来报警了，到现在物业也没个说法",
    "上个月地库进水把我车泡了 物业到现在一句话都没有",
    "the lift was stuck yesterday, is it safe now?",
    "there was a gas smell in the lobby last week, did anyone check it?",
    "the leak is no longer dripping, all good",
    "fire brigade has left, it was just burnt toast. panic over",
    "电梯三天两头坏 今天又困在里面十分钟 自己出来了",
    # planned cuts, hypotheticals, safety information
    "明天停水几点开始",
    "is the water cut tomorrow for the whole estate?",
    "万一电梯困人了 打哪个电话",
    "着火的话应该走哪边的楼梯",
    "想问一下 如果家里有煤气味 第一步该干什么",
    "遇到煤气泄漏该怎么处理",
    "what should I do if I smell gas at night?",
    "who do I call if the lift breaks down with people inside?",
    "fire drill at 10, alarms will sound",
    "下午三点消防演练 大家听到警报不要慌",
    # smoke from cooking, cigarettes, offerings; a smoker as a hazard
    "楼下又在烧烤 烟全往我家飘",
    "不知道谁家在烧纸 楼道里全是烟",
    "有人在楼梯间抽烟 烟头扔得到处都是 着火了怎么办",
    "smoke from the bbq downstairs is coming into our flat",
    "people smoking in the stairwell again",
    "guys smoke in the stairwell every night",
    # alarms, drips, stains, small faults, bins, sounds, wind
    "烟感没电了 一直滴滴响",
    "smoke alarm chirping every 30 seconds, battery I think",
    "卫生间顶上有块水渍",
    "马桶底座那里有点渗水",
    "水龙头拧不紧 哗哗流",
    "吊顶里一直哗哗的水声 但是看不到水",
    "slow drip under the kitchen sink",
    "small damp patch on the bedroom ceiling",
    "bins overflowing behind block 3",
    "垃圾桶满得都溢出来了",
    "garden sprinklers are flooding the footpath every morning",
    "it's pouring outside, is the gym open?",
    "燃气灶打不着火",
    "电梯里有人吐了 麻烦来清理",
    "电梯里有人抽过烟 一进去一股烟味",
    "笑死 电梯里的镜子掉下来了",
    "楼道窗户关不上 冷风呼呼往里灌",
    "水表玻璃冻裂了",
    "半夜野猫打架 叫得跟小孩哭一样",
    "楼道里有个男的一直在试每家的门把手 我从猫眼看到的",  # soft threat only, see below
    "garage door opener's busted, car's stuck inside",
    "长期被噪音困扰",
    # hearsay from elsewhere, worry about later, questions about an outage
    "听说隔壁小区电梯困人了 我们的电梯多久保养一次",
    "heard that another estate had a gas leak, when are our pipes checked?",
    "电动车在楼道充电 迟早着火",
    "those e-bikes charging in the lobby are a fire waiting to happen",
    "我们这栋停水了吗",
    "17楼电梯厅的灯全灭了",  # common parts, not a flat: a repair
    "家里有个插座没电",  # one socket
    "我家手机没电了 充电器在哪买",
    "刚才的尖叫是楼上在看恐怖片 不是打架",
    "还以为谁家着火了 原来是楼下在吃火锅",
    "thought it was a fire, turned out to be someone's barbecue",
    "is the whole block without water tomorrow?",
]


@pytest.mark.parametrize(("text", "kind"), HARD)
def test_hard_signal(text: str, kind: str) -> None:
    assert kind in hard_signals(text)
    assert kind in scan(text, soft=False).hard


@pytest.mark.parametrize(("text", "kind"), SOFT)
def test_soft_signal(text: str, kind: str) -> None:
    signals = scan(text)
    assert kind in signals.soft
    assert not signals.hard
    assert kind in urgent_signals(text)
    assert scan(text, soft=False) == Signals()


@pytest.mark.parametrize("text", NOT_HARD)
def test_not_hard(text: str) -> None:
    assert hard_signals(text) == ()


@pytest.mark.parametrize("text", NO_SIGNAL)
def test_no_signal(text: str) -> None:
    assert scan(text) == Signals()


def test_every_kind_has_a_strength() -> None:
    assert {"trapped", "gas", "fire", "water", "threat", "outage"} <= HARD_KINDS
    assert {"falling", "shock"}.isdisjoint(HARD_KINDS)
    assert {kind for _, kind in HARD} == {"trapped", "gas", "fire", "water", "threat", "outage"}


def test_past_present_and_negation_per_clause() -> None:
    assert hard_signals("昨天闻到煤气味") == ()
    assert hard_signals("昨天就有煤气味 现在还是很浓的煤气味") == ("gas",)
    assert hard_signals("no gas smell, just the drains") == ()
    assert hard_signals("水管上周修好了。今天水管又爆了") == ("water",)
    assert hard_signals("the lift was fixed last week. now I'm stuck in it") == ("trapped",)


def test_gates_do_not_change_results() -> None:
    """The literal pre-checks are derived from the patterns: skipping them changes nothing."""
    texts = [t for t, _ in URGENT + HARD + SOFT] + NOT_URGENT + NOT_HARD + NO_SIGNAL
    lex = lexicon()
    ungated = dataclasses.replace(
        lex, groups=tuple(dataclasses.replace(g, gate=None) for g in lex.groups), gate=None
    )
    one_by_one = dataclasses.replace(lex, gate=None)  # each group's own gate, searched alone
    for soft in (True, False):
        with_gates = [scan(t, soft=soft) for t in texts]
        without = [urgency._scan(ungated, t, soft=soft) for t in texts]
        assert with_gates == without
        assert with_gates == [urgency._scan(one_by_one, t, soft=soft) for t in texts]
    assert all(g.gate is not None for g in lex.groups)


def test_trying_only_the_phrases_whose_texts_occur_changes_nothing() -> None:
    """A group is tried with only the phrases whose own gate texts are in the message (one
    pattern per such part, compiled on first use): on every corpus message and the test
    texts, the signals are those of the group's whole patterns, and parts are used."""
    lex = lexicon()
    assert lex.phrase_bits and lex.gate is not None
    whole = dataclasses.replace(lex, phrase_bits=(), _parts={})
    texts = [t for t, _ in URGENT + HARD + SOFT] + NOT_URGENT + NOT_HARD + NO_SIGNAL
    texts += corpus_texts()
    parted = 0
    for text in texts:
        for soft in (True, False):
            assert urgency._scan(lex, text, soft=soft) == urgency._scan(whole, text, soft=soft)
        mask = lex.gate.groups(unicodedata.normalize("NFKC", text).lower())
        parted += sum(
            lex.patterns(i, mask) != (g.zh, g.en)
            for i, g in enumerate(lex.groups)
            if mask >> i & 1
        )
    assert parted > len(texts)  # most opened groups are tried with a part of their phrases


def test_the_merged_gate_opens_the_groups_each_gate_opens() -> None:
    """All the groups' gates in one pass (GroupGate) open exactly the groups whose own gate
    matches, on every corpus message and on texts built from the gates' own texts."""
    lex = lexicon()
    assert lex.gate is not None
    texts = [t for t, _ in URGENT + HARD + SOFT] + NOT_URGENT + NOT_HARD + NO_SIGNAL
    texts += corpus_texts()
    # Every gate text alone, and each inside other text next to the following one.
    pieces = sorted(
        {
            re.sub(r"\\(.)", r"\1", piece)
            for g in lex.groups
            if g.gate is not None
            for piece in re.split(r"(?<!\\)\|", g.gate.pattern)
        }
    )
    texts += pieces
    texts += [f"楼上{a}了 and {b}" for a, b in itertools.pairwise(pieces)]
    opened = 0
    for text in texts:
        lower = unicodedata.normalize("NFKC", text).lower()
        expected = {i for i, g in enumerate(lex.groups) if g.gate is None or g.gate.search(lower)}
        mask = lex.gate.groups(lower)
        assert {i for i in range(len(lex.groups)) if mask >> i & 1} == expected, text
        opened += len(expected)
    assert opened > len(texts)  # the gates do open groups on these texts


def test_chinese_patterns_need_chinese_text() -> None:
    """Every phrase of the Chinese file needs a Chinese character whichever way it matches, so
    skipping the Chinese phrases for a clause without Chinese text loses nothing (and every
    English phrase needs a Latin letter)."""
    zh = read_language(lexicon_path("zh"), "zh")
    en = read_language(lexicon_path("en"), "en")
    assert sum(len(s.phrases) for s in zh.signals) > 100
    assert sum(len(s.phrases) for s in en.signals) > 100
    for signal in zh.signals:
        for phrase in signal.phrases:
            assert needs_char(phrase, lambda c: "\u3400" <= c <= "\u9fff"), (signal.id, phrase)
    for signal in en.signals:
        for phrase in signal.phrases:
            assert needs_char(phrase, lambda c: c.isascii() and c.isalpha()), (signal.id, phrase)


# --- the NLU's decision ----------------------------------------------------------------------


@pytest.fixture
def nlu(tiny_corpus: Path, tmp_path: Path) -> NLU:
    return NLU.load(tmp_path / "m.pkl", corpus_dir=tiny_corpus)


def _mute_classifier(nlu: NLU) -> None:
    """The urgency classifier never fires and soft signals never count."""
    nlu.artifact.urgent_threshold = 2.0
    nlu.artifact.urgent_rule_floor = 2.0


def test_hard_signal_is_urgent_without_the_classifier(nlu: NLU) -> None:
    _mute_classifier(nlu)
    for text in [
        "厨房有很浓的煤气味",
        "楼道里全是烟 看不清",
        "电梯困人了",
        "水管爆了 水喷得到处都是",
    ]:
        u = nlu.understand(text)
        assert u.urgent is True, text
        assert u.intent in ("repair", "complaint")
        assert u.department is not None
    assert nlu.understand("整栋楼停电了").urgent is True  # a whole building: hard
    assert nlu.understand("窗框松了 一刮风感觉要整块掉下来").urgent is False  # soft
    assert nlu.understand("昨天的煤气味已经没了").urgent is False
    assert nlu.understand("如果闻到煤气味应该怎么办").urgent is False


def test_hard_gate_drops_questions_only(nlu: NLU) -> None:
    _mute_classifier(nlu)
    nlu.artifact.urgent_hard_gate = 0.0  # everything counts as a question
    assert nlu.understand("厨房有很浓的煤气味").urgent is False
    nlu.artifact.urgent_hard_gate = 1.01  # nothing does
    assert nlu.understand("厨房有很浓的煤气味").urgent is True
    # A question that names a danger, which the intent model is sure of, is not an emergency.
    nlu.artifact.urgent_hard_gate = 0.9
    question = "请问燃气泄漏了 燃气公司的电话是多少"
    u = nlu.understand(question)
    asking = u.scores["enquiry"] + u.scores["payment"]
    assert u.urgent is (asking < 0.9)


def test_urgent_message_becomes_a_ticket(nlu: NLU) -> None:
    """An urgent message is reported as a repair or a complaint, with its department."""
    nlu.artifact.urgent_hard_gate = 1.01
    u = nlu.understand("请问燃气泄漏了 燃气公司的电话是多少")
    assert u.urgent is True
    assert u.intent in ("repair", "complaint")
    assert u.department is not None
    assert u.confidence == pytest.approx(u.scores[u.intent])
