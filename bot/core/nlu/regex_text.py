"""What text every match of a regular expression must contain, read from the pattern itself.

The urgency lexicon uses it to skip, with one fast search of the message, the groups of phrases
that cannot match (a *gate*), and to check that a Chinese phrase needs a Chinese character. It
reads the part of Python's syntax that the lexicon uses (literals, escaped punctuation, ``\\b``
``\\w`` ``\\d`` ``\\s`` and their opposites, ``.``, classes, groups, alternation, lookarounds,
anchors and repeats) and raises :class:`UnreadPattern` on anything else (backreferences,
conditionals, inline flags, ``\\x`` or ``\\u`` escapes) rather than guess. Its answers err on
the safe side: a text is said to be required only when every match contains it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["UnreadPattern", "needs_char", "required_texts"]


class UnreadPattern(ValueError):
    """The pattern uses syntax this module does not read."""


@dataclass(frozen=True)
class _Lit:
    char: str


@dataclass(frozen=True)
class _Other:
    """Any character or a class of them; with ``width`` 0 an anchor or a lookaround."""

    width: int = 1


@dataclass(frozen=True)
class _Alt:
    branches: tuple[tuple[_Node, ...], ...]


@dataclass(frozen=True)
class _Repeat:
    node: _Node
    least: int


_Node = _Lit | _Other | _Alt | _Repeat
_ZERO_WIDTH_ESCAPES = frozenset("bBAZ")
_CLASS_ESCAPES = frozenset("dDwWsS")
_COUNT = re.compile(r"\{(\d*)(,?)(\d*)\}")
_OPENERS = (("?:", False), ("?=", True), ("?!", True), ("?<=", True), ("?<!", True))
_NAMED = re.compile(r"\?P<\w+>")


class _Reader:
    """A recursive-descent reading of one pattern."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def read(self) -> _Alt:
        alt = self.alternation()
        if self.i != len(self.p):
            raise UnreadPattern(f"an unmatched ')' at {self.i}")
        return alt

    def alternation(self) -> _Alt:
        branches = [self.sequence()]
        while self.p.startswith("|", self.i):
            self.i += 1
            branches.append(self.sequence())
        return _Alt(tuple(branches))

    def sequence(self) -> tuple[_Node, ...]:
        items: list[_Node] = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            items.append(self.repeat(self.atom()))
        return tuple(items)

    def atom(self) -> _Node:
        c = self.p[self.i]
        self.i += 1
        if c == "\\":
            return self.escape()
        if c == "[":
            return self.char_class()
        if c == "(":
            return self.group()
        if c == ".":
            return _Other()
        if c in "^$":
            return _Other(0)
        if c in "*+?{":
            raise UnreadPattern(f"{c!r} with nothing to repeat")
        return _Lit(c)

    def escape(self) -> _Node:
        if self.i >= len(self.p):
            raise UnreadPattern("a backslash at the end")
        e = self.p[self.i]
        self.i += 1
        if e in _ZERO_WIDTH_ESCAPES:
            return _Other(0)
        if e in _CLASS_ESCAPES:
            return _Other()
        if e.isalnum() or e == "_":
            raise UnreadPattern(f"the escape \\{e}")
        return _Lit(e)

    def char_class(self) -> _Other:
        p, i = self.p, self.i
        if p.startswith("^", i):
            i += 1
        if p.startswith("]", i):  # a ']' first is itself a member
            i += 1
        while i < len(p) and p[i] != "]":
            i += 2 if p[i] == "\\" else 1
        if i >= len(p):
            raise UnreadPattern("an unclosed '['")
        self.i = i + 1
        return _Other()

    def group(self) -> _Node:
        p, lookaround = self.p, False
        if p.startswith("?", self.i):
            opened = next(((o, a) for o, a in _OPENERS if p.startswith(o, self.i)), None)
            if opened is None:
                named = _NAMED.match(p, self.i)
                if named is None:
                    raise UnreadPattern(f"the group '({p[self.i : self.i + 3]}'")
                opened = (named.group(), False)
            self.i += len(opened[0])
            lookaround = opened[1]
        inner = self.alternation()
        if not p.startswith(")", self.i):
            raise UnreadPattern("an unclosed '('")
        self.i += 1
        return _Other(0) if lookaround else inner

    def repeat(self, atom: _Node) -> _Node:
        p = self.p
        if self.i >= len(p) or p[self.i] not in "?*+{":
            return atom
        if p[self.i] == "{":
            m = _COUNT.match(p, self.i)
            if m is None or not (m.group(1) or m.group(2)):
                raise UnreadPattern("a '{' that is not a count of repeats")
            least = int(m.group(1) or 0)
            self.i = m.end()
        else:
            least = 1 if p[self.i] == "+" else 0
            self.i += 1
        if p.startswith(("?", "+"), self.i):  # lazy or possessive
            self.i += 1
        if self.i < len(p) and p[self.i] in "?*+{":
            raise UnreadPattern("a repeat of a repeat")
        return _Repeat(atom, least)


def _required_in(node: _Node) -> list[frozenset[str]]:
    if isinstance(node, _Lit):
        return [frozenset({node.char.lower()})]
    if isinstance(node, _Alt):
        return _alternatives(node)
    if isinstance(node, _Repeat) and node.least >= 1:
        return _required_in(node.node)
    return []


def _sequence(items: Sequence[_Node]) -> list[frozenset[str]]:
    """Sets of texts such that every match of the sequence contains a text of each set."""
    out: list[frozenset[str]] = []
    run: list[str] = []
    for node in items:
        if isinstance(node, _Lit):
            run.append(node.char.lower())
        elif not (isinstance(node, _Other) and node.width == 0):  # zero width: the run goes on
            if run:
                out.append(frozenset({"".join(run)}))
                run = []
            out.extend(_required_in(node))
    if run:
        out.append(frozenset({"".join(run)}))
    return out


def _best(candidates: list[frozenset[str]]) -> frozenset[str]:
    """The most selective set: the longest shortest text, then the fewest texts."""
    return max(candidates, key=lambda c: (min(len(x) for x in c), -len(c)))


def _alternatives(alt: _Alt) -> list[frozenset[str]]:
    per_branch = [_sequence(b) for b in alt.branches]
    if len(per_branch) == 1:
        return per_branch[0]
    if not all(per_branch):
        return []
    return [frozenset().union(*(_best(c) for c in per_branch))]


def required_texts(pattern: str) -> frozenset[str] | None:
    """Lower-case texts one of which every match contains (case-insensitive); None if none.

    ``电梯.{0,4}关人`` gives {"电梯"}; ``(?:煤气|燃气)味`` gives {"煤气", "燃气"}; ``.*`` None.
    """
    candidates = _alternatives(_Reader(pattern).read())
    return _best(candidates) if candidates else None


def _needs(items: Sequence[_Node], wanted: Callable[[str], bool]) -> bool:
    for node in items:
        if isinstance(node, _Repeat):
            if node.least < 1:
                continue
            node = node.node
        if isinstance(node, _Lit) and wanted(node.char):
            return True
        if isinstance(node, _Alt) and all(_needs(b, wanted) for b in node.branches):
            return True
    return False


def needs_char(pattern: str, wanted: Callable[[str], bool]) -> bool:
    """True when every match contains a character of the pattern's own that ``wanted`` takes.

    ``needs_char("(?:gas|煤气)味", is_chinese)`` is True (味); ``"gas|煤气"`` is False.
    """
    return _needs((_Reader(pattern).read(),), wanted)
