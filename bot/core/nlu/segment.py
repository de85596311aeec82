"""Chinese word segmentation: jieba's words, cut by jieba-rs, with the estate domain dictionary.

The dictionary (``userdict.txt`` beside this module, one ``word frequency`` a line) teaches the
segmenter the words of property management (漏水, 物业费, 滞纳金, 门禁卡, 化粪池 …) so they stay
whole.

The words are the ones jieba (the Python package, precise mode, HMM on) gives, but the cutting
is done by ``rjieba``, the binding of jieba-rs, about 25 times faster (a few microseconds a
message instead of over a hundred). Four differences between the two are undone here, so that
the words, and so the features and the trained model, stay jieba's:

- jieba splits a text into blocks of Han characters, Latin letters, digits and ``+#&._%-`` and
  yields everything else one character at a time; jieba-rs counts more characters as Han (CJK
  extension A and B, the compatibility ideographs). A text with such a character is split into
  blocks here with jieba's own pattern, and only the blocks go to jieba-rs.
- jieba cuts a run of Latin letters, digits and signs that is not a dictionary word at the
  signs (``0-0`` → ``0`` ``-`` ``0``, ``mid-autumn`` → ``mid`` ``-`` ``autumn``); jieba-rs keeps
  it whole. Such a word is cut again here with jieba's pattern.
- jieba adds a user word's frequency to the dictionary's total even when the word was already
  in the dictionary; jieba-rs replaces it. The total decides close calls (``乱倒`` or ``乱``
  ``倒``), so a word that matches nothing (two private-use characters) makes up the difference.
- A stretch repeated three times running (急急急) can be cut two ways that score the same, and
  the two break such ties differently: jieba itself cuts those texts (about 1 in 100).

``tests/core/nlu/test_segment.py`` checks the words against jieba's on the corpus and on random
texts of every kind of character. Measured: the same words for all 6,271 messages of the corpus,
the labelled sets and the location sets, and for 60,000 random strings but 1 (a string of
shuffled Han characters where the two hidden Markov models part). The segmenter and jieba are
both built once per process on first use (about a second); nothing is downloaded.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import jieba
import rjieba

__all__ = ["USERDICT_PATH", "cut", "tokenizer", "userdict_words"]

USERDICT_PATH: Path = Path(__file__).with_name("userdict.txt")

# jieba's block pattern (``jieba.re_han_default``) and how it re-cuts a run of Latin letters and
# digits that is not a word (``jieba.finalseg.re_skip``).
_BLOCK = re.compile(r"([\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-]+)")
_ALNUM_RUN = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")
_ALNUM = re.compile(r"[a-zA-Z0-9]+")
_SPACE = re.compile(r"(\r\n|\s)")
# Text with none of these is cut by jieba-rs whole (the blocks come out the same); text with one
# of them block by block. Characters jieba-rs counts as Han and jieba does not, and line ends.
_BY_BLOCK = re.compile(r"[\u3400-\u4dbf\u9fd6-\u9fff\uf900-\ufaff\U00020000-\U0010ffff\r]")
# A text that repeats a stretch three times running (急急急, 哈哈哈, 天天门楼上 ×3) can be cut two
# ways that score exactly the same, and the two break such ties differently: jieba cuts it.
_REPEATS = re.compile(r"([\u4e00-\u9fd5a-zA-Z0-9+#&._%\-]{1,12})\1\1")
# Signs that a run of Latin letters and digits may hold, for jieba to cut it at them.
_SIGNS = re.compile(r"[+#&._%\-]")
# A word that occurs in no text: it only carries the frequency that makes the totals agree.
_BALANCE_WORD = "\ue000\ue001"

_lock = threading.Lock()
_tokenizer: rjieba.Jieba | None = None
_reference: jieba.Tokenizer | None = None


def userdict_entries() -> list[tuple[str, int]]:
    """``(word, frequency)`` of the domain dictionary, in file order."""
    entries = []
    for line in USERDICT_PATH.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts:
            entries.append((parts[0], int(parts[1])))
    return entries


def userdict_words() -> list[str]:
    """The words of the domain dictionary, in file order."""
    return [word for word, _ in userdict_entries()]


def _main_dictionary_freqs(words: Iterable[str]) -> dict[str, int]:
    """The frequencies of ``words`` in jieba's main dictionary (jieba-rs embeds the same file;
    jieba's package ships it as ``dict.txt``)."""
    wanted = set(words)
    found: dict[str, int] = {}
    with resources.files("jieba").joinpath("dict.txt").open("r", encoding="utf-8") as f:
        for line in f:
            word, _, rest = line.partition(" ")
            if word in wanted:
                found[word] = int(rest.split()[0])
    return found


def _build() -> rjieba.Jieba:
    tk = rjieba.Jieba()
    entries = userdict_entries()
    before = _main_dictionary_freqs(word for word, _ in entries)
    balance = 0
    for word, freq in entries:
        # jieba's total grows by every user word's frequency; jieba-rs's only by the change.
        balance += before.get(word, 0)
        before[word] = freq  # a word listed twice: its second entry replaces the first
        tk.add_word(word, freq, None)
    if balance:
        tk.add_word(_BALANCE_WORD, balance, None)
    return tk


def _quiet_jieba() -> None:
    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("jieba").setLevel(logging.WARNING)


def reference() -> jieba.Tokenizer:
    """jieba itself (a private tokenizer with the domain dictionary), built once: it cuts the
    texts whose ties jieba-rs breaks differently, and the tests compare against it."""
    global _reference
    if _reference is not None:
        return _reference
    with _lock:
        if _reference is None:
            _quiet_jieba()
            ref = jieba.Tokenizer()
            ref.initialize()
            ref.load_userdict(str(USERDICT_PATH))
            _reference = ref
    return _reference


def tokenizer() -> rjieba.Jieba:
    """Return the process-wide segmenter, building it and jieba (once) on first call."""
    global _tokenizer
    if _tokenizer is not None:
        return _tokenizer
    reference()
    with _lock:
        if _tokenizer is None:
            _tokenizer = _build()
    return _tokenizer


def _recut_signs(tk: rjieba.Jieba, words: list[str]) -> list[str]:
    """Cut runs of Latin letters, digits and signs that are not words at the signs, as jieba."""
    out: list[str] = []
    for word in words:
        if (
            len(word) > 1
            and word.isascii()
            and not _ALNUM.fullmatch(word)
            and not tk.has_word(word)
        ):
            out.extend(piece for piece in _ALNUM_RUN.split(word) if piece)
        else:
            out.append(word)
    return out


def jieba_words(text: str) -> list[str]:
    """jieba's ``lcut(text, HMM=True)``: every word, whitespace included."""
    tk = tokenizer()
    if _REPEATS.search(text) is not None:
        return reference().lcut(text, HMM=True)
    if _BY_BLOCK.search(text) is None:
        words = tk.cut(text, True)
        return _recut_signs(tk, words) if _SIGNS.search(text) else words
    out: list[str] = []
    for i, block in enumerate(_BLOCK.split(text)):
        if not block:
            continue
        if i % 2:  # a captured block of Han, Latin letters, digits and signs
            words = tk.cut(block, True)
            out.extend(_recut_signs(tk, words) if _SIGNS.search(block) else words)
            continue
        for piece in _SPACE.split(block):
            if not piece:
                continue
            if _SPACE.fullmatch(piece):
                out.append(piece)
            else:
                out.extend(piece)
    return out


def cut(text: str) -> list[str]:
    """Segment text into words (jieba's precise mode, HMM on), dropping whitespace tokens."""
    return [w for w in jieba_words(text) if w.strip()]
