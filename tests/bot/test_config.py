"""Settings: defaults, `.env.example` listing every one, and bad values refused by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import cli
from bot.config import (
    DEFAULT_DATABASE_URL,
    SECRET_SETTINGS,
    Settings,
    SettingsError,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env and no GUANJIA settings from the machine leak into these tests."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database_url.startswith("sqlite://data/")
    assert settings.timezone == "Asia/Shanghai"
    assert settings.http_port == 8080
    assert settings.nlu_model_file == Path("data/nlu/model.pkl")


def test_env_example_lists_every_setting_with_a_comment() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    lines = text.splitlines()
    listed = {}
    for index, line in enumerate(lines):
        match = re.match(r"^([A-Z_]+)=", line)
        if match:
            listed[match.group(1)] = lines[index - 1]
    assert set(listed) == {name.upper() for name in Settings.model_fields}
    assert all(comment.startswith("# ") for comment in listed.values())


def test_env_example_values_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.timezone == "Asia/Shanghai" and settings.nlu_model_path is None


def test_settings_come_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TIMEZONE=Europe/London\nHTTP_PORT=9000\n", encoding="utf-8")
    settings = load_settings()
    assert settings.timezone == "Europe/London" and settings.http_port == 9000


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("HTTP_PORT", "99999", "HTTP_PORT"),
        ("HTTP_PORT", "eighty", "HTTP_PORT"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("DEFAULT_LANGUAGE", "fr", "DEFAULT_LANGUAGE"),
        ("DEMO_ON_EMPTY", "perhaps", "DEMO_ON_EMPTY"),
        ("PUBLIC_URL", "bot.example.com", "https://bot.example.com"),
        ("PUBLIC_URL", "https://bot.example.com/guanjia", "no path"),
        ("PUBLIC_HOSTS", "https://bot.example.com", "not a host name"),
        ("WEBCHAT_DEMO_UNSAFE_PUBLIC", "maybe", "WEBCHAT_DEMO_UNSAFE_PUBLIC"),
        ("CONSOLE_SESSION_HOURS", "0", "CONSOLE_SESSION_HOURS"),
        ("CONSOLE_LOGIN_MINUTES", "600", "CONSOLE_LOGIN_MINUTES"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    says: str,
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert name in str(caught.value) and says in str(caught.value)
    assert cli.main(["estates"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("guanjia: bad setting:") and name in err and "Traceback" not in err


def test_every_setting_that_looks_secret_is_kept_out_of_the_logs() -> None:
    looks_secret = {
        name
        for name in Settings.model_fields
        if re.search(r"secret|token|aes_key|password|passwd|credential", name)
    }
    assert looks_secret <= set(SECRET_SETTINGS)
    assert set(SECRET_SETTINGS) <= set(Settings.model_fields)


def test_secret_values_hold_every_secret_that_is_set_by_its_name() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="postgres://guanjia:p%40ss-word@db.internal:5432/guanjia",
        telegram_bot_token="123456:TEST-token",
        telegram_webhook_url="https://guanjia.example.com/telegram/webhook",
        telegram_webhook_secret="hook-secret",
        wechat_app_id="wx1",
        wechat_app_secret="app-secret",
        wechat_token="wechat-token",
        wechat_encoding_aes_key="a" * 43,
        wecom_corp_id="ww1",
        wecom_agent_id=1000002,
        wecom_secret="corp-secret",
        wecom_token="wecom-token",
        wecom_encoding_aes_key="b" * 43,
        wecom_robots="demo/owners-1=robot-key-1, demo/owners-2=robot-key-2",
    )
    assert settings.secret_values() == {
        "TELEGRAM_BOT_TOKEN": "123456:TEST-token",
        "TELEGRAM_WEBHOOK_SECRET": "hook-secret",
        "WECHAT_APP_SECRET": "app-secret",
        "WECHAT_TOKEN": "wechat-token",
        "WECHAT_ENCODING_AES_KEY": "a" * 43,
        "WECOM_SECRET": "corp-secret",
        "WECOM_TOKEN": "wecom-token",
        "WECOM_ENCODING_AES_KEY": "b" * 43,
        "WECOM_ROBOTS demo/owners-1": "robot-key-1",
        "WECOM_ROBOTS demo/owners-2": "robot-key-2",
        "DATABASE_URL password": "p%40ss-word",
        "DATABASE_URL password (decoded)": "p@ss-word",
    }
    assert load_settings().secret_values() == {}


def test_public_names_default_to_loopback_and_follow_public_url() -> None:
    local = load_settings()
    assert local.public_base_url == "http://127.0.0.1:8080" and local.http_on_loopback
    assert local.public_host_names == {"127.0.0.1", "::1", "localhost"}
    public = load_settings(http_host="0.0.0.0", public_url="https://Bot.Example.com/")
    assert not public.http_on_loopback
    assert public.public_base_url == "https://Bot.Example.com"
    assert public.public_host_names == {"bot.example.com"}
    listed = load_settings(
        http_host="0.0.0.0",
        public_url="https://bot.example.com",
        public_hosts="bot.example.com, guanjia.example.org",
    )
    assert listed.public_host_names == {"bot.example.com", "guanjia.example.org"}
    assert load_settings(http_host="::1").public_base_url == "http://[::1]:8080"


def test_public_hosts_must_name_public_urls_host() -> None:
    with pytest.raises(SettingsError, match="PUBLIC_HOSTS must include PUBLIC_URL's host"):
        load_settings(public_url="https://bot.example.com", public_hosts="other.example.com")


def test_a_short_console_key_is_refused_without_being_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSOLE_SECRET_KEY", "tooshort-secret")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "CONSOLE_SECRET_KEY" in str(caught.value) and "32" in str(caught.value)
    assert "tooshort-secret" not in str(caught.value)
    key = "k" * 40
    assert load_settings(console_secret_key=key).secret_values() == {"CONSOLE_SECRET_KEY": key}
