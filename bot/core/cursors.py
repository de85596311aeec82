"""Where a pull-based platform's message stream was read up to, kept in the store.

微信客服 hands its messages out in pages (`kf/sync_msg`) from a cursor: the adapter takes a page,
keeps its messages in the journal (`Router.accept`), and only then moves the cursor on here. A
process that stops between two pages resumes from the cursor after the last page it kept: no
message is lost, and none comes twice (one taken again after a stop before the cursor moved is
known to the journal, and dropped there).
"""

from __future__ import annotations

import logging
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import SyncCursor

__all__ = ["advance_cursor", "get_cursor"]

log = logging.getLogger(__name__)

MAX_CURSOR = 128


async def get_cursor(name: str) -> str:
    """The stream's cursor, or "" (from the start) when it was never read."""
    row = await SyncCursor.get_or_none(name=name)
    return row.cursor if row is not None else ""


async def advance_cursor(name: str, old: str, new: str, now: datetime) -> bool:
    """Move the stream's cursor from `old` to `new`; False when another process moved it first
    (its pages were taken there, and the journal keeps their messages from being taken twice)."""
    if len(new) > MAX_CURSOR:
        raise ValueError(f"a cursor of {len(new)} characters: at most {MAX_CURSOR}")
    if old:
        moved = await SyncCursor.filter(name=name, cursor=old).update(cursor=new, updated_at=now)
    else:
        try:
            async with in_transaction():
                await SyncCursor.create(name=name, cursor=new, updated_at=now)
            moved = 1
        except IntegrityError:
            moved = await SyncCursor.filter(name=name, cursor="").update(
                cursor=new, updated_at=now
            )
    if not moved:
        log.info("cursor %s was moved by another process: left as it is", name)
    return bool(moved)
