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
_STRIP = re.compile(
    r"@\S+"  # mentions, with a Chinese or English name
    r"|https?://\S+|www\.\S+"  # links
    r"|[\w.+-]+@[\w-]+\.[\w.]+"  # e-mail
    # unit expressions: B座, 3栋, 5号楼, 2单元, 1202室, 3#楼, 十二栋
    r"|[A-Za-z0-9一二三四五六七八九十零两]{1,6}\s*(?:号楼|栋|幢|座|单元|室|号房|#楼)"
    r"|[A-Za-z]*\d[A-Za-z0-9]*"  # codes with digits: B2, 5G, 20240315XXXX
)
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


def _english_words(text: str) -> list[str]:
    words = []
    for w in _WORD.findall(text):
        low = w.lower()
        if low in _LOANWORDS:
            continue
        if w.isupper() and len(w) <= 4 and low not in {"help", "pls", "now", "asap"}:
            continue  # acronyms: KTV, SUV, JJ, AA
        if len(w) == 1 and low not in {"i", "a"}:
            continue
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
    stripped = _STRIP.sub(" ", text)
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
