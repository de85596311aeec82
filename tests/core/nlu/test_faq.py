"""FAQ matching: paraphrases find their entry, unrelated messages find none."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.nlu import NLU, FaqIndex
from bot.core.nlu.faq import DEFAULT_FAQ_THRESHOLD, faq_features

ENTRIES = [
    ("office_hours", "物业办公室几点上班？"),
    ("water_cut", "最近有没有停水通知？"),
    ("renovation", "装修有什么规定，几点可以施工？"),
    ("access_card", "门禁卡怎么办理？丢了怎么补办？"),
    ("parking", "停车证怎么办理？"),
    ("pool", "游泳池什么时候开放？"),
    ("parcel", "快递放在哪里取？"),
    ("en_hours", "What are the management office opening hours?"),
    ("en_pool", "When is the swimming pool open?"),
]

MATCHES = [
    ("办公室几点开门", "office_hours"),
    ("门禁卡丢了怎么办", "access_card"),
    ("泳池开了吗", "pool"),
    ("快递在哪拿", "parcel"),
    ("最近会停水吗", "water_cut"),
    ("停车证在哪里办理", "parking"),
    ("what time does the office open", "en_hours"),
    ("is the pool open today", "en_pool"),
]

NO_MATCH = ["马桶堵了", "今天天气真好", "楼上太吵了", "哈哈哈", "谢谢", "", "   ", "👍"]


@pytest.fixture
def nlu(tiny_corpus: Path, tmp_path: Path) -> NLU:
    return NLU.load(tmp_path / "m.pkl", corpus_dir=tiny_corpus)


@pytest.fixture
def index(nlu: NLU) -> FaqIndex:
    return nlu.faq_index(ENTRIES)


@pytest.mark.parametrize(("text", "key"), MATCHES)
def test_paraphrase_finds_its_entry(index: FaqIndex, text: str, key: str) -> None:
    best = index.best(text)
    assert best is not None
    assert best[0] == key
    assert DEFAULT_FAQ_THRESHOLD <= best[1] <= 1.0


@pytest.mark.parametrize("text", NO_MATCH)
def test_unrelated_finds_nothing(index: FaqIndex, text: str) -> None:
    assert index.best(text) is None


def test_exact_question_scores_one(index: FaqIndex) -> None:
    best = index.best("游泳池什么时候开放？")
    assert best is not None
    assert best[0] == "pool"
    assert best[1] == pytest.approx(1.0, abs=1e-3)


def test_scores_are_ranked(index: FaqIndex) -> None:
    ranked = index.scores("门禁卡怎么补办")
    assert ranked[0][0] == "access_card"
    values = [s for _, s in ranked]
    assert values == sorted(values, reverse=True)
    assert len(ranked) == len(ENTRIES) == len(index)


def test_threshold_is_configurable(nlu: NLU) -> None:
    strict = nlu.faq_index(ENTRIES, threshold=0.99)
    assert strict.best("办公室几点开门") is None
    assert strict.best("物业办公室几点上班？") is not None


def test_empty_index(nlu: NLU) -> None:
    empty = nlu.faq_index([])
    assert len(empty) == 0
    assert empty.best("办公室几点开门") is None
    assert len(nlu.faq_index([("blank", "   "), ("q", "吗？")])) == 0


def test_question_words_are_not_features() -> None:
    feats = faq_features(["w:怎么", "w:门禁卡", "c:吗", "c:门禁", "c:怎么", "w:what", "w:pool"])
    assert feats == ["w:门禁卡", "c:门禁", "w:pool"]
