"""The one lifecycle every channel follows (`bot/adapters/lifecycle.py`), and the app's list of
channels (`CHANNELS` in `bot/app.py`): which are built from which settings, in which order, and
which start only once the web server listens."""

from __future__ import annotations

from pathlib import Path

from bot.adapters.http import HttpServer
from bot.adapters.lifecycle import ChannelLifecycle
from bot.app import CHANNELS
from bot.config import Settings
from bot.core.types import Platform
from tests.adapters.wx_fake import (
    AES_KEY,
    AGENT_ID,
    APP_ID,
    APP_SECRET,
    CORP_ID,
    CORP_SECRET,
    TOKEN,
)
from tests.desk import Desk


def build_all(settings: Settings, desk: Desk) -> list[ChannelLifecycle]:
    built = [build(settings, desk.services, desk.router) for build in CHANNELS]
    return [channel for channel in built if channel is not None]


async def test_without_platform_settings_only_the_web_chat_is_built(
    desk: Desk, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    built = build_all(settings, desk)
    assert [channel.platform for channel in built] == [Platform.WEBCHAT]


async def test_every_configured_platform_is_built_in_the_start_up_order(
    desk: Desk, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        telegram_bot_token="7012345678:AAHq3-Zx_realistic0Token9abcdefghijKLM",
        telegram_webhook_url="https://guanjia.example.com/telegram/webhook",
        telegram_webhook_secret="s3cret",
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_token=TOKEN,
        wechat_encoding_aes_key=AES_KEY,
        wecom_corp_id=CORP_ID,
        wecom_agent_id=AGENT_ID,
        wecom_secret=CORP_SECRET,
        wecom_token=TOKEN,
        wecom_encoding_aes_key=AES_KEY,
    )
    built = build_all(settings, desk)
    platforms = [channel.platform for channel in built]
    assert platforms == [Platform.WEBCHAT, Platform.TELEGRAM, Platform.WECHAT, Platform.WECOM]
    # Only Telegram's start (which sets its webhook) waits for the server to listen.
    assert [channel.after_server for channel in built] == [False, True, False, False]
    # The web chat closes its sockets before the server stops; WeChat's and WeCom's callbacks
    # stop after it, so that none arrives while they finish what they hold.
    assert [channel.stops_before_server for channel in built] == [True, True, False, False]
    server = HttpServer(port=0)
    for channel in built:
        channel.mount_on(server)
    paths = {route.resource.canonical for route in server.app.router.routes() if route.resource}
    assert {"/", "/telegram/webhook", "/wechat/callback", "/wecom/callback"} <= paths
