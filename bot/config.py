"""Settings, read from the environment and `.env` with pydantic-settings.

Every setting here is listed, with a one-line comment, in `.env.example`.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite://data/guanjia.sqlite3"
# The settings whose values are secrets: never logged (see `Settings.secret_values`). A new
# secret setting belongs here; tests/bot/test_config.py checks the names that look like one.
SECRET_SETTINGS = (
    "telegram_bot_token",
    "telegram_webhook_secret",
    "wechat_app_secret",
    "wechat_token",
    "wechat_encoding_aes_key",
    "wecom_secret",
    "wecom_token",
    "wecom_encoding_aes_key",
    "wecom_aibot_secret",
    "wecom_aibot_token",
    "wecom_aibot_encoding_aes_key",
    "wecom_contact_secret",
    "wecom_kf_secret",
    "wecom_kf_token",
    "wecom_kf_encoding_aes_key",
    "console_secret_key",
)
# The names a loopback server is reached by; a browser on the same machine sends one of them.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# A host name as PUBLIC_HOSTS lists it: letters, digits and hyphens, dot-separated.
_HOST_NAME = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)


def is_loopback(host: str) -> bool:
    """Whether a listening address is this machine only: 127.0.0.0/8, ::1 or localhost."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(entry: str) -> str | None:
    """A host name or IP address, lower-cased (IPv6 without brackets); None when it is not."""
    name = entry.strip().lower()
    bare = name.strip("[]")
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    return name if _HOST_NAME.fullmatch(name) else None


def _pairs(value: str) -> dict[str, str]:
    """`a=1, b=2` as a dict (blank entries skipped)."""
    pairs: dict[str, str] = {}
    for entry in value.split(","):
        if entry.strip():
            left, _, right = entry.partition("=")
            pairs[left.strip()] = right.strip()
    return pairs


class SettingsError(Exception):
    """A setting has a bad value; the message names the setting and what is wrong."""


