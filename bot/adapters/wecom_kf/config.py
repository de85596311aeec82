"""What the 微信客服 channel needs from the settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.config import Settings
from bot.core.windows import Window


@dataclass(frozen=True)
class KfConfig:
    """The corp, the secret that may call 微信客服's API, the callback's token and AES key, and
    the 客服 account (open_kfid) of each estate."""

    corp_id: str
    secret: str
    token: str
    aes_key: str
    # Estate code → the open_kfid of its 客服 account (several estates may share one).
    accounts: Mapping[str, str] = field(default_factory=dict)
    callback_path: str = "/wecom/kf/callback"
    api_base_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    # Messages per `sync_msg` page (WeCom's default and largest is 1000).
    page_size: int = 1000
    window: Window = field(default_factory=Window)

    @property
    def open_kfids(self) -> frozenset[str]:
        """Every configured 客服 account."""
        return frozenset(self.accounts.values())

    def estates_of(self, open_kfid: str) -> list[str]:
        """The estates served by a 客服 account."""
        return [code for code, kfid in self.accounts.items() if kfid == open_kfid]

    @classmethod
    def from_settings(cls, settings: Settings) -> KfConfig:
        """The config from the settings."""
        return cls(
            corp_id=settings.wecom_kf_corp,
            secret=settings.wecom_kf_secret,
            token=settings.wecom_kf_token,
            aes_key=settings.wecom_kf_encoding_aes_key,
            accounts=settings.wecom_kf_account_ids,
            callback_path=settings.wecom_kf_callback_path,
            api_base_url=settings.wecom_api_base_url,
        )
