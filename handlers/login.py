"""`/login` (`登录`): a one-time sign-in link to the staff console, for bound staff, in private.

A bound staff member who sends it in a private chat with the bot gets a link
(`<PUBLIC_URL>/console/login?token=…`) that works once, for a few minutes. In a group the bot
never shows one: it says to ask privately (a link in a group would let anyone there in). Anyone
else is refused briefly. The link is sent once after the message's transaction commits and is
never written to the store's outbox (only its hash is kept, in `LoginToken`): when that send
fails, the staff member asks again.
"""

from __future__ import annotations

import logging

from bot.core import vocabulary
from bot.core.console import ConsoleConfig, issue_login_token
from bot.core.context import Context, Outbound
from bot.core.types import OutgoingMessage, SentMessage
from models import ChatKind

log = logging.getLogger(__name__)

# The groups the bot serves (registered ones).
_GROUPS = (ChatKind.OWNERS, ChatKind.STAFF)


def is_login(text: str) -> bool:
    """Whether a message is the login command (`/login`, `/login@bot`, `登录`), and only it."""
    words = text.split()
    if len(words) != 1:
        return False
    return words[0].removeprefix("/").split("@", 1)[0].lower() in vocabulary.LOGIN.words


async def _link_sent(sent: SentMessage) -> None:
    log.info("sent a console sign-in link to %s", sent.chat)


class LoginCommand:
    """The login command, with where the console is reached (PUBLIC_URL) and how long a link
    lasts."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.config = config

    async def private(self, ctx: Context) -> bool:
        """`/login` in private: the link for bound staff, a short refusal for anyone else."""
        if not is_login(ctx.message.text):
            return False
        staff = ctx.staff
        if staff is None:
            log.info("refused /login from %s: not bound staff", ctx.message.sender_id)
            ctx.reply("login.staff_only")
            return True
        token = await issue_login_token(staff, ctx.now, self.config.login_minutes)
        text = ctx.text(
            "login.link", url=self.config.login_url(token), minutes=self.config.login_minutes
        )
        # A callback makes the entry one the journal does not keep: the link is never stored.
        ctx.outbox.append(
            Outbound(OutgoingMessage(chat=ctx.message.chat, text=text), after_send=_link_sent)
        )
        return True

    async def group(self, ctx: Context) -> bool:
        """`/login` in a registered group: never a link there, only where to ask for one."""
        if not is_login(ctx.message.text):
            return False
        chat = ctx.chat
        if chat is None or chat.estate_id is None or chat.kind not in _GROUPS:
            return False  # the router answers an unregistered group as it does any message
        log.info("answered /login in group %s: links go to private chats", ctx.message.chat)
        ctx.reply("login.ask_privately")
        return True
