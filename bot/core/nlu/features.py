"""Text normalisation and the feature strings the classifiers and the FAQ index use.

A message is NFKC-normalised (full-width → ASCII), lower-cased, truncated, and each run of
digits becomes ``0`` (a unit number or a price says nothing about the intent). Features are
jieba words (``w:``) plus character 1–3-grams (``c:``, no single ASCII characters) of the
text with spaces squeezed, which carry Chinese meaning below the word level and survive
typos. (Word bigrams and character 4-grams were tried and did not help in cross-validation.)

The text featurized is the one the NLU reads: converted to Simplified Chinese first
(``hanzi.to_simplified``), at run time and at training time alike. :data:`FEATURE_VERSION`
names what turns a message into feature text; it is part of the model fingerprint, so changing
it (or the conversion) makes every trained artifact stale.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from itertools import compress, filterfalse

from .segment import jieba_words

__all__ = ["FEATURE_VERSION", "MAX_FEATURE_CHARS", "feature_parts", "featurize", "normalize"]

# Bump when the text that reaches featurize() changes for some input: 2 = Traditional Chinese
# converted to Simplified (OpenCC t2s) before featurizing.
FEATURE_VERSION = "features-2-t2s"
MAX_FEATURE_CHARS = 2000

_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_PUNCT_ONLY = re.compile(r"^[\W_]+$")


def normalize(text: str) -> str:
    """NFKC, lower case, digits → ``0``, whitespace squeezed, at most MAX_FEATURE_CHARS."""
    text = unicodedata.normalize("NFKC", text[: MAX_FEATURE_CHARS * 2])[:MAX_FEATURE_CHARS]
    text = _DIGITS.sub("0", text.lower())
    return _SPACES.sub(" ", text).strip()


class _WordCache(dict[str, bool]):
    """word → whether it is a feature (not punctuation, underscores or whitespace only): a
    lookup in C for a word seen before, worked out on a miss (the answers kept per word)."""

    def __missing__(self, word: str) -> bool:
        if len(self) >= _CACHE_SIZE:
            self.clear()
        keep = _PUNCT_ONLY.match(word) is None
        self[word] = keep
        return keep


_CACHE_SIZE = 50_000
_IS_FEATURE = _WordCache()


def feature_parts(text: str) -> tuple[list[str], list[str]]:
    """The words and the character n-grams of a message, whose features are ``w:<word>`` and
    ``c:<gram>`` (with repeats), as :func:`featurize` lists them; the NLU scores them as they
    are, without building the prefixed strings."""
    norm = normalize(text)
    if not norm:
        return [], []
    # jieba's words, whitespace included, which _PUNCT_ONLY drops with the punctuation.
    every = jieba_words(norm)
    words = list(compress(every, map(_IS_FEATURE.__getitem__, every)))
    chars = norm.replace(" ", "_")
    # Single Latin letters and digits say nothing; single Chinese characters do.
    grams = list(filterfalse(str.isascii, chars))
    pairs = list(map(operator.add, chars, chars[1:]))
    grams += pairs
    grams += map(operator.add, pairs, chars[2:])
    return words, grams


def featurize(text: str) -> list[str]:
    """Return the feature strings of a message (with repeats: counts matter)."""
    words, grams = feature_parts(text)
    return [f"w:{w}" for w in words] + [f"c:{g}" for g in grams]
