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

import re
import unicodedata

from .segment import cut

__all__ = ["FEATURE_VERSION", "MAX_FEATURE_CHARS", "featurize", "normalize"]

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


def featurize(text: str) -> list[str]:
    """Return the feature strings of a message (with repeats: counts matter)."""
    norm = normalize(text)
    if not norm:
        return []
    words = [w for w in cut(norm) if w != " " and not _PUNCT_ONLY.match(w)]
    feats = [f"w:{w}" for w in words]
    chars = norm.replace(" ", "_")
    n = len(chars)
    # Single Latin letters and digits say nothing; single Chinese characters do.
    feats.extend(f"c:{c}" for c in chars if not c.isascii())
    for size in (2, 3):
        feats.extend(f"c:{chars[i : i + size]}" for i in range(n - size + 1))
    return feats
