"""`guanjia wecom kf-link`: the contact link of an estate's 客服 account (`kf/add_contact_way`,
with the estate's code as its scene, so that a user who opens it is known to be of that estate),
and its QR code as a PNG to pin in the owner group (segno: pure Python, no Pillow)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import requests
import segno
from wechatpy.exceptions import WeChatClientException

from bot.adapters.wecom import WeComClient
from bot.adapters.wecom_kf.config import KfConfig
from bot.adapters.wxcommon import prepare_client

SCENE = re.compile(r"[0-9A-Za-z_-]{1,32}")


class LinkError(Exception):
    """The link could not be made; the message says why."""


def contact_link(config: KfConfig, estate_code: str) -> str:
    """The estate's 客服 contact link, its scene the estate's code (asks WeCom for it)."""
    open_kfid = config.accounts.get(estate_code)
    if open_kfid is None:
        known = ", ".join(sorted(config.accounts)) or "none"
        raise LinkError(
            f"estate {estate_code!r} has no 客服 account in WECOM_KF_ACCOUNTS (set: {known})"
        )
    if not SCENE.fullmatch(estate_code):
        raise LinkError(
            f"estate code {estate_code!r} cannot be a contact link's scene "
            "(at most 32 letters, digits, _ and -)"
        )
    # With a timeout on every call; the token it fetches is kept for this thread's calls only.
    client = prepare_client(WeComClient(config.corp_id, config.secret), config.api_base_url)
    try:
        result: dict[str, Any] = client.post(
            "kf/add_contact_way", data={"open_kfid": open_kfid, "scene": estate_code}
        )
    except WeChatClientException as exc:
        raise LinkError(f"WeCom refused the link: {exc.errcode} {exc.errmsg}") from exc
    except requests.RequestException as exc:
        raise LinkError(f"WeCom could not be reached: {exc.__class__.__name__}") from exc
    url = result.get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise LinkError(f"WeCom answered without a link: {result!r}")
    return url


def save_qr(url: str, path: Path) -> Path:
    """Write the link's QR code to `path` as a PNG (large enough to scan from a phone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    segno.make(url, error="m").save(str(path), kind="png", scale=10, border=4)
    return path
