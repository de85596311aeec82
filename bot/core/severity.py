"""A complaint's suggested severity (严重 / 重要 / 一般), from the NLU's output and the words.

The rule is deliberately simple and visible (staff change the result with `等级 C-0003 重要`):

- 严重 (serious): the NLU took the message for urgent (someone in danger), or it speaks of
  safety, injury, the police, the media or the government hotline;
- 重要 (important): it says the matter keeps happening or was reported before;
- 一般 (general): anything else.
"""

from __future__ import annotations

from bot.core.nlu import Understanding
from models import Severity

SERIOUS_WORDS = (
    "安全",
    "受伤",
    "危险",
    "报警",
    "110",
    "12345",
    "媒体",
    "曝光",
    "起诉",
    "律师",
    "市长热线",
    "injur",
    "danger",
    "police",
    "lawyer",
    "media",
)
IMPORTANT_WORDS = (
    "多次",
    "反复",
    "一直",
    "又来",
    "又坏",
    "再次",
    "还没",
    "几次",
    "好几天",
    "again",
    "still",
    "repeated",
    "several times",
)


def suggest_severity(understanding: Understanding | None, text: str) -> Severity:
    """The severity the router suggests for a complaint."""
    lowered = text.lower()
    if (understanding is not None and understanding.urgent) or any(
        word in lowered for word in SERIOUS_WORDS
    ):
        return Severity.SERIOUS
    if any(word in lowered for word in IMPORTANT_WORDS):
        return Severity.IMPORTANT
    return Severity.GENERAL
