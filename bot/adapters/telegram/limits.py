"""Telegram's limits: message lengths in UTF-16 units, and the Bot API's rate limits.

Every call goes through PTB's `AIORateLimiter`, except that a notice's call is not retried
inside it (`NoticeAwareRateLimiter`): the Notifier paces and retries notices itself.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter
from telegram.warnings import PTBDeprecationWarning

# How often a 429 is retried (after its retry_after) before the send fails with SendError.
SEND_RETRIES = 3
# Telegram takes 4096 characters a message, counted in UTF-16 code units; 200 a toast.
TEXT_LIMIT = 4096
TOAST_LIMIT = 200


class NoticeSend:
    """The `rate_limit_args` of a notice's Bot API call: no retries inside the limiter."""

    def __repr__(self) -> str:
        return "NoticeSend()"


NOTICE = NoticeSend()


class NoticeAwareRateLimiter(AIORateLimiter):
    """PTB's `AIORateLimiter`, except that a notice's call is neither retried nor holds others.

    A notice still waits for the overall and per-group limits and for a hold another call's 429
    started. `AIORateLimiter` reads `max_retries=0` as "the default", so a notice is marked with
    its own `rate_limit_args` instead.
    """

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | NoticeSend | None,
    ) -> Any:
        """Run a notice's call once within the limits; anything else as PTB does."""
        if not isinstance(rate_limit_args, NoticeSend):
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        chat_id = data.get("chat_id")
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        group: int | str | bool = (
            chat_id
            if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str)
            else False
        )
        return await self._run_request(
            chat=chat_id is not None,
            group=group,
            allow_paid_broadcast=bool(data.get("allow_paid_broadcast", False)),
            callback=callback,
            args=args,
            kwargs=kwargs,
        )


def utf16_length(text: str) -> int:
    """A text's length as Telegram counts it: in UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def fit(text: str, limit: int = TEXT_LIMIT) -> str:
    """The longest start of a text that Telegram takes as one message."""
    end = min(len(text), limit)
    while (excess := utf16_length(text[:end]) - limit) > 0:
        # A character is one or two units: dropping excess // 2 never drops too many.
        end -= max(1, excess // 2)
    return text[:end]


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a long text into messages Telegram accepts, at line breaks where it can."""
    chunks: list[str] = []
    while utf16_length(text) > limit:
        head = fit(text, limit)
        cut = head.rfind("\n")
        if cut <= 0:
            cut = len(head)
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text.strip():
        chunks.append(text)
    return chunks


def retry_seconds(exc: RetryAfter) -> float:
    """A RetryAfter's wait in seconds, whichever type this PTB version gives it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
