"""Chinese word segmentation: a private jieba tokenizer with the estate domain dictionary.

The dictionary (``userdict.txt`` beside this module, one ``word frequency`` a line) teaches
jieba the words of property management (漏水, 物业费, 滞纳金, 门禁卡, 化粪池 …) so they stay
whole. The tokenizer is a private ``jieba.Tokenizer`` (never the global one), built once per
process on first use; jieba's own log is kept quiet. jieba caches its main dictionary in the
temp directory; nothing is downloaded.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import jieba

__all__ = ["USERDICT_PATH", "cut", "tokenizer", "userdict_words"]

USERDICT_PATH: Path = Path(__file__).with_name("userdict.txt")

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def _quiet_jieba() -> None:
    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("jieba").setLevel(logging.WARNING)


def userdict_words() -> list[str]:
    """The words of the domain dictionary, in file order."""
    words = []
    for line in USERDICT_PATH.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            words.append(line.split()[0])
    return words


def tokenizer() -> jieba.Tokenizer:
    """Return the process-wide private tokenizer, initialising it (once) on first call."""
    global _tokenizer
    if _tokenizer is not None:
        return _tokenizer
    with _lock:
        if _tokenizer is None:
            _quiet_jieba()
            tk = jieba.Tokenizer()
            tk.initialize()
            tk.load_userdict(str(USERDICT_PATH))
            _tokenizer = tk
    return _tokenizer


def cut(text: str) -> list[str]:
    """Segment text into words (precise mode, HMM on), dropping pure whitespace tokens."""
    return [w for w in tokenizer().lcut(text, HMM=True) if w.strip()]