class Settings(BaseSettings):
    """All of Guanjia's settings; one instance is built by `load_settings` and passed down."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = DEFAULT_DATABASE_URL
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    default_language: str = "zh"
    data_dir: Path = Path("data")
    nlu_model_path: Path | None = None

    @field_validator("nlu_model_path", mode="before")
    @classmethod
    def _empty_path_is_none(cls, value: object) -> object:
        return None if value == "" else value

    demo_on_empty: bool = True
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)

    # The staff console and the web chat demo (bot/adapters/console.py, webchat.py).
    public_url: str = ""
    public_hosts: str = ""
    webchat_demo_unsafe_public: bool = False
    console_secret_key: str = Field(default="", repr=False)
    console_session_hours: float = Field(default=12.0, gt=0, le=168)
    console_login_minutes: int = Field(default=10, ge=1, le=60)

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be a base URL such as https://bot.example.com")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError(
                "must be the scheme, host and port only, no path (https://bot.example.com): "
                "Guanjia's paths are served from the root"
            )
        try:
            parts.port  # noqa: B018 - reading it checks it
        except ValueError as exc:
            raise ValueError(f"has a bad port ({exc})") from None
        return value.rstrip("/")

    @field_validator("public_hosts")
    @classmethod
    def _check_public_hosts(cls, value: str) -> str:
        for entry in value.split(","):
            if entry.strip() and _host_name(entry) is None:
                raise ValueError(
                    f"{entry.strip()!r} is not a host name: list names such as "
                    "bot.example.com, comma-separated, without scheme, port or path"
                )
        return value.strip()

    @field_validator("console_secret_key")
    @classmethod
    def _check_console_key(cls, value: str) -> str:
        value = value.strip()
        if value and len(value) < 32:
            raise ValueError(
                "must be at least 32 random characters, e.g. the output of "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @property
    def http_on_loopback(self) -> bool:
        """Whether the built-in web server listens on this machine only."""
        return is_loopback(self.http_host)

    @property
    def public_base_url(self) -> str:
        """The base URL people reach this server at: PUBLIC_URL, else HTTP_HOST and HTTP_PORT."""
        if self.public_url:
            return self.public_url
        host = self.http_host.strip()
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address in a URL
        return f"http://{host}:{self.http_port}"

    @property
    def public_host_names(self) -> frozenset[str]:
        """The host names browsers may reach the console and the web chat by (checked against
        each request's Host and Origin): PUBLIC_HOSTS, else the loopback names when the server
        listens on loopback, and PUBLIC_URL's host."""
        listed = {_host_name(entry) for entry in self.public_hosts.split(",") if entry.strip()}
        names = {name for name in listed if name}
        if names:
            return frozenset(names)
        if self.http_on_loopback:
            names |= LOOPBACK_NAMES | {self.http_host.strip().strip("[]").lower()}
        own = _host_name(urlsplit(self.public_base_url).hostname or "")
        if own:
            names.add(own)
        return frozenset(names)

    # The scheduler and notices (scheduler/runner.py); hours are in TIMEZONE.
    scheduler_enabled: bool = True
    bill_day: int = Field(default=1, ge=1, le=28)
    bill_hour: int = Field(default=9, ge=0, le=23)
    notice_hour: int = Field(default=9, ge=0, le=23)
    revisit_hour: int = Field(default=10, ge=0, le=23)
    notice_grace_hours: float = Field(default=6.0, gt=0, le=24)

    # WeChat Official Account (公众号) and WeCom (企业微信); see bot/adapters/wechat.py, wecom.py.
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_token: str = ""
    wechat_encoding_aes_key: str = ""
    wechat_callback_path: str = "/wechat/callback"
    wechat_api_base_url: str = "https://api.weixin.qq.com/cgi-bin/"
    wechat_reply_wait: float = Field(default=0.8, gt=0, le=4)
    wechat_template_bill: str = ""
    wechat_template_arrears: str = ""
    wechat_template_warranty: str = ""
    wechat_template_notice: str = ""
    wecom_corp_id: str = ""
    wecom_agent_id: int | None = None
    wecom_secret: str = ""
    wecom_token: str = ""
    wecom_encoding_aes_key: str = ""
    wecom_callback_path: str = "/wecom/callback"
    wecom_api_base_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    wecom_staff_chats: str = ""
    wecom_robots: str = ""
    wecom_robot_per_minute: int = Field(default=20, ge=1, le=20)
    # The WeCom AI bot (智能机器人) in staff groups; see bot/adapters/wecom_aibot/.
    wecom_aibot_id: str = ""
    wecom_aibot_secret: str = ""
    wecom_aibot_mode: Literal["long-connection", "callback"] = "long-connection"
    wecom_aibot_ws_url: str = "wss://openws.work.weixin.qq.com"
    wecom_aibot_token: str = ""
    wecom_aibot_encoding_aes_key: str = ""
    wecom_aibot_callback_path: str = "/wecom/aibot"
    wecom_aibot_heartbeat: float = Field(default=30.0, ge=5, le=120)
    wecom_aibot_card_wait: float = Field(default=3.0, gt=0, le=4.5)
    # 客户群群发 to WeCom customer groups (bot/core/groupsend.py): the 客户联系 secret (empty:
    # the app's secret), and the minutes a group owner has to confirm a task before a reminder.
    wecom_contact_secret: str = Field(default="", repr=False)
    wecom_groupsend_remind_minutes: int = Field(default=120, ge=5, le=1440)
    # WeCom's 微信客服 (WeChat Customer Service); see bot/adapters/wecom_kf/.
    wecom_kf_corp_id: str = ""
    wecom_kf_secret: str = ""
    wecom_kf_token: str = ""
    wecom_kf_encoding_aes_key: str = ""
    wecom_kf_callback_path: str = "/wecom/kf/callback"
    wecom_kf_accounts: str = ""

    @field_validator("wecom_agent_id", mode="before")
    @classmethod
    def _empty_agent_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator(
        "wechat_encoding_aes_key",
        "wecom_encoding_aes_key",
        "wecom_aibot_encoding_aes_key",
        "wecom_kf_encoding_aes_key",
    )
    @classmethod
    def _check_aes_key(cls, value: str) -> str:
        value = value.strip()
        if value and (len(value) != 43 or not value.isalnum()):
            raise ValueError("must be the 43 letters and digits WeChat shows as EncodingAESKey")
        return value

    @field_validator(
        "wechat_callback_path",
        "wecom_callback_path",
        "wecom_aibot_callback_path",
        "wecom_kf_callback_path",
    )
    @classmethod
    def _check_callback_path(cls, value: str) -> str:
        if not value.startswith("/") or " " in value:
            raise ValueError("must be a URL path starting with /")
        return value

    @field_validator("wechat_api_base_url", "wecom_api_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value if value.endswith("/") else value + "/"

    @field_validator("wecom_staff_chats", "wecom_robots", "wecom_kf_accounts")
    @classmethod
    def _check_pairs(cls, value: str, info: ValidationInfo) -> str:
        pairs = _pairs(value)
        for left, right in pairs.items():
            if not left or not right:
                raise ValueError("must be a comma list of NAME=VALUE")
            if info.field_name == "wecom_robots" and left.count("/") != 1:
                raise ValueError("each entry must be ESTATE_CODE/GROUP=WEBHOOK_KEY")
            if info.field_name == "wecom_kf_accounts" and not re.fullmatch(
                r"[A-Za-z0-9_-]{1,64}", right
            ):
                raise ValueError("each entry must be ESTATE_CODE=OPEN_KFID (the wk… id)")
        return value

    @model_validator(mode="after")
    def _check_wechat_sets(self) -> Settings:
        groups = {
            "WECHAT": ("wechat_app_id", "wechat_app_secret", "wechat_token"),
            "WECOM": ("wecom_corp_id", "wecom_agent_id", "wecom_secret", "wecom_token"),
        }
        for prefix, names in groups.items():
            given = [name for name in names if getattr(self, name)]
            if given and len(given) < len(names):
                missing = ", ".join(n.upper() for n in names if n not in given)
                raise ValueError(f"{prefix} settings are incomplete: set {missing} too")
        if self.wecom_corp_id and not self.wecom_encoding_aes_key:
            raise ValueError("WECOM_ENCODING_AES_KEY is needed: WeCom callbacks are encrypted")
        kf = (
            "wecom_kf_secret",
            "wecom_kf_token",
            "wecom_kf_encoding_aes_key",
            "wecom_kf_accounts",
        )
        given = [name for name in kf if getattr(self, name)]
        if given and len(given) < len(kf):
            missing = ", ".join(n.upper() for n in kf if n not in given)
            raise ValueError(f"WECOM_KF settings are incomplete: set {missing} too")
        if given and not self.wecom_kf_corp:
            raise ValueError("WECOM_KF_CORP_ID (or WECOM_CORP_ID) is needed for 微信客服")
        return self

    @model_validator(mode="after")
    def _check_wecom_aibot(self) -> Settings:
        if not self.wecom_aibot_id:
            return self
        if self.wecom_aibot_mode == "long-connection" and not self.wecom_aibot_secret:
            raise ValueError("WECOM_AIBOT_SECRET is needed for the long connection")
        if self.wecom_aibot_mode == "callback" and not (
            self.wecom_aibot_token and self.wecom_aibot_encoding_aes_key
        ):
            raise ValueError(
                "WECOM_AIBOT_TOKEN and WECOM_AIBOT_ENCODING_AES_KEY are needed in callback mode"
            )
        if not self.wecom_aibot_ws_url.startswith(("wss://", "ws://")):
            raise ValueError("WECOM_AIBOT_WS_URL must start with wss:// (or ws:// on loopback)")
        return self

    @model_validator(mode="after")
    def _check_public_names(self) -> Settings:
        if self.public_url and self.public_hosts.strip():
            own = _host_name(urlsplit(self.public_url).hostname or "")
            listed = {_host_name(entry) for entry in self.public_hosts.split(",")}
            if own not in listed:
                raise ValueError(
                    f"PUBLIC_HOSTS must include PUBLIC_URL's host ({own}): "
                    "sign-in links would be refused"
                )
        return self

    @property
    def wechat_enabled(self) -> bool:
        """Whether the Official Account's settings are present."""
        return bool(self.wechat_app_id)

    @property
    def wecom_enabled(self) -> bool:
        """Whether the WeCom app's settings are present."""
        return bool(self.wecom_corp_id)

    @property
    def wecom_aibot_enabled(self) -> bool:
        """Whether the WeCom AI bot's settings are present."""
        return bool(self.wecom_aibot_id)

    @property
    def wecom_kf_enabled(self) -> bool:
        """Whether 微信客服's settings are present."""
        return bool(self.wecom_kf_secret)

    @property
    def wecom_kf_corp(self) -> str:
        """The corp of 微信客服: its own setting, else the WeCom app's."""
        return self.wecom_kf_corp_id or self.wecom_corp_id

    @property
    def wecom_kf_account_ids(self) -> dict[str, str]:
        """The 客服 account (open_kfid) of each estate, by estate code."""
        return _pairs(self.wecom_kf_accounts)

    @property
    def wechat_templates(self) -> dict[str, str]:
        """Template message settings by notice kind (`ID` or `ID key=field key=field`)."""
        kinds = ("bill", "arrears", "warranty", "notice")
        found = {kind: getattr(self, f"wechat_template_{kind}").strip() for kind in kinds}
        return {kind: value for kind, value in found.items() if value}

    @property
    def wecom_robot_keys(self) -> dict[str, str]:
        """Webhook keys of the WeCom group robots, by chat id (`ESTATE_CODE/GROUP`)."""
        return _pairs(self.wecom_robots)

    @property
    def wecom_staff_chat_ids(self) -> dict[str, str]:
        """The app group chat that is each estate's staff chat, by estate code."""
        return _pairs(self.wecom_staff_chats)

    telegram_bot_token: str = Field(default="", repr=False)
    telegram_webhook_url: str = ""
    # Validated even when unset: a webhook without a secret would take updates from anyone.
    telegram_webhook_secret: str = Field(default="", validate_default=True)
    telegram_api_base_url: str = ""
    telegram_file_base_url: str = ""

    @field_validator("telegram_webhook_url", "telegram_api_base_url", "telegram_file_base_url")
    @classmethod
    def _check_telegram_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local Bot API server)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _check_telegram_secret(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not value and info.data.get("telegram_webhook_url"):
            raise ValueError("must be set when TELEGRAM_WEBHOOK_URL is")
        if value and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise ValueError("must start with sqlite://, postgres:// or postgresql://")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("default_language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        if value not in {"zh", "en"}:
            raise ValueError("must be zh or en")
        return value

    def secret_values(self) -> dict[str, str]:
        """Every secret that is set, by the name it is set under (for the logs' redaction)."""
        values = {name.upper(): str(getattr(self, name)) for name in SECRET_SETTINGS}
        for chat_id, key in self.wecom_robot_keys.items():
            values[f"WECOM_ROBOTS {chat_id}"] = key
        password = urlsplit(self.database_url).password
        if password:
            values["DATABASE_URL password"] = password
            if unquote(password) != password:
                # The driver gets it percent-decoded, and may quote it so.
                values["DATABASE_URL password (decoded)"] = unquote(password)
        return {name: value for name, value in values.items() if value}

    @property
    def tz(self) -> ZoneInfo:
        """The deployment's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def nlu_model_file(self) -> Path:
        """Where the trained NLU model is cached."""
        return self.nlu_model_path or self.data_dir / "nlu" / "model.pkl"


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation failure into a readable `SettingsError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper() or "SETTINGS"
            message = error["msg"].removeprefix("Value error, ")
            # A check across settings gets every setting as its input, and a secret setting's
            # value is a secret: never print those.
            shown = error["loc"] and str(error["loc"][0]) not in SECRET_SETTINGS
            got = f" (got {error.get('input')!r})" if shown else ""
            problems.append(f"{name}: {message}{got}")
        raise SettingsError("bad setting: " + "; ".join(problems)) from None
