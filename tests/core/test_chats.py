"""The chat services the adapters call instead of the store (`bot/core/chats.py`,
`bot/core/accounts.py`), on the real store."""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise import Tortoise, fields

from bot.adapters.wechat import SERVICE_WINDOW
from bot.core import accounts, chats
from bot.core.chats import CHAT_KEYED, LEFT_BEHIND, SEEN_KEPT
from bot.core.types import Platform
from models import (
    Chat,
    ChatIdentity,
    ChatKind,
    Delivery,
    DeliveryStatus,
    Department,
    Dialog,
    HeldMessage,
    ReplyQuota,
    ReplyWindow,
    SeenMessage,
    TicketCard,
    TicketKind,
)
from models.lifecycle import open_ticket
from tests.desk import Desk
from tests.factories import make_estate, make_owner, make_staff, make_unit

TG = Platform.TELEGRAM
OLD, NEW, OTHER = "-100", "-1001234", "-555"


async def _fill_chat(chat_id: str, now: datetime, tag: str) -> None:
    """One row of every chat-keyed table for a Telegram chat, and a sent notice."""
    estate = await make_estate(f"e{tag}")
    await Chat.create(platform=TG, chat_id=chat_id, kind=ChatKind.OWNERS, estate_id=estate.id)
    ticket = await open_ticket(
        estate=estate,
        kind=TicketKind.REPAIR,
        department=Department.ENGINEERING,
        text="厨房水管漏水了",
        platform=TG,
        chat_id=chat_id,
        message_id=f"m{tag}",
        reporter_id=f"u{tag}",
        now=now,
    )
    await TicketCard.create(ticket_id=ticket.id, platform=TG, chat_id=chat_id, message_id="c1")
    await Dialog.create(platform=TG, chat_id=chat_id, user_id=f"u{tag}", kind="k", expires_at=now)
    for status in (DeliveryStatus.PENDING, DeliveryStatus.SENT):
        await Delivery.create(
            dedup_key=f"{tag}:{status}",
            kind="bill",
            platform=TG,
            chat_id=chat_id,
            status=status,
            created_at=now,
        )
    await ReplyWindow.create(platform=TG, chat_id=chat_id, last_seen_at=now)
    await ReplyQuota.create(platform=TG, chat_id=chat_id, window_from=now, sent=1)
    await HeldMessage.create(platform=TG, chat_id=chat_id, text="kept", kind="bill", held_at=now)


async def test_a_chat_moved_from_a_to_b_carries_every_chat_keyed_row(
    store: str, now: datetime
) -> None:
    await _fill_chat(OLD, now, "a")
    await _fill_chat(OTHER, now, "c")
    before = {table.model: await table.rows(TG, OLD).count() for table in CHAT_KEYED}
    # Every table of the list has something to carry: the test covers each.
    assert all(before.values()), before
    others = {table.model: await table.rows(TG, OTHER).count() for table in CHAT_KEYED}

    moved = await chats.move_chat(TG, OLD, NEW)

    assert moved.registered and moved.tickets == 1
    assert await Chat.exists(platform=TG, chat_id=NEW)
    assert not await Chat.exists(platform=TG, chat_id=OLD)
    for table in CHAT_KEYED:
        assert await table.rows(TG, NEW).count() == before[table.model], table.model
        assert await table.rows(TG, OLD).count() == 0, table.model
        assert await table.rows(TG, OTHER).count() == others[table.model], table.model
    # A notice already sent stays where it went.
    assert await Delivery.filter(chat_id=OLD, status=DeliveryStatus.SENT).count() == 1
    # The other side of the move finds nothing left to carry.
    again = await chats.move_chat(TG, OLD, NEW)
    assert not again.registered and again.tickets == 0


async def test_a_move_onto_a_registered_id_keeps_that_registration(
    store: str, now: datetime
) -> None:
    await _fill_chat(OLD, now, "a")
    estate = await make_estate("b")
    await Chat.create(platform=TG, chat_id=NEW, kind=ChatKind.STAFF, estate_id=estate.id)

    moved = await chats.move_chat(TG, OLD, NEW)

    assert not moved.registered and moved.tickets == 1
    kept = await Chat.get(platform=TG, chat_id=NEW)
    assert kept.kind is ChatKind.STAFF and kept.estate_id == estate.id


async def test_every_table_keyed_by_a_chat_is_in_the_one_list(store: str) -> None:
    keyed = {
        model
        for model in Tortoise.apps["models"].values()
        if any(
            isinstance(model._meta.fields_map.get(name), fields.CharField)
            for name in ("chat_id", "source_chat_id")
        )
    }
    listed = {table.model for table in CHAT_KEYED}
    assert not listed & LEFT_BEHIND.keys()
    assert keyed == listed | LEFT_BEHIND.keys() | {Chat}


