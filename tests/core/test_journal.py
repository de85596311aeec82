"""Nothing accepted is lost: accepted messages and committed replies survive a process that stops,
and each send of a message's outbox stands alone."""

from __future__ import annotations

from datetime import timedelta

from bot.core import journal
from bot.core.channel import ChannelHub
from bot.core.context import Outbound, Services, send_outbox
from bot.core.router import Router
from bot.core.types import ChatRef, IncomingMessage, OutgoingMessage, Platform, SentMessage
from models import (
    InboundMessage,
    InboundStatus,
    OutboxMessage,
    SeenMessage,
    Ticket,
    TicketCard,
)
from tests.desk import OWNERS, STAFF, Desk
from tests.fakes import FakeChannel


class ProcessDied(BaseException):
    """The process stopped here (kill -9): nothing after this line of it ever runs."""


class DyingChannel(FakeChannel):
    """A channel whose process dies as it starts sending."""

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Die."""
        raise ProcessDied


def restarted(desk: Desk, channel: FakeChannel) -> Router:
    """A new process on the same store: a fresh router and hub, with nothing in memory."""
    hub = ChannelHub()
    hub.add(channel)
    services = Services(
        nlu=desk.services.nlu,
        catalogues=desk.services.catalogues,
        clock=desk.clock,
        hub=hub,
        cache=desk.services.cache,
    )
    services.ticket_opened.extend(desk.router.handlers.ticket_opened)
    return Router(services, desk.router.handlers)


def report(
    desk: Desk, message_id: str, text: str = "3栋2单元501 厨房水管漏水了"
) -> IncomingMessage:
    return IncomingMessage(
        chat=OWNERS,
        sender_id="u-li",
        sender_name="李华",
        text=text,
        message_id=message_id,
        received_at=desk.clock.now(),
    )


async def test_a_handled_message_is_done_and_its_redelivery_is_not_handled(desk: Desk) -> None:
    message = report(desk, "m-1")
    await desk.router.handle(message, desk.channel)

    row = await InboundMessage.get(message_id="m-1")
    assert row.status is InboundStatus.DONE and row.claimed_until is None
    assert await OutboxMessage.all().count() == 0  # sent, so forgotten
    assert not await desk.router.accept(message)
    await desk.router.handle(message, desk.channel)
    assert await Ticket.all().count() == 1


async def test_a_message_accepted_by_a_process_that_died_is_handled_once_on_restart(
    desk: Desk,
) -> None:
    message = report(desk, "m-2")
    # Accepted (shown in the group, or acknowledged to the platform), then the process died.
    assert await desk.router.accept(message)
    assert await Ticket.all().count() == 0

    channel = FakeChannel()
    router = restarted(desk, channel)
    handled, _ = await router.recover(starting_alone=True)

    assert handled == 1
    [ticket] = await Ticket.all()
    assert ticket.source_message_id == "m-2"
    assert any(ticket.number in text for text in channel.texts(OWNERS.chat_id))
    # Once: a second round, and the platform redelivering it, change nothing.
    assert await router.recover(starting_alone=True) == (0, 0)
    await router.handle(message, channel)
    assert await Ticket.all().count() == 1
    assert await SeenMessage.filter(message_id="m-2").count() == 1


async def test_a_live_process_keeps_what_it_holds_until_its_claim_lapses(desk: Desk) -> None:
    message = report(desk, "m-3")
    assert await desk.router.accept(message)  # held by a process that is still running
    other = restarted(desk, FakeChannel())

    # Another process running beside it takes nothing while the claim holds.
    desk.clock.advance(seconds=int(journal.CLAIM.total_seconds()) - 10)
    assert await other.recover() == (0, 0)
    assert await Ticket.all().count() == 0
    # The holder died: once its claim has lapsed, the other process handles it.
    desk.clock.advance(seconds=20)
    assert await other.recover() == (1, 0)
    assert await Ticket.all().count() == 1


async def test_replies_committed_by_a_process_that_died_sending_are_sent_on_restart(
    desk: Desk,
) -> None:
    message = report(desk, "m-4")
    dying = DyingChannel()
    try:
        await desk.router.handle(message, dying)
    except ProcessDied:
        pass
    # The ticket committed; its reply and its card did not go out.
    [ticket] = await Ticket.all()
    assert await OutboxMessage.all().count() == 2

    channel = FakeChannel()
    router = restarted(desk, channel)
    handled, replies = await router.recover(starting_alone=True)

    assert (handled, replies) == (0, 2)
    assert any(ticket.number in text for text in channel.texts(OWNERS.chat_id))
    [card] = channel.to(STAFF.chat_id)
    assert f"【{ticket.number}】" in card.text
    # The card's message id is remembered as it would have been: the next change edits it.
    saved = await TicketCard.get(ticket_id=ticket.id)
    assert saved.message_id == channel.id_of(card)
    assert await OutboxMessage.all().count() == 0
    assert await Ticket.all().count() == 1


async def test_a_failed_handling_is_released_for_a_redelivery_not_retried_by_recovery(
    desk: Desk,
) -> None:
    async def broken(ctx, ticket) -> None:
        raise RuntimeError("the staff desk fell over")

    desk.services.ticket_opened.append(broken)
    message = report(desk, "m-5")
    await desk.router.handle(message, desk.channel)
    row = await InboundMessage.get(message_id="m-5")
    assert row.status is InboundStatus.PENDING and row.claimed_until is None
    assert row.attempts == 1

    desk.clock.advance(hours=1)
    assert await desk.router.recover() == (0, 0)  # the owner was told to send it again
    desk.services.ticket_opened.remove(broken)
    await desk.router.handle(message, desk.channel)  # the platform's redelivery
    assert await Ticket.all().count() == 1


async def test_one_channel_failing_unexpectedly_does_not_stop_the_rest_of_an_outbox(
    desk: Desk,
) -> None:
    class Broken(FakeChannel):
        async def send(self, message: OutgoingMessage) -> SentMessage:
            """An answer the adapter did not expect."""
            raise KeyError("errcode")

    broken = Broken(platform=Platform.WECOM)
    desk.services.hub.add(broken)
    wecom_chat = ChatRef(Platform.WECOM, "staffchat", is_group=True)
    sent = await send_outbox(
        desk.services.hub,
        [
            OutgoingMessage(chat=wecom_chat, text="a card"),
            Outbound(OutgoingMessage(chat=OWNERS, text="已为您登记报修")),
        ],
    )
    assert sent == 1
    assert desk.channel.texts(OWNERS.chat_id) == ["已为您登记报修"]


async def test_handled_messages_are_forgotten_after_their_redelivery_time(desk: Desk) -> None:
    await desk.router.handle(report(desk, "m-6"), desk.channel)
    assert await journal.prune(desk.clock.now()) == 0
    assert await journal.prune(desk.clock.now() + journal.KEEP_DONE + timedelta(minutes=1)) == 1
    assert not await InboundMessage.exists(message_id="m-6")
