"""The segmenter gives jieba's words (cut by jieba-rs), so features and the model stay the same.

The words are compared with jieba's own: jieba's tokenizer with its own dictionary (the dict
of every word and prefix the segmenter does without) and the domain words, built here."""

from __future__ import annotations

import functools
import logging
import random

import jieba
import pytest
import rjieba

from bot.core.nlu import to_simplified
from bot.core.nlu.features import feature_parts, featurize, normalize
from bot.core.nlu.segment import USERDICT_PATH, Frequencies, cut, jieba_words, tokenizer
from bot.core.nlu.segment import _tie_cutter as tie_cutter

from .conftest import corpus_texts


@functools.cache
def _real_jieba() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    tk.initialize()
    tk.load_userdict(str(USERDICT_PATH))
    return tk


def _jieba(text: str) -> list[str]:
    return _real_jieba().lcut(text, HMM=True)


def test_the_frequencies_are_jiebas() -> None:
    real = _real_jieba()
    ties = tie_cutter()
    freqs = ties.FREQ
    assert isinstance(freqs, Frequencies)
    assert ties.total == real.total
    # Every word and prefix, with its frequency (0 for a prefix that is no word).
    assert len(freqs) == len(real.FREQ)
    for key, value in real.FREQ.items():
        assert freqs.get(key) == value, key
        assert key in freqs
        assert freqs[key] == value
    # A domain word replaces the main dictionary's frequency of the same word.
    assert freqs["漏水"] == real.FREQ["漏水"]
    # Strings that are neither words nor prefixes are absent, as from jieba's dict.
    for missing in ["漏水漏水漏水漏水", "\ue000\ue001", "zzzzqqq", "", "电梯坏了怎么办"]:
        assert missing not in real.FREQ
        assert missing not in freqs
        assert freqs.get(missing) is None
        assert freqs.get(missing, 7) == 7
        with pytest.raises(KeyError):
            freqs[missing]


def test_frequencies_keep_the_last_entry_of_a_word_and_zero_for_prefixes() -> None:
    freqs = Frequencies.gather([("电梯", 5), ("电梯坏", 3), ("电梯", 9), ("电", 0), ("水", 2)])
    assert freqs["电梯"] == 9  # the later entry replaces the earlier
    assert freqs["电梯坏"] == 3
    assert freqs["电"] == 0  # a word of frequency 0, and a prefix
    assert freqs["水"] == 2
    assert len(freqs) == 4
    prefixes = Frequencies.gather([("门禁卡", 4)])
    assert prefixes["门"] == 0 and prefixes["门禁"] == 0 and prefixes["门禁卡"] == 4
    assert "禁卡" not in prefixes


def test_every_corpus_message_is_cut_as_jieba_cuts_it() -> None:
    texts = corpus_texts()
    assert len(texts) > 1000
    for text in texts:
        # As typed, and as the features see it (simplified, normalised).
        assert jieba_words(text) == _jieba(text), text
        norm = normalize(to_simplified(text))
        assert jieba_words(norm) == _jieba(norm), norm


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # A user word already in jieba's dictionary counts twice in jieba's total: close calls
        # between a rare word and two common characters go the way jieba takes them.
        ("有人乱倒剩饭剩菜", ["有人", "乱倒", "剩饭剩菜"]),
        # Runs of letters, digits and signs are cut at the signs unless they are words.
        ("block 0 #0-0", ["block", " ", "0", " ", "#", "0", "-", "0"]),
        ("happy mid-autumn festival", ["happy", " ", "mid", "-", "autumn", " ", "festival"]),
        ("0.5%的滞纳金", ["0.5%", "的", "滞纳金"]),
        # Ties between cuts of a repeated stretch break as jieba breaks them.
        ("急急急了", ["急急", "急", "了"]),
        ("楼上急急急急急了", ["楼上", "急急", "急急", "急", "了"]),
        # Characters jieba does not count as Han are words of their own.
        ("㐀㐀漏水", ["㐀", "㐀", "漏水"]),
    ],
)
def test_jieba_cuts_reproduced(text: str, words: list[str]) -> None:
    assert _jieba(text) == words
    assert jieba_words(text) == words


_POOLS = {
    "han": "漏水马桶堵了电梯不动物业费停电没有燃气味着火冒烟楼上噪音垃圾门禁卡怎么办请问谢谢",
    "latin": "abcxyzAB0129 .-_+#&%'/@:!?()",
    "punctuation": "，。！？、；：（）【】“”…~·—《》",
    "space": " \t\n\r\u3000\u00a0",
    "emoji": "🥮😡👍❤️🏠\u200d\ufe0f",
    "rare han": "\u3400\u4dbf\u9fd6\u9fea\u9fff\uf900\ufa2d\U00020000",
    "full width": "ＡＢ１２＃％",
    "other scripts": "あいカタ한국어éüñßДжαβ٣",
    "traditional": "廚房水龍頭漏水單元電梯壞了",
}


def test_random_text_of_every_kind_is_cut_as_jieba_cuts_it() -> None:
    rng = random.Random(20261206)
    names = list(_POOLS)
    for _ in range(3000):
        chars = "".join(_POOLS[k] for k in rng.sample(names, rng.randint(1, 4)))
        text = "".join(rng.choice(chars) for _ in range(rng.randint(1, 30)))
        assert jieba_words(text) == _jieba(text), text


def test_repeated_stretches_are_cut_as_jieba_cuts_them() -> None:
    # The texts whose ties jieba-rs breaks otherwise, in the dictionary's route or in the hidden
    # Markov model (about 1 in 100 of these differ without jieba's code).
    rng = random.Random(20261207)
    names = list(_POOLS)
    for _ in range(3000):
        chars = "".join(_POOLS[k] for k in rng.sample(names, rng.randint(1, 3)))
        if rng.random() < 0.7:
            chars += _POOLS["han"]
        stretch = "".join(rng.choice(chars) for _ in range(rng.randint(1, 4)))
        before = "".join(rng.choice(chars) for _ in range(rng.randint(0, 8)))
        after = "".join(rng.choice(chars) for _ in range(rng.randint(0, 8)))
        text = before + stretch * rng.randint(3, 6) + after
        assert jieba_words(text) == _jieba(text), text


def test_the_segmenter_is_rjiebas_own_with_the_domain_words() -> None:
    tk = tokenizer()
    assert tk is rjieba.cut.__self__  # type: ignore[attr-defined]
    assert tk.has_word("物业费")
    assert rjieba.cut("交物业费", True) == tk.cut("交物业费", True)


def test_cut_drops_whitespace_only() -> None:
    assert cut("马桶 堵了\n快来") == [w for w in _jieba("马桶 堵了\n快来") if w.strip()]
    assert cut("") == []


def test_features_are_the_prefixed_parts() -> None:
    for text in ["3栋2单元501 马桶堵了！！", "the lift is stuck, block 0 #0-0", "", "  "]:
        words, grams = feature_parts(text)
        assert featurize(text) == [f"w:{w}" for w in words] + [f"c:{g}" for g in grams]