async def test_register_chat_registers_once_and_leaves_a_registered_chat_as_it_is(
    store: str,
) -> None:
    estate, other = await make_estate("a"), await make_estate("b")

    chat, created = await chats.register_chat(
        Platform.WECOM, "a/g", estate, ChatKind.OWNERS, "g" * 200
    )
    assert created and chat.kind is ChatKind.OWNERS and len(chat.title) == 128
    again, created = await chats.register_chat(Platform.WECOM, "a/g", other, ChatKind.STAFF, "x")
    assert not created and again.id == chat.id
    stored = await Chat.get(id=chat.id)
    assert stored.estate_id == estate.id and stored.kind is ChatKind.OWNERS
    assert (await chats.find_chat(Platform.WECOM, "a/g")).id == chat.id  # type: ignore[union-attr]
    assert await chats.find_chat(Platform.WECOM, "b/g") is None
    assert [e.code for e in await chats.all_estates()] == ["a", "b"]
    assert (await chats.estate_by_code("b")).id == other.id  # type: ignore[union-attr]


async def test_bind_identity_binds_an_account_to_one_person_at_a_time(store: str) -> None:
    estate = await make_estate("demo")
    owner = await make_owner(estate, "李", await make_unit(estate, "3", "2", "501"))
    staff = await make_staff(estate, "王")

    first = await chats.bind_identity(Platform.WEBCHAT, "p1", "李" * 200, owner_id=owner.id)
    assert (first.owner_id, first.staff_id) == (owner.id, None)
    assert first.display_name == "李" * 128
    second = await chats.bind_identity(Platform.WEBCHAT, "p1", "王", staff_id=staff.id)

    assert second.id == first.id
    stored = await ChatIdentity.get(platform=Platform.WEBCHAT, user_id="p1")
    assert (stored.owner_id, stored.staff_id, stored.display_name) == (None, staff.id, "王")


async def test_the_reply_window_keeps_the_latest_time_a_person_wrote(
    store: str, now: datetime
) -> None:
    assert await chats.last_seen(Platform.WECHAT, "o1") is None
    await chats.saw(Platform.WECHAT, "o1", now)
    await chats.saw(Platform.WECHAT, "o1", now - timedelta(hours=1))  # a late redelivery
    assert await chats.last_seen(Platform.WECHAT, "o1") == now
    await chats.saw(Platform.WECHAT, "o1", now + timedelta(hours=1))
    assert await chats.last_seen(Platform.WECHAT, "o1") == now + timedelta(hours=1)
    assert await chats.last_seen(Platform.WECHAT, "o2") is None
    assert await ReplyWindow.all().count() == 1


async def test_the_router_opens_the_window_on_private_messages_only(desk: Desk) -> None:
    await desk.say("你好", "u-li")  # the owners' group
    assert await ReplyWindow.all().count() == 0
    private = desk.private("u-li")
    await desk.say("你好", "u-li", private)
    assert await chats.last_seen(private.platform, private.chat_id) == desk.clock.now()


async def test_the_dedup_prune_forgets_only_messages_older_than_any_window(
    store: str, now: datetime
) -> None:
    # SEEN_KEPT outlasts WeChat's reply window: no message is forgotten inside it.
    assert SEEN_KEPT > SERVICE_WINDOW
    ages = [timedelta(hours=1), SERVICE_WINDOW, SEEN_KEPT - timedelta(minutes=1)]
    old = [SEEN_KEPT + timedelta(minutes=1), timedelta(days=30)]
    for i, age in enumerate(ages + old):
        await SeenMessage.create(platform=TG, chat_id="c", message_id=str(i), at=now - age)

    assert await chats.prune_seen(now) == len(old)

    left = {now - row.at for row in await SeenMessage.all()}
    assert left == set(ages)
    # What was pruned was older than the window.
    assert all(age > SERVICE_WINDOW for age in old)


async def test_the_reply_window_survives_the_dedup_prune(store: str, now: datetime) -> None:
    wrote = now - SERVICE_WINDOW + timedelta(hours=1)
    await SeenMessage.create(platform=Platform.WECHAT, chat_id="o1", message_id="1", at=wrote)
    await chats.saw(Platform.WECHAT, "o1", wrote)

    later = wrote + SEEN_KEPT + timedelta(minutes=1)
    assert await chats.prune_seen(later) == 1
    assert await SeenMessage.all().count() == 0
    assert await chats.last_seen(Platform.WECHAT, "o1") == wrote


async def test_welcome_once_welcomes_each_event_once_and_opens_the_window(desk: Desk) -> None:
    now = desk.clock.now()
    args = (Platform.WECHAT, "o1", 1700000000, "subscribe", desk.services, now)

    assert await accounts.welcome_once(*args)
    assert await accounts.welcome_once(*args) is None  # WeChat's retry
    assert await accounts.welcome_once(*args, event_key="menu")  # another event that second
    assert await chats.last_seen(Platform.WECHAT, "o1") == now


async def test_reachability_is_recorded_once_each_way(store: str, now: datetime) -> None:
    await ChatIdentity.create(platform=Platform.WECHAT, user_id="o1")

    await accounts.mark_unreachable(Platform.WECHAT, "o1", now, "unsubscribed")
    await accounts.mark_unreachable(Platform.WECHAT, "o1", now + timedelta(hours=1), "again")
    assert (await ChatIdentity.get(user_id="o1")).unreachable_at == now
    await accounts.mark_reachable(Platform.WECHAT, "o1")
    assert (await ChatIdentity.get(user_id="o1")).unreachable_at is None
