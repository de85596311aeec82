"""The WeCom AI bot (智能机器人) channel: `frames` (its JSON both ways), `connection` (the long
connection), `callback` (callback mode) and `channel` (the Channel and its card presses)."""

from __future__ import annotations

from bot.adapters.wecom_aibot.channel import AIBotConfig, WeComAIBotChannel
from bot.config import Settings
from bot.core.context import Services
from bot.core.router import Router

__all__ = ["AIBotConfig", "WeComAIBotChannel", "build_wecom_aibot"]


def build_wecom_aibot(
    settings: Settings, services: Services, router: Router
) -> WeComAIBotChannel | None:
    """The AI bot channel, or None when its settings are absent."""
    if not settings.wecom_aibot_enabled:
        return None
    config = AIBotConfig(
        bot_id=settings.wecom_aibot_id,
        secret=settings.wecom_aibot_secret,
        mode=settings.wecom_aibot_mode,
        ws_url=settings.wecom_aibot_ws_url,
        token=settings.wecom_aibot_token,
        aes_key=settings.wecom_aibot_encoding_aes_key,
        callback_path=settings.wecom_aibot_callback_path,
        heartbeat=settings.wecom_aibot_heartbeat,
        card_wait=settings.wecom_aibot_card_wait,
        card_link=f"{settings.public_base_url}/console/",
    )
    return WeComAIBotChannel(config, router, services)
