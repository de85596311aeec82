"""Language of an owner message: ``zh``, ``en`` or ``mixed`` (see LABELS.md).

``mixed`` means the owner really mixed Chinese and English *words*. Things that carry no
language are ignored first: @mentions (``@管家``), URLs, e-mail addresses, unit expressions
(``B座1202``, ``3栋``, ``5号楼``), codes with digits (``SUV``-style plates, order numbers) and
short upper-case acronyms and loanwords that Chinese writers use as Chinese (``APP``, ``WiFi``,
``KTV``, ``VIP``). A message with neither Chinese nor English words (emoji, digits) is ``zh``,
the front desk's default.

Only Chinese unit markers are ignored, not English ones (``Tower 2 Unit 1502 的物业费`` stays
``mixed``): what matters is the reply, and ``mixed`` replies in Chinese anyway, whereas an
English message naming ``B座1202`` must get an English reply.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

__all__ = ["Lang", "detect_lang"]

Lang = Literal["zh", "en", "mixed"]

_MAX_TEXT = 4000
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# What is stripped before the words are counted, as (alternative, a text it needs): an
# alternative whose needed text is not in a message cannot match it, and is left out of the
# pattern used on that message (with the others in the same order, the result is the same);
# the e-mail and code alternatives cost the most, trying every position of every word.
_STRIP_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"@\S+", ("@",)),  # mentions, with a Chinese or English name
    (r"https?://\S+", ("http",)),  # links
    (r"www\.\S+", ("www.",)),
    (r"[\w.+-]+@[\w-]+\.[\w.]+", ("@",)),  # e-mail
    # unit expressions: B座, 3栋, 5号楼, 2单元, 1202室, 3#楼, 十二栋
    (
        r"[A-Za-z0-9一二三四五六七八九十零两]{1,6}\s*(?:号楼|栋|幢|座|单元|室|号房|#楼)",
        ("号楼", "栋", "幢", "座", "单元", "室", "号房", "#楼"),
    ),
    (r"[A-Za-z]*\d[A-Za-z0-9]*", ()),  # codes with digits: B2, 5G, 20240315XXXX
)
_DIGIT = re.compile(r"\d")
_STRIP_VARIANTS: dict[tuple[bool, ...], re.Pattern[str] | None] = {}


def _strip_pattern(text: str) -> re.Pattern[str] | None:
    """The strip pattern with only the alternatives that can match ``text`` (None: none can)."""
    key = tuple(
        (any(n in text for n in needs) if needs else _DIGIT.search(text) is not None)
        for _, needs in _STRIP_PARTS
    )
    if key not in _STRIP_VARIANTS:  # at most 2⁶ patterns, each compiled once
        parts = [rx for (rx, _), can in zip(_STRIP_PARTS, key, strict=True) if can]
        _STRIP_VARIANTS[key] = re.compile("|".join(parts)) if parts else None
    return _STRIP_VARIANTS[key]


# Latin words that Chinese writers use inside Chinese (lower-cased).
_LOANWORDS = frozenset(
    """
    app apps wifi wi fi iphone ipad ipod mac android ios pdf ppt excel word wps
    ktv suv vip diy atm pos usb led lcd tv cctv pm am qq wechat vx wx id
    yyds xx xxx xxxx ps aa kfc mall dna gps nfc
    """.split()
)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_ANY_LATIN = re.compile(r"[A-Za-z]")


def _is_english_word(w: str) -> bool:
    low = w.lower()
    if low in _LOANWORDS:
        return False
    if w.isupper() and len(w) <= 4 and low not in {"help", "pls", "now", "asap"}:
        return False  # acronyms: KTV, SUV, JJ, AA
    return not (len(w) == 1 and low not in {"i", "a"})


# Each word's answer, kept (a pure function of the word); cleared when it grows too big.
_WORD_CACHE: dict[str, bool] = {}
_CACHE_SIZE = 50_000


def _english_words(text: str) -> list[str]:
    words = []
    cache = _WORD_CACHE
    for w in _WORD.findall(text):
        english = cache.get(w)
        if english is None:
            english = _is_english_word(w)
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[w] = english
        if english:
            words.append(w)
    return words


def detect_lang(text: str) -> Lang:
    """Return ``"zh"``, ``"en"`` or ``"mixed"`` for a message."""
    if not text:
        return "zh"
    text = unicodedata.normalize("NFKC", text[:_MAX_TEXT])
    if _ANY_LATIN.search(text) is None:
        # No English word can be found below, and nothing else makes a message English.
        return "zh"
    strip = _strip_pattern(text)
    stripped = strip.sub(" ", text) if strip is not None else text
    cjk = len(_CJK.findall(stripped))
    words = _english_words(stripped)
    if cjk and words:
        return "mixed"
    if words:
        return "en"
    if cjk:
        return "zh"
    # Nothing but units, codes, mentions or emoji: judge by what the raw text holds.
    if _CJK.search(text) is None and re.search(r"[A-Za-z]{2,}", text):
        return "en"
    return "zh"
