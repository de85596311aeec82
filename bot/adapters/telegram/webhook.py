"""Telegram's webhook: the route on the shared server puts each update, its secret header
checked, in the application's update queue, as PTB's custom-webhook examples do.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger("guanjia.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"


async def handle_webhook(
    request: web.Request, secret: str, application: Application
) -> web.Response:
    """Telegram's webhook call: the secret header checked against `secret`, the update queued
    for the application (refused while it is not running)."""
    given = request.headers.get(SECRET_HEADER, "")
    expected = secret
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        log.warning(
            "refused a Telegram webhook call from %s: %s secret header",
            request.remote,
            "a wrong" if given else "no",
        )
        return web.Response(status=403, text="forbidden")
    if not application.running:
        return web.Response(status=503, text="not running")
    try:
        data = await request.json()
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        update = Update.de_json(data, application.bot)
    except Exception as exc:
        log.warning("refused a Telegram webhook call that is not an update: %s", exc)
        return web.Response(status=400, text="not an update")
    await application.update_queue.put(update)
    return web.Response(text="ok")
