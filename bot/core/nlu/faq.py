"""FAQ matching: the entry whose question is closest to an owner's message.

Questions and messages are turned into the same kind of TF-IDF vectors the classifiers use
(jieba words and character n-grams from ``features.py``, idf from the training corpus; features
the corpus never saw get the highest idf so that estate-specific words still count). Question
words and particles (怎么, 几点, 吗, what, how …) are left out: they say *that* something is asked,
not *what*, and would make every question look alike. The best entry by cosine similarity wins
if it reaches the threshold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .model import FeatureSpace

_STOP_WORDS = frozenset(
    """
    怎么 怎么办 怎样 怎么样 如何 什么 什么时候 几点 几时 哪 哪里 哪儿 哪个 多少
    吗 呢 吧 啊 呀 哦 了 的 地 得 是 有 没有 在 我 我们 你 你们 他 她 它 这 那
    这个 那个 请问 请 问 一下 可以 能 能不能 可不可以 要 想 会 还 也 都 就 又
    和 与 及 或 或者 给 把 被 让 对 从 到 么 嘛 哈 呗 您 麻烦 谢谢 知道 一个
    what when where which who whom whose why how is are was were be been do does did can could
    will would should shall may might i me my we our you your he she it its they them the a an
    of to in on at for and or if any there this that these those please pls hi hello thanks
    """.split()
)
_STOP_CHARS = frozenset(
    "怎么什几哪吗呢吧啊呀哦了的地得是有没在我们你他她它这那请问一下可以能要想会还也都就又和给把被让对从到您麻烦谢样时候个多少"
)
_PUNCT = re.compile(r"^[\W_0]+$")


def _stem(word: str) -> str:
    """A very light English stemmer: opening → open, hours → hour, parked → park."""
    for suffix, min_len in (("ing", 6), ("ed", 5), ("es", 5), ("s", 4)):
        if len(word) >= min_len and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def faq_features(feats: list[str]) -> list[str]:
    """Keep what says what is asked: content words, Chinese character 1–2-grams, no particles."""
    out = []
    for f in feats:
        kind, body = f[:2], f[2:]
        if kind == "w:":
            if body in _STOP_WORDS or _PUNCT.match(body):
                continue
            if body.isascii():
                f = "w:" + _stem(body)
        elif kind == "c:":
            if len(body) > 2 or body.isascii() or "_" in body or _PUNCT.match(body):
                continue
            if all(c in _STOP_CHARS or not c.isalnum() for c in body):
                continue
        out.append(f)
    return out


__all__ = ["DEFAULT_FAQ_THRESHOLD", "FaqIndex", "faq_features"]

# Chosen with the tests in tests/core/nlu/test_faq.py: paraphrases of a question score
# well above it, unrelated questions on other topics well below.
DEFAULT_FAQ_THRESHOLD = 0.18


class FaqIndex:
    """Cosine-similarity index over FAQ questions."""

    def __init__(
        self,
        entries: Sequence[tuple[str, str]],
        space: FeatureSpace,
        featurize: Callable[[str], list[str]],
        threshold: float = DEFAULT_FAQ_THRESHOLD,
    ) -> None:
        self._space = space
        self._featurize = lambda text: faq_features(featurize(text))
        self.threshold = threshold
        self._entries: list[tuple[str, dict[int | str, float]]] = []
        for key, question in entries:
            vec = space.vector(self._featurize(question or ""), keep_unseen=True)
            if vec:
                self._entries.append((key, vec))

    @classmethod
    def from_features(
        cls,
        entries: Sequence[tuple[str, Sequence[str]]],
        space: FeatureSpace,
        featurize: Callable[[str], list[str]],
        threshold: float = DEFAULT_FAQ_THRESHOLD,
    ) -> FaqIndex:
        """An index over entries whose features were computed before (`match_features` of
        their text, kept in the store): nothing is segmented again to build it."""
        index = cls((), space, featurize, threshold)
        for key, feats in entries:
            vec = space.vector(feats, keep_unseen=True)
            if vec:
                index._entries.append((key, vec))
        return index

    def scores_for(self, feats: Sequence[str]) -> list[tuple[str, float]]:
        """Like `scores`, for a text's features computed before (`match_features`)."""
        query = self._space.vector(feats, keep_unseen=True)
        if not query:
            return [(key, 0.0) for key, _ in self._entries]
        out = []
        for key, vec in self._entries:
            small, big = (query, vec) if len(query) <= len(vec) else (vec, query)
            out.append((key, sum(w * big.get(f, 0.0) for f, w in small.items())))
        return sorted(out, key=lambda kv: -kv[1])

    def best_for(self, feats: Sequence[str]) -> tuple[str, float] | None:
        """Like `best`, for a text's features computed before (`match_features`)."""
        ranked = self.scores_for(feats)
        if not ranked or ranked[0][1] < self.threshold:
            return None
        key, score = ranked[0]
        return key, round(float(score), 4)

    def __len__(self) -> int:
        return len(self._entries)

    def scores(self, text: str) -> list[tuple[str, float]]:
        """Every entry's similarity to the text, best first (ties keep entry order)."""
        return self.scores_for(self._featurize(text or ""))

    def best(self, text: str) -> tuple[str, float] | None:
        """The closest entry and its similarity, or None when none reaches the threshold."""
        ranked = self.scores(text)
        if not ranked or ranked[0][1] < self.threshold:
            return None
        key, score = ranked[0]
        return key, round(float(score), 4)
