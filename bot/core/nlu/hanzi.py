"""Traditional Chinese read as Simplified: one conversion before every rule and feature.

Owners in Hong Kong, Taiwan and Macau (and many older owners on the mainland) write
Traditional characters: ``廚房水龍頭漏水 8棟2單元1103``. The corpus, the lexicons and the unit
markers are all Simplified, so the NLU converts each message once, at the start of
``NLU.understand``, with OpenCC's ``t2s`` configuration; units, location, language,
urgency and features then all see the same Simplified text. Simplified text passes through
unchanged (OpenCC only maps Traditional characters and phrases), and so does pure ASCII.

The converter is built once per process, on first use.
"""

from __future__ import annotations

import threading

import opencc

__all__ = ["to_simplified"]

_lock = threading.Lock()
_converter: opencc.OpenCC | None = None


def _t2s() -> opencc.OpenCC:
    global _converter
    if _converter is None:
        with _lock:
            if _converter is None:
                _converter = opencc.OpenCC("t2s")
    return _converter


def to_simplified(text: str) -> str:
    """The text with Traditional Chinese characters and phrases written in Simplified."""
    if not text or text.isascii():
        return text
    return _t2s().convert(text)
