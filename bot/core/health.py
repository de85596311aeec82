"""Whether the parts the bot depends on answer now (the HTTP server's health check asks)."""

from __future__ import annotations

from models.store import store_answers as _store_answers

__all__ = ["store_answers"]


async def store_answers() -> bool:
    """Whether the store answers a trivial query now."""
    return await _store_answers()
