"""What a platform's events do to a person's account: a follow or a menu click welcomed once, an
unfollow (or the platform's refusal) marks the account unreachable, a follow reachable again.

The WeChat Official Account and WeCom adapters call these (`bot/adapters/wechat.py`, `wecom.py`).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from tortoise.exceptions import IntegrityError

from bot.core import chats
from bot.core.context import Services
from models import ChatIdentity, Platform, SeenMessage

__all__ = ["mark_reachable", "mark_unreachable", "welcome_once"]

log = logging.getLogger("guanjia.wechat")


def _short_hash(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


async def welcome_once(
    platform: Platform,
    user_id: str,
    created: int,
    event: str,
    services: Services,
    now: datetime,
    *,
    event_key: str = "",
) -> str | None:
    """The welcome for a subscription or a menu click, once per event (retries included)."""
    # WeChat says to tell events apart by sender and CreateTime, but a follow and a click (or two
    # clicks) can share a second: the event and its key are part of what names it. A retry
    # repeats all of them.
    message_id = f"event:{created}:{event.lower()[:24]}:{_short_hash(event_key)}"
    try:
        await SeenMessage.create(platform=platform, chat_id=user_id, message_id=message_id, at=now)
    except IntegrityError:
        log.info("a retry of %s's %s event: no second welcome", user_id, event)
        return None
    # A follow or a click opens the platform's reply window as a message does.
    await chats.saw(platform, user_id, now)
    identity = await ChatIdentity.get_or_none(platform=platform, user_id=user_id)
    catalogues = services.catalogues
    return catalogues.text(
        catalogues.language(identity.language if identity else None), "wechat.welcome"
    )


async def mark_unreachable(platform: Platform, user_id: str, now: datetime, why: str) -> None:
    """Record that the platform will not let the bot write to this account: notices to it stop."""
    # The first moment is kept: a redelivered unfollow changes nothing.
    changed = await ChatIdentity.filter(
        platform=platform, user_id=user_id, unreachable_at__isnull=True
    ).update(unreachable_at=now)
    if changed:
        log.info("%s account %s is unreachable (%s): its notices stop", platform, user_id, why)


async def mark_reachable(platform: Platform, user_id: str) -> None:
    """Record that the account follows again: notices to it go out again."""
    changed = await ChatIdentity.filter(
        platform=platform, user_id=user_id, unreachable_at__isnull=False
    ).update(unreachable_at=None)
    if changed:
        log.info("%s account %s follows again: its notices resume", platform, user_id)
