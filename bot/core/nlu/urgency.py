"""Urgency rules: danger to people or property *now*, in Chinese and English.

The lexicon is data: ``urgency_zh.toml`` and ``urgency_en.toml`` hold the phrases and the word
lists, read and compiled once per process by :mod:`.urgency_lexicon`; adding a phrase is an edit
of those files, whose comments say how. This module applies them.

The lexicon does not depend on the intent model. It looks for eight kinds of danger
(LABELS.md): someone trapped, gas, fire / smoke / sparks / burning smell, water pouring or
flooding or a burst pipe, a whole flat or building without power or water, a threat in
progress, things about to fall on people (a window hanging loose, an open manhole) and
electric shocks.

Each rule is either **hard** or **soft**:

- A *hard* signal is danger however the message is phrased (the product rule: "a message about
  a gas smell, smoke, someone trapped or water pouring is urgent however it is phrased"): a gas
  smell or leak, fire or flames, smoke that is not from cooking or cigarettes, sparks or a
  burning smell from wiring, a person trapped, water pouring / flooding / a burst pipe, a
  threat in progress (a fight, a knife, a break-in). A hard signal makes the message urgent
  on its own; the NLU only drops it when the intent model is all but certain the message is
  a question for information, not a report (``HARD_INTENT_GATE``).
- A *soft* signal is a hint that needs the trained classifier to agree: an outage (is it the
  whole flat, or a planned cut?), a toilet about to overflow, a stranger hanging around, a
  window about to fall, a socket that gave someone a shock, a smell of smoke, a fire alarm.

Both work clause by clause, so a clause that says the danger is over, never was, is planned or
is hypothetical (``昨天的漏水已经修好了``, ``no gas smell anymore``, ``如果着火了怎么办``,
``明天停水吗``) does not count, while ``the leak was fixed but now water is pouring again``
still does. Threats and past events must still be going on (``昨天有人打架`` is a complaint,
not an emergency). Smoke, a smell of burning and the like do not count when the message says
they come from cooking, a barbecue or cigarettes (a complaint about smoking, not a fire);
flames and sparks still do.

A Chinese phrase is only tried on clauses with Chinese in them and an English one on clauses
with a Latin letter; a group none of whose required texts (worked out from its phrases) is in
the message is skipped, all groups' texts being looked for in one pass over the message
(:class:`.urgency_lexicon.GroupGate`); and a group is tried with only those of its phrases
whose own required text is there (:meth:`.urgency_lexicon.Lexicon.patterns`). None of these
changes a result.

:func:`scan` returns the hard and soft kinds found; :func:`urgent_signals` all kinds;
:func:`hard_signals` the hard ones; :func:`rule_urgent` whether any was found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from .urgency_lexicon import KINDS, Group, Lexicon, lexicon

__all__ = [
    "HARD_INTENT_GATE",
    "SIGNALS",
    "Signals",
    "hard_signals",
    "rule_urgent",
    "scan",
    "split_clauses",
    "urgent_signals",
]

_MAX_TEXT = 4000

# A hard signal is ignored only when the intent model is this sure that the message asks for
# information (enquiry or payment): a question that names a danger ("燃气泄漏报警电话是多少",
# "is the fire drill at 10?"), not a report of one. Chit-chat ("other") does not veto it: a short
# alarmed message ("man with a knife!!!") can look like chit-chat to the intent model, and a
# missed emergency costs more than a false alarm.
HARD_INTENT_GATE = 0.9

SIGNALS: tuple[str, ...] = KINDS

# Kinds whose match does not count right after a negation ("没有煤气味", "no smell of gas"); not
# an outage, whose own words are negative ("没电"), nor something about to fall.
_NEGATABLE = frozenset({"gas", "fire", "water", "trapped", "shock", "threat"})
_NEGATION_WINDOW = 12  # characters before a match in which a negation cancels it

_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
# A space between Chinese and Latin letters lets \b see English words inside Chinese text.
_CJK_LATIN = re.compile(r"(?<=[\u4e00-\u9fff])(?=[A-Za-z])|(?<=[A-Za-z])(?=[\u4e00-\u9fff])")


@dataclass(frozen=True)
class Signals:
    """The kinds of danger a message reports as happening now."""

    hard: tuple[str, ...] = ()
    soft: tuple[str, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        found = set(self.hard) | set(self.soft)
        return tuple(k for k in SIGNALS if k in found)

    def __bool__(self) -> bool:
        return bool(self.hard or self.soft)


_NONE = Signals()


def split_clauses(text: str) -> list[str]:
    """Split a message into clauses at sentence ends and contrastive connectives."""
    return [c for c in lexicon().clause_split.split(text) if c and c.strip()]


def _first_live_match(
    lex: Lexicon, clause: str, kind: str, patterns: Iterable[re.Pattern[str] | None]
) -> bool:
    """True when a pattern matches and the match is not negated right before it."""
    for pattern in patterns:
        if pattern is None:
            continue
        for m in pattern.finditer(clause):
            if kind in _NEGATABLE and lex.negation.search(
                clause[max(0, m.start() - _NEGATION_WINDOW) : m.start()]
            ):
                continue
            return True
    return False


def _clause_blocked(lex: Lexicon, clause: str) -> tuple[bool, bool]:
    """(nothing in this clause counts, the clause is about a planned cut or a top-up)."""
    if lex.lists["blocking"].search(clause) and not lex.lists["again"].search(clause):
        return True, False
    if lex.lists["past"].search(clause) and not lex.lists["present"].search(clause):
        return True, False
    planned = lex.lists["planned"].search(clause) is not None and not lex.lists[
        "not_planned"
    ].search(clause)
    return planned and lex.lists["cut"].search(clause) is not None, planned


def _kind_excluded(lex: Lexicon, group: Group, clause: str, planned: bool, nuisance: bool) -> bool:
    """Kind-specific reasons why a match in this clause is not danger now."""
    kind, lists = group.kind, lex.lists
    over = lex.over_for_kind.get(kind)
    if over is not None and over.search(clause) and not lists["still"].search(clause):
        return True
    if kind == "water":
        return bool(lists["watering"].search(clause) or lists["rubbish"].search(clause))
    if kind == "threat":
        return bool(
            lists["animals"].search(clause)
            or (lists["habit"].search(clause) and not lists["present"].search(clause))
        )
    if kind == "outage":
        return planned or (not group.whole_scope and lists["part_only"].search(clause) is not None)
    if kind == "fire":
        return nuisance and lists["fire_worry"].search(clause) is not None
    return False


def _clause_signals(
    lex: Lexicon,
    clause: str,
    groups: Iterable[tuple[Group, re.Pattern[str] | None, re.Pattern[str] | None]],
    nuisance: bool,
    found: set[tuple[str, bool]],
) -> Iterable[tuple[str, bool]]:
    """(kind, hard) for every group that fires in this clause (and was not ``found`` yet);
    ``groups``: each group with its Chinese and English patterns."""
    zh_ok = _CJK.search(clause) is not None
    en_ok = _LATIN.search(clause) is not None
    if not (zh_ok or en_ok):
        return
    state: tuple[bool, bool] | None = None  # computed once, when a pattern first matches
    for group, zh, en in groups:
        key = (group.kind, group.hard)
        if key in found:
            continue
        tried = (zh if zh_ok else None, en if en_ok else None)
        if not _first_live_match(lex, clause, group.kind, tried):
            continue
        if state is None:
            state = _clause_blocked(lex, clause)
        blocked, planned = state
        if blocked:
            return
        if _kind_excluded(lex, group, clause, planned, nuisance):
            continue
        if group.unless is not None and group.unless.search(clause):
            continue
        yield key


def scan(text: str, *, soft: bool = True) -> Signals:
    """The hard and soft kinds of danger the message reports as happening now.

    With ``soft=False`` only the hard rules are tried (the NLU skips the soft ones when the
    classifier has already ruled the message out).
    """
    return _scan(lexicon(), text, soft=soft)


def _scan(lex: Lexicon, text: str, *, soft: bool = True) -> Signals:
    if not text or not text.strip():
        return _NONE
    norm = unicodedata.normalize("NFKC", text[:_MAX_TEXT])
    if _LATIN.search(norm) is not None:  # else there is no Latin letter to set apart
        norm = _CJK_LATIN.sub(" ", norm)
    lower = norm.lower()
    # A Chinese phrase is tried on clauses with Chinese in them, an English one on clauses with
    # a Latin letter; and a group none of whose required texts (its gate) is in the message is
    # not tried at all.
    if lex.gate is not None:
        # All the gates in one pass over the text (a bit mask over lex.groups).
        # Above the groups' bits, the phrases': a group is tried with those phrases only.
        found_texts = lex.gate.groups(lower)
        mask = found_texts & (lex.group_mask if soft else lex.hard_mask)
        groups = []
        while mask:  # the set bits, lowest first: the groups in lexicon order
            low = mask & -mask
            i = low.bit_length() - 1
            groups.append((lex.groups[i], *lex.patterns(i, found_texts)))
            mask ^= low
    else:
        groups = [
            (g, g.zh, g.en)
            for g in lex.groups
            if (soft or g.hard) and (g.gate is None or g.gate.search(lower) is not None)
        ]
    if not groups:
        return _NONE
    # Cooking or smoking only matters to smoke and fire (not searched for when neither is tried).
    nuisance = any(g.smoke or g.kind == "fire" for g, _, _ in groups) and (
        lex.lists["cooking_or_smoking"].search(norm) is not None
    )
    if nuisance:
        groups = [tried for tried in groups if not tried[0].smoke]
    found: set[tuple[str, bool]] = set()  # (kind, hard)
    for clause in lex.clause_split.split(norm):
        if clause and clause.strip():
            found.update(_clause_signals(lex, clause, groups, nuisance, found))
    if not found:
        return _NONE
    found_hard = {kind for kind, hard in found if hard}
    found_soft = {kind for kind, hard in found if not hard}
    return Signals(
        hard=tuple(k for k in SIGNALS if k in found_hard),
        soft=tuple(k for k in SIGNALS if k in found_soft and k not in found_hard),
    )


def urgent_signals(text: str) -> tuple[str, ...]:
    """Return the kinds of danger (hard or soft) the message reports as happening now."""
    return scan(text).kinds


def hard_signals(text: str) -> tuple[str, ...]:
    """Return the kinds of danger found by hard rules: urgent on their own."""
    return scan(text).hard


def rule_urgent(text: str) -> bool:
    """True when the lexicon finds danger happening now (hard or soft)."""
    return bool(scan(text))


def __getattr__(name: str) -> object:
    """``HARD_KINDS``: the kinds some hard signal of the lexicon stands for."""
    if name == "HARD_KINDS":
        return frozenset(g.kind for g in lexicon().groups if g.hard)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
