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
- A stretch repeated three times running (急急急) can be cut two ways that score the same, in
  the dictionary's route or in the hidden Markov model, and the two break such ties
  differently: jieba's own code cuts those texts (about 1 in 100).

jieba's code is used for those texts, but not jieba's dictionary as jieba keeps it: a dict of
every word and every prefix of a word, about 70 MB in this process. `Frequencies` holds the same
numbers as two sorted arrays keyed by the strings' hashes (about 7 MB), and jieba's tokenizer
reads it in place of its dict. jieba-rs's own segmenter is the one ``rjieba`` builds when it is
imported (its module-level ``cut``), with the domain words added, rather than a second copy.

``tests/core/nlu/test_segment.py`` checks the words against jieba's (jieba itself, with its own
dictionary) on the corpus and on random texts of every kind of character and of repeated
stretches, and `Frequencies` against jieba's dict. Measured: the same words for all 6,271
messages of the corpus, the labelled sets and the location sets, and for 60,000 random strings
but 1 (a string of shuffled Han characters where the two hidden Markov models part). Both are
built once per process on first use (about a second); nothing is downloaded.
"""

from __future__ import annotations

import re
import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from importlib import resources
from itertools import chain
from pathlib import Path

import jieba
import numpy as np
import rjieba

__all__ = ["USERDICT_PATH", "Frequencies", "cut", "jieba_words", "tokenizer", "userdict_words"]

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
# Marks a prefix of a word while the frequencies are gathered (a word's own frequency is >= 0).
_PREFIX = -1

_lock = threading.Lock()
_tokenizer: rjieba.Jieba | None = None
_ties: jieba.Tokenizer | None = None


def _hash(text: str) -> int:
    return hash(text.encode("utf-8", "surrogatepass"))


class Frequencies:
    """jieba's ``FREQ``: the frequency of every word of the dictionary, and 0 for every prefix
    of a word that is not a word itself, looked up as jieba looks it up (``in``, ``[]``,
    ``get``). Kept as the sorted hashes of the strings and their frequencies, two arrays, with
    no string kept. The hash is that of the string's UTF-8 bytes: a string's own hash is taken
    over its stored code units, the same for ``BP`` and ``偂`` (0x5042). Two strings of the same
    hash would share an entry: with about 500,000 keys and 64-bit hashes, about one chance in
    10^13 per lookup of a string that is not a key."""

    __slots__ = ("_freqs", "_hashes", "_size")

    def __init__(self, hashes: array[int], freqs: array[int]) -> None:
        self._hashes = hashes
        self._freqs = freqs
        self._size = len(hashes)

    @classmethod
    def gather(cls, entries: Iterable[tuple[str, int]]) -> Frequencies:
        """Build from ``(word, frequency)`` in the order jieba adds them: a later entry of a
        word replaces an earlier one; a prefix that is no word's entry counts 0."""
        hashes: array[int] = array("q")
        freqs: array[int] = array("q")
        for word, freq in entries:
            hashes.append(_hash(word))
            freqs.append(freq)
            for end in range(1, len(word)):
                hashes.append(_hash(word[:end]))
                freqs.append(_PREFIX)
        keys = np.frombuffer(hashes, dtype=np.int64)
        values = np.frombuffer(freqs, dtype=np.int64)
        order = np.argsort(keys, kind="stable")  # equal keys stay in the order they came
        keys, values = keys[order], values[order]
        # For each key, the last word entry among its entries, if it has one.
        position = np.arange(len(values))
        last_word = np.maximum.accumulate(np.where(values != _PREFIX, position, -1))
        ends = np.flatnonzero(np.append(keys[1:] != keys[:-1], True))
        starts = np.concatenate(([0], ends[:-1] + 1))
        found = last_word[ends]
        result = np.where(found >= starts, values[np.maximum(found, 0)], 0)
        out_keys: array[int] = array("q")
        out_keys.frombytes(keys[ends].tobytes())
        out_freqs: array[int] = array("q")
        out_freqs.frombytes(result.astype(np.int64).tobytes())
        return cls(out_keys, out_freqs)

    def __len__(self) -> int:
        return self._size

    def _find(self, key: str) -> int:
        h = _hash(key)
        i = bisect_left(self._hashes, h)
        return i if i < self._size and self._hashes[i] == h else -1

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) >= 0

    def __getitem__(self, key: str) -> int:
        i = self._find(key)
        if i < 0:
            raise KeyError(key)
        return self._freqs[i]

    def get(self, key: str, default: int | None = None) -> int | None:
        i = self._find(key)
        return self._freqs[i] if i >= 0 else default


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


def _main_dictionary() -> Iterable[tuple[str, int]]:
    """``(word, frequency)`` of jieba's main dictionary, read as jieba reads it (jieba-rs embeds
    the same file; jieba's package ships it as ``dict.txt``)."""
    with resources.files("jieba").joinpath("dict.txt").open("r", encoding="utf-8") as f:
        for line in f:
            word, freq = line.strip().split(" ")[:2]
            yield word, int(freq)


def _build() -> tuple[rjieba.Jieba, jieba.Tokenizer]:
    """jieba-rs's segmenter and jieba's own for the ties, both with the domain words."""
    entries = userdict_entries()
    domain = {word for word, _ in entries}
    before: dict[str, int] = {}
    total = 0

    def main_words() -> Iterable[tuple[str, int]]:
        nonlocal total
        for word, freq in _main_dictionary():
            total += freq
            if word in domain:
                before[word] = freq
            yield word, freq

    # jieba's dictionary, then the domain words as ``load_userdict`` adds them.
    freqs = Frequencies.gather(chain(main_words(), entries))
    total += sum(freq for _, freq in entries)
    ties = jieba.Tokenizer()
    ties.FREQ = freqs  # type: ignore[assignment]  # read only through in, [] and get
    ties.total = total
    ties.initialized = True
    for word, freq in entries:
        if freq == 0:  # as jieba's add_word: the hidden Markov model must not join it
            jieba.finalseg.add_force_split(word)

    # rjieba built a segmenter with jieba's dictionary when it was imported (what its module
    # functions use): the domain words go into that one.
    tk: rjieba.Jieba = rjieba.cut.__self__  # type: ignore[attr-defined]
    balance = 0
    for word, freq in entries:
        # jieba's total grows by every user word's frequency; jieba-rs's only by the change.
        balance += before.get(word, 0)
        before[word] = freq  # a word listed twice: its second entry replaces the first
        tk.add_word(word, freq, None)
    if balance:
        tk.add_word(_BALANCE_WORD, balance, None)
    return tk, ties


def tokenizer() -> rjieba.Jieba:
    """Return the process-wide segmenter, building it (and jieba's for the ties) on first call."""
    global _tokenizer, _ties
    if _tokenizer is not None:
        return _tokenizer
    with _lock:
        if _tokenizer is None:
            _tokenizer, _ties = _build()
    return _tokenizer


def _tie_cutter() -> jieba.Tokenizer:
    tokenizer()
    assert _ties is not None
    return _ties


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
        return _tie_cutter().lcut(text, HMM=True)
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
