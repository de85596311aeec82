"""`/login` through the router: a one-time sign-in link for bound staff in private, none in a
group, a brief refusal for anyone else; the store keeps only the token's hash."""

from __future__ import annotations

import hashlib
import json
import re

from tortoise.transactions import in_transaction

from bot.core import journal
from bot.core.context import Outbound
from bot.core.types import OutgoingMessage, SentMessage
from handlers.login import is_login
from models import LoginToken, OutboxMessage
from tests.desk import OWNERS, STAFF, Desk, bind
from tests.staffdesk import bind_staff

LINK = re.compile(r"http://127\.0\.0\.1:8080/console/login\?token=([A-Za-z0-9_-]{40,})")


def test_what_counts_as_the_command() -> None:
    for text in ("/login", "login", "登录", " /login ", "/login@guanjia_bot", "/LOGIN"):
        assert is_login(text), text
    for text in ("/login now", "登录不了", "请问怎么登录", "/logout", ""):
        assert not is_login(text), text


async def test_bound_staff_get_a_link_in_private_and_only_its_hash_is_kept(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    private = desk.private("u-zhang")

    await desk.say("/login", "u-zhang", private)

    [message] = desk.channel.to(private.chat_id)
    token = LINK.search(message.text)
    assert token is not None, message.text
    assert "10 分钟" in message.text and message.buttons == ()
    [row] = await LoginToken.all()
    assert row.staff_id == desk.staff["zhang"].id and row.used_at is None
    assert row.token_hash == hashlib.sha256(token.group(1).encode()).hexdigest()
    assert (row.expires_at - row.created_at).total_seconds() == 600
    # Nowhere in the store in the clear: not in the token table, not in the kept replies.
    kept = json.dumps([r.data for r in await OutboxMessage.all()], ensure_ascii=False)
    assert token.group(1) not in kept and token.group(1) not in row.token_hash

    # `登录` too; a new link replaces the unused one.
    await desk.say("登录", "u-zhang", private)
    assert await LoginToken.all().count() == 1
    assert len(desk.channel.to(private.chat_id)) == 2


async def test_in_a_group_no_link_is_shown(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    for chat in (STAFF, OWNERS):
        await desk.say("/login", "u-zhang", chat)
    said = [m.text for m in desk.channel.sent]
    assert len(said) == 2 and all("私聊" in text and "token=" not in text for text in said)
    assert await LoginToken.all().count() == 0


async def test_owners_and_strangers_are_refused_briefly(desk: Desk) -> None:
    await bind("u-li", desk.owners["li"])
    for user in ("u-li", "u-stranger"):
        await desk.say("/login", user, desk.private(user))
        [answer] = desk.channel.to(desk.private(user).chat_id)
        assert "只有已绑定的员工" in answer.text and "token=" not in answer.text
    assert await LoginToken.all().count() == 0


async def test_inactive_staff_get_no_link(desk: Desk) -> None:
    zhang = desk.staff["zhang"]
    await bind_staff("u-zhang", zhang)
    zhang.active = False
    await zhang.save()
    await desk.say("/login", "u-zhang", desk.private("u-zhang"))
    assert await LoginToken.all().count() == 0


async def test_the_link_message_is_never_written_to_the_kept_outbox(desk: Desk) -> None:
    async def sent(_: SentMessage) -> None:
        return None

    link = OutgoingMessage(chat=desk.private("u-zhang"), text="token=secret")
    card = OutgoingMessage(chat=STAFF, text="card")
    async with in_transaction():
        kept = await journal.keep_outbox([Outbound(link, after_send=sent), card], desk.clock.now())
    [row] = await OutboxMessage.all()
    assert kept == [row.id] and row.data["message"]["text"] == "card"
