"""The duplicate check of a repair or complaint compares the features each open ticket kept
when it was opened (issue 17): no candidate's text is segmented again for a new report."""

from __future__ import annotations

import pytest
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.connection import connections

from bot.core.nlu import NLU, features
from bot.core.types import Platform
from models import Department, Ticket, TicketKind, TicketReporter
from models.lifecycle import open_ticket
from tests.desk import OWNERS, Desk


async def _lift_ticket(desk: Desk, text: str, user: str, features: list[str] | None) -> Ticket:
    return await open_ticket(
        estate=desk.estate,
        kind=TicketKind.REPAIR,
        department=Department.ENGINEERING,
        text=text,
        platform=Platform.WEBCHAT,
        chat_id=OWNERS.chat_id,
        message_id=f"m-{user}",
        reporter_id=user,
        location_place="lift",
        location_building="3",
        now=desk.clock.now(),
        features=features,
    )


@pytest.fixture
def segmented(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the NLU segments from now on (a spy on its features' segmenter that still
    segments: the answers are the NLU's own)."""
    texts: list[str] = []
    segment = features.jieba_words

    def counting(text: str) -> list[str]:
        texts.append(text)
        return segment(text)

    monkeypatch.setattr(features, "jieba_words", counting)
    return texts


async def test_the_duplicate_check_segments_no_candidate_text(
    desk: Desk, nlu: NLU, segmented: list[str]
) -> None:
    others = ["3号楼电梯按钮不亮了", "3号楼电梯门关不上", "3号楼电梯里的灯坏了", "3号楼电梯有异响"]
    for i, text in enumerate(others):
        await _lift_ticket(desk, text, f"u-{i}", nlu.match_features(text))
    first = await _lift_ticket(
        desk,
        "3号楼电梯坏了，停在5楼不动",
        "u-first",
        nlu.match_features("3号楼电梯坏了，停在5楼不动"),
    )
    segmented.clear()

    await desk.say("3号楼的电梯又坏了，一直停在5楼", "u-b")

    # The report joined the ticket of the same fault, and only its own text was segmented.
    assert await TicketReporter.filter(ticket_id=first.id, user_id="u-b").exists()
    assert await Ticket.all().count() == len(others) + 1
    assert segmented
    assert not any(text in seen for seen in segmented for text in [*others, first.text])


async def test_the_duplicate_check_decides_by_the_kept_features(desk: Desk, nlu: NLU) -> None:
    # A ticket whose kept features are those of the same fault is joined, whatever its text
    # says: the check reads the features, not the text.
    kept = await _lift_ticket(
        desk, "电梯维保记录", "u-a", nlu.match_features("3号楼电梯坏了，停在5楼不动")
    )
    await desk.say("3号楼的电梯又坏了，一直停在5楼", "u-b")
    assert await TicketReporter.filter(ticket_id=kept.id, user_id="u-b").exists()
    assert await Ticket.all().count() == 1


async def test_a_ticket_from_before_kept_features_gets_them_once(desk: Desk, nlu: NLU) -> None:
    old = await _lift_ticket(desk, "3号楼电梯坏了，停在5楼不动", "u-a", None)
    await desk.say("3号楼的电梯又坏了，一直停在5楼", "u-b")
    old = await Ticket.get(id=old.id)
    assert old.features == nlu.match_features(old.text)
    assert await TicketReporter.filter(ticket_id=old.id, user_id="u-b").exists()


async def test_a_report_is_understood_before_its_transaction_begins(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whether a transaction was open each time jieba segmented a text: on SQLite an open one
    # holds the store's only writer lock.
    inside: list[bool] = []
    segment = features.jieba_words

    def noting(text: str) -> list[str]:
        inside.append(isinstance(connections.get("default"), TransactionalDBClient))
        return segment(text)

    monkeypatch.setattr(features, "jieba_words", noting)
    await desk.say("3号楼电梯坏了，停在5楼不动", "u-a")

    assert await Ticket.all().count() == 1  # a repair: classified, checked, opened
    assert inside and not any(inside)
