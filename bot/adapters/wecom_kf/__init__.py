"""WeCom's 微信客服 (WeChat Customer Service) as an owner channel: ordinary WeChat users chat 1:1
with a 客服 account the property company hosts in its WeCom, reached from a link or QR code
pinned in the owner group.

- `channel`: the callback, `sync_msg` from the kept cursor, sends within the reply window.
- `messages`: `sync_msg` items read into messages and events; menu messages for buttons.
- `link`: the contact link and its QR code (`guanjia wecom kf-link`).
"""

from bot.adapters.wecom_kf.channel import KfChannel, build_wecom_kf
from bot.adapters.wecom_kf.config import KfConfig
from bot.adapters.wecom_kf.link import LinkError, contact_link, save_qr

__all__ = ["KfChannel", "KfConfig", "LinkError", "build_wecom_kf", "contact_link", "save_qr"]
