"""Log safety: secrets out of every record of every logger, and owners' words cut and masked.

The redaction is checked on strings, on records of third-party loggers whatever handles them,
and on the DEBUG log of a real run: the Telegram channel against the fake Bot API over HTTP, the
WeChat and WeCom channels against their fake APIs, with every secret set. The router's failure
log is checked for a message with a phone number, a code and an ID card number in it.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import aiohttp
import pytest
import telegram.ext._aioratelimiter as aioratelimiter
from aiohttp import web

from bot.adapters.telegram import TelegramChannel
from bot.adapters.wechat import WeChatChannel
from bot.adapters.wecom import WeComChannel
from bot.app import App, start_parts
from bot.config import Settings
from bot.core import codes
from bot.core.console import SESSION_KEY_NAME
from bot.core.logsafe import (
    MAX_LEARNED,
    Redactor,
    install_redaction,
    installed_redactor,
    log_excerpt,
    mask_personal,
    remember_secret,
    uninstall_redaction,
)
from bot.core.types import ChatRef, OutgoingMessage, Platform
from models import ApiToken, Chat, ChatKind, Ticket
from tests.adapters.fake_bot_api import FakeBotApi, serve_bot_api
from tests.adapters.test_telegram import GROUP, LI, InstantAsyncio, Updates, free_port, post
from tests.adapters.wx_fake import (
    AES_KEY,
    AGENT_ID,
    APP_ID,
    APP_SECRET,
    CORP_ID,
    CORP_SECRET,
    TOKEN,
    FakeWeChatApi,
    api_base,
    safe_request,
    serve,
    text_xml,
    wecom_request,
)
from tests.desk import Desk

# A token shaped like a real one (the fake Bot API accepts whichever it is given).
TG_TOKEN = "7012345678:AAHq3-Zx_realistic0Token9abcdefghijKLM"
WEBHOOK_SECRET = "hook-Secret_42"
DB_PASSWORD = "db-Pass-w0rd"
ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
ROBOT_CHAT = "demo/owners-1"
STAFF_CHAT = "wrStaffChat01"
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz1"
REPAIR = "3栋2单元501 厨房水管漏水了"
WECHAT_REPAIR = "5栋1单元1202 卫生间天花板漏水了"
WECOM_REPAIR = "7栋1单元302 客厅的灯坏了，不亮"
# Every logger a run writes through, ours and the libraries'.
LOGGERS = (
    "",
    "guanjia",
    "bot",
    "telegram",
    "httpx",
    "httpcore",
    "urllib3",
    "requests",
    "wechatpy",
    "tortoise",
    "aiosqlite",
    "asyncpg",
    "aiohttp",
    "apscheduler",
)


@pytest.fixture
def redaction() -> Iterator[Callable[[Mapping[str, str]], Redactor]]:
    """Install a redactor for the test; the record factory is put back afterwards."""
    before = logging.getLogRecordFactory()

    def install(secrets: Mapping[str, str]) -> Redactor:
        return install_redaction(Redactor(secrets))

    yield install
    logging.setLogRecordFactory(before)


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as handlers see it, plus its raw arguments and exception text."""
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), record.exc_text or ""]
        parts.append(record.stack_info or "")
    return "\n".join(parts)


# ---- redacting text ------------------------------------------------------------------------


def test_secret_values_are_replaced_by_their_setting_names() -> None:
    redactor = Redactor({"WECHAT_APP_SECRET": "app-secret", "WECOM_TOKEN": "guanjiatoken"})
    said = redactor.redact("refused app-secret, then guanjiatoken; app-secret again")
    assert said == "refused <WECHAT_APP_SECRET>, then <WECOM_TOKEN>; <WECHAT_APP_SECRET> again"


@pytest.mark.parametrize(
    ("line", "secret", "kept"),
    [
        (
            "Set Bot API URL: https://api.telegram.org/bot987654321:AAEabcdefghijklmnopqrstuvw/x",
            "AAEabcdefghijklmnopqrstuvw",
            "https://api.telegram.org/bot987654321:<redacted>/x",
        ),
        (
            "HTTP Request: POST http://127.0.0.1:8081/file/bot42:AAE-0123456789_x/photos/a.jpg",
            "AAE-0123456789_x",
            "/file/bot42:<redacted>/photos/a.jpg",
        ),
        (
            'http://127.0.0.1:9 "GET /cgi-bin/gettoken?corpid=ww01&corpsecret=Zq9-x_y HTTP/1.1"',
            "Zq9-x_y",
            "corpid=ww01&corpsecret=<redacted> HTTP/1.1",
        ),
        (
            "GET /cgi-bin/token?grant_type=client_credential&appid=wx1&secret=4f5e6d7c8b",
            "4f5e6d7c8b",
            "appid=wx1&secret=<redacted>",
        ),
        (
            "POST /cgi-bin/message/send?access_token=Kx81_zQ-77&debug=1 200",
            "Kx81_zQ-77",
            "send?access_token=<redacted>&debug=1 200",
        ),
        (
            "POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aaa HTTP/1.1",
            "693a91f6-7aaa",
            "/webhook/send?key=<redacted> HTTP/1.1",
        ),
        (
            "ClientResponseError(url=URL('https://q/cgi-bin/webhook/upload_media?type=file&key=k-123456'))",
            "k-123456",
            "upload_media?type=file&key=<redacted>')",
        ),
        (
            "connecting to postgres://guanjia:S3cr%40t-pw@db.internal:5432/guanjia",
            "S3cr%40t-pw",
            "postgres://guanjia:<redacted>@db.internal:5432/guanjia",
        ),
        (
            "Calling `setWebhook` with parameters `{'url': 'https://x', 'secret_token': 'tt1'}`",
            "tt1",
            "'secret_token': '<redacted>'}",
        ),
        (
            'answer {"access_token":"ACCESS-77","expires_in":7200}',
            "ACCESS-77",
            '{"access_token":"<redacted>","expires_in":7200}',
        ),
    ],
)
def test_credentials_are_redacted_by_their_shape_whatever_their_value(
    line: str, secret: str, kept: str
) -> None:
    said = Redactor().redact(line)
    assert secret not in said
    assert kept in said


@pytest.mark.parametrize(
    "line",
    [
        "postgres://postgres@127.0.0.1:5432/test is ready",
        'http://127.0.0.1:43993 "GET /cgi-bin/appchat/get?chatid=wrStaffChat01 HTTP/1.1" 200',
        "the robot answers at 12:30; 100% of the bills are out",
        "delivery key=bill:5:2026-11 sent to 3-2-501",
        "getUpdates timeout=10 offset=880002",
    ],
)
def test_ordinary_lines_are_left_alone(line: str) -> None:
    assert Redactor({"WECOM_SECRET": "corp-secret"}).redact(line) == line


def test_a_secret_too_short_is_not_redacted_by_value_but_named() -> None:
    redactor = Redactor({"WECHAT_TOKEN": "abc", "WECOM_SECRET": "corp-secret"})
    assert redactor.too_short == ["WECHAT_TOKEN"]
    assert redactor.redact("abc corp-secret") == "abc <WECOM_SECRET>"


def test_a_secret_containing_another_is_redacted_whole() -> None:
    redactor = Redactor({"SHORT": "secret-1", "LONG": "xx-secret-1-yy"})
    assert redactor.redact("xx-secret-1-yy and secret-1") == "<LONG> and <SHORT>"


def test_learned_secrets_are_redacted_from_then_on_and_only_the_latest_kept() -> None:
    redactor = Redactor()
    assert redactor.redact("INSERT ... ['wecom:ww01', 'ACCESS-1']") == (
        "INSERT ... ['wecom:ww01', 'ACCESS-1']"
    )
    redactor.remember("ACCESS-1")
    assert redactor.redact("INSERT ... ['wecom:ww01', 'ACCESS-1']") == (
        "INSERT ... ['wecom:ww01', '<redacted>']"
    )
    for number in range(2, MAX_LEARNED + 2):
        redactor.remember(f"ACCESS-{number}")
    assert redactor.redact("ACCESS-1") == "ACCESS-1"
    assert redactor.redact(f"ACCESS-{MAX_LEARNED + 1}") == "<redacted>"


# ---- every record of every logger ----------------------------------------------------------


def test_records_of_third_party_loggers_are_redacted(
    redaction: Callable[[Mapping[str, str]], Redactor], caplog: pytest.LogCaptureFixture
) -> None:
    redaction({"TELEGRAM_BOT_TOKEN": TG_TOKEN})
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "telegram.ext.ExtBot", "urllib3.connectionpool", "aiohttp.access"):
        caplog.set_level(logging.DEBUG, logger=name)
    other = "5550001111:AAF-another_Bots-token_0123456789"
    logging.getLogger("httpx").info(
        'HTTP Request: POST %s "HTTP/1.1 200 OK"', f"https://api.telegram.org/bot{TG_TOKEN}/getMe"
    )
    logging.getLogger("telegram.ext.ExtBot").debug(
        "Set Bot API URL: %s", f"https://api.telegram.org/bot{other}"
    )
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s %s',
        "https",
        "qyapi.weixin.qq.com",
        443,
        "GET",
        "/cgi-bin/gettoken?corpid=ww01&corpsecret=Zq9-x_y",
        "HTTP/1.1",
        200,
        48,
    )
    logging.getLogger("aiohttp.access").info('"POST /cgi-bin/webhook/send?key=k-999999 HTTP/1.1"')

    logged = everything_logged(caplog)
    for secret in (TG_TOKEN, TG_TOKEN.split(":")[1], other.split(":")[1], "Zq9-x_y", "k-999999"):
        assert secret not in logged
    # The bot's id (public: it is the bot's user id) stays, the rest of the token goes.
    assert "https://api.telegram.org/bot7012345678:<redacted>/getMe" in caplog.text
    assert "https://api.telegram.org/bot5550001111:<redacted>" in caplog.text
    assert "corpsecret=<redacted>" in caplog.text and "key=<redacted>" in caplog.text


def test_a_logger_with_its_own_handler_and_no_propagation_is_redacted(
    redaction: Callable[[Mapping[str, str]], Redactor],
    capsys: pytest.CaptureFixture[str],
) -> None:
    redaction({"WECOM_SECRET": "corp-secret"})
    stream = io.StringIO()
    isolated = logging.getLogger("some.library.isolated")
    handler = logging.StreamHandler(stream)
    isolated.addHandler(handler)
    isolated.propagate = False
    # A logger with no handler of its own that does not propagate ends in logging.lastResort.
    lonely = logging.getLogger("some.library.lonely")
    lonely.propagate = False
    try:
        isolated.warning("token fetch with corpsecret=%s", "corp-secret")
        lonely.warning("retrying gettoken?corpsecret=%s", "corp-secret")
    finally:
        isolated.removeHandler(handler)
        isolated.propagate = lonely.propagate = True

    assert stream.getvalue() == "token fetch with corpsecret=<redacted>\n"
    assert capsys.readouterr().err == "retrying gettoken?corpsecret=<redacted>\n"


def test_exception_text_and_stack_are_redacted_and_args_cannot_bring_it_back(
    redaction: Callable[[Mapping[str, str]], Redactor], caplog: pytest.LogCaptureFixture
) -> None:
    redaction({"WECHAT_APP_SECRET": "app-secret"})
    caplog.set_level(logging.DEBUG, logger="wechatpy")
    log = logging.getLogger("wechatpy")
    try:
        raise RuntimeError("token?appid=wx1&secret=app-secret refused")
    except RuntimeError:
        log.exception("fetching %s failed", "https://api/cgi-bin/token?secret=app-secret")
    log.debug("where: %s", "app-secret", stack_info=True)

    failed, where = caplog.records
    assert failed.getMessage() == "fetching https://api/cgi-bin/token?secret=<redacted> failed"
    assert failed.args == () and "app-secret" not in str(failed.msg)
    assert failed.exc_text is not None and "RuntimeError: token?appid=wx1&secret=<" in (
        failed.exc_text
    )
    assert where.stack_info is not None and where.getMessage() == "where: <WECHAT_APP_SECRET>"
    assert "app-secret" not in everything_logged(caplog)


def test_a_record_that_cannot_be_formatted_is_reported_without_the_secret(
    redaction: Callable[[Mapping[str, str]], Redactor],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Built, not written out: logging's report quotes the source line of the call as well.
    secret = "-".join(("corp", "secret"))
    redaction({"WECOM_SECRET": secret})
    monkeypatch.setattr(logging, "raiseExceptions", True)
    lonely = logging.getLogger("some.library.badformat")
    lonely.propagate = False
    try:
        lonely.warning("two %s %s but one given", secret)
    finally:
        lonely.propagate = True
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err and "Arguments: ('<WECOM_SECRET>',)" in err
    assert secret not in err


def test_installing_again_replaces_the_redactor_and_uninstalling_restores_the_factory(
    redaction: Callable[[Mapping[str, str]], Redactor],
) -> None:
    first = redaction({"A": "first-secret"})
    second = redaction({"B": "second-secret"})
    assert installed_redactor() is second and first is not second
    record = logging.getLogger("x").makeRecord("x", logging.INFO, "f", 1, "%s", ("k",), None)
    assert record.getMessage() == "k"
    made = logging.makeLogRecord({"msg": "first-secret second-secret"})
    # Filled in after the factory made it: a record rebuilt so was redacted where it was made.
    assert made.getMessage() == "first-secret second-secret"
    factory = logging.getLogRecordFactory()
    made = factory("x", logging.INFO, "f", 1, "first-secret second-secret", (), None)
    assert made.getMessage() == "first-secret <B>"  # the second alone, applied once
    remember_secret("learned-token")
    assert second.redact("learned-token") == "<redacted>"
    uninstall_redaction()
    assert installed_redactor() is None
    assert logging.getLogRecordFactory() is logging.LogRecord
    remember_secret("ignored-now")  # nothing installed: nothing to do


# ---- a real run at DEBUG -----------------------------------------------------------------


async def test_a_debug_log_of_a_real_run_holds_no_secret(
    desk: Desk,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    redaction: Callable[[Mapping[str, str]], Redactor],
) -> None:
    monkeypatch.setattr(aioratelimiter, "asyncio", InstantAsyncio())
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    bot_api = FakeBotApi(desk.clock.now())
    runner = web.AppRunner(serve_bot_api(bot_api, TG_TOKEN))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    wx_api = FakeWeChatApi(clock=desk.clock)
    wx_api.members[STAFF_CHAT] = ["zhanggong"]
    wx_server = await serve(wx_api.app())
    await Chat.create(
        platform=Platform.TELEGRAM,
        chat_id=str(GROUP["id"]),
        kind=ChatKind.OWNERS,
        estate=desk.estate,
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        http_port=free_port(),
        scheduler_enabled=False,
        database_url=f"postgres://guanjia:{DB_PASSWORD}@127.0.0.1:5432/guanjia",
        telegram_bot_token=TG_TOKEN,
        telegram_webhook_url="https://guanjia.example.com/telegram/webhook",
        telegram_webhook_secret=WEBHOOK_SECRET,
        telegram_api_base_url=f"http://127.0.0.1:{runner.addresses[0][1]}/bot",
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_token=TOKEN,
        wechat_encoding_aes_key=AES_KEY,
        wechat_api_base_url=api_base(wx_server),
        wechat_reply_wait=4.0,
        wecom_corp_id=CORP_ID,
        wecom_agent_id=AGENT_ID,
        wecom_secret=CORP_SECRET,
        wecom_token=TOKEN,
        wecom_encoding_aes_key=AES_KEY,
        wecom_api_base_url=api_base(wx_server),
        wecom_staff_chats=f"demo={STAFF_CHAT}",
        wecom_robots=f"{ROBOT_CHAT}={ROBOT_KEY}",
    )
    secrets = settings.secret_values()
    assert len(secrets) == 10  # the eight secret settings, the robot's key, the DB password
    redaction(secrets)
    app = App(settings=settings, services=desk.services, router=desk.router)
    base = f"http://127.0.0.1:{settings.http_port}"
    created = int(desk.clock.now().timestamp())
    try:
        await start_parts(app)
        hub = desk.services.hub
        telegram = hub.get(Platform.TELEGRAM)
        wechat = hub.get(Platform.WECHAT)
        wecom = hub.get(Platform.WECOM)
        assert isinstance(telegram, TelegramChannel)
        assert isinstance(wechat, WeChatChannel) and isinstance(wecom, WeComChannel)
        # Telegram: a repair by webhook, answered in the group (getMe, setWebhook, sendMessage).
        update = Updates(desk.clock.now()).message(GROUP, LI, REPAIR)
        assert await post(f"{base}/telegram/webhook", update, WEBHOOK_SECRET) == 200
        await telegram.application.update_queue.join()
        async with aiohttp.ClientSession() as http:
            # WeChat, safe mode: a repair by callback; then a customer-service message (token).
            query, body = safe_request(text_xml(OPENID, WECHAT_REPAIR, 9001, created))
            async with http.post(f"{base}/wechat/callback", params=query, data=body) as answer:
                assert answer.status == 200
            # WeCom: a repair to the app; its card goes to the staff chat through the API.
            query, body = wecom_request(
                text_xml("liuyezhu", WECOM_REPAIR, 9002, created, to=CORP_ID)
            )
            async with http.post(f"{base}/wecom/callback", params=query, data=body) as answer:
                assert answer.status == 200
        await wechat.drain()
        await wecom.drain()
        await wechat.send(OutgoingMessage(ChatRef(Platform.WECHAT, OPENID, False), "您好"))
        await wecom.send(OutgoingMessage(ChatRef(Platform.WECOM, ROBOT_CHAT, True), "停水通知"))
        await wecom.send(OutgoingMessage(ChatRef(Platform.WECOM, "liuyezhu", False), "您好"))
        # What a library might log: the store's URL, a request URL with the token.
        logging.getLogger("tortoise").debug("connecting to %s", settings.database_url)
        logging.getLogger("asyncpg").warning("lost %r", settings.database_url)
        logging.getLogger("httpx").info("HTTP Request: POST %s/getMe", f"https://x/bot{TG_TOKEN}")
    finally:
        for part in reversed(app.started):
            await part.stop()
        await runner.cleanup()
        await wx_server.close()

    # The run did what it logs: tickets, answers, API calls with the tokens.
    assert await Ticket.all().count() == 3
    assert bot_api.texts(GROUP["id"]) and wx_api.to("webhook/send")
    # The two platforms' access tokens, and the key the console's session cookies are sealed
    # with (made at start-up, kept in the store): none of them is ever logged.
    tokens = {row.name: row.token for row in await ApiToken.all()}
    assert (
        len(tokens) == 3
        and SESSION_KEY_NAME in tokens
        and all(call.query.get("key") == ROBOT_KEY for call in wx_api.to("webhook/send"))
    )
    logged = everything_logged(caplog)
    for name, value in secrets.items():
        assert value not in logged, name
    for name, token in tokens.items():
        assert token not in logged, name
    assert not re.search(r"ACCESS-\d", logged)
    # ... while the URLs that carried them were logged, redacted.
    for shown in (
        "/bot7012345678:<redacted>/getMe",
        "'secret_token': '<redacted>'",
        "corpsecret=<redacted>",
        "&secret=<redacted>",
        "access_token=<redacted>",
        "/webhook/send?key=<redacted>",
        "postgres://guanjia:<redacted>@",
    ):
        assert shown in caplog.text, shown


# ---- owners' words in error logs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13812345678，急", "电话[phone]，急"),
        ("call +86 138 1234 5678 or 010-12345678", "call [phone] or [phone]"),
        ("(0755)88886666 转前台", "[phone] 转前台"),
        ("验证码 K7MP9QXR 绑定", "验证码 [code] 绑定"),
        ("/bind k7mp-9qxr", "/bind [code]"),
        # Split by a space, the word before may be taken for half a code: both go.
        ("/bind K7MP 9QXR 谢谢", "/[code] 谢谢"),
        ("码 ABCD 2345", "码 [code]"),
        ("身份证 11010519491231002X 卡号 6222 0212 3456 7890", "身份证 [number] 卡号 [number]"),
        ("订单 20261123000123", "订单 [number]"),
        ("卡 6222-3456-7890-2345 或 6222 3456 7890 2345", "卡 [number] 或 [number]"),
        ("码 523856AT", "码 [code]"),
        ("3栋2单元501 厨房水管漏水了 2026-11-23", "3栋2单元501 厨房水管漏水了 2026-11-23"),
        ("PASSWORD and R-0001, 5-1-1202, ¥356.80", "PASSWORD and R-0001, 5-1-1202, ¥356.80"),
    ],
)
def test_phones_codes_and_long_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_personal(text) == masked


def test_every_issued_code_is_masked_however_it_is_typed() -> None:
    for _ in range(300):
        code = codes.new_code()
        for typed in (code, code.lower(), f"{code[:4]}-{code[4:]}", f"{code[:4]} {code[4:]}"):
            assert codes.normalise(typed) == code
            # One code in 50,000 is all digits: masked as a number.
            assert mask_personal(f"码{typed}谢谢") in ("码[code]谢谢", "码[number]谢谢")
    assert (
        mask_personal("码 2345-6789 或 2345 6789 或 23456789") == "码 [code] 或 [code] 或 [number]"
    )


def test_an_excerpt_is_cut_to_eighty_characters() -> None:
    text = "3栋2单元501 厨房水管漏水了。" + "楼上一直在滴水，" * 30 + "电话13812345678"
    excerpt = log_excerpt(text)
    assert excerpt.startswith("3栋2单元501 厨房水管漏水了。楼上")
    assert excerpt.endswith(f"… ({len(text)} chars)") and len(excerpt) <= 80 + 20
    assert log_excerpt("短消息 13812345678") == "短消息 [phone]"


async def test_the_routers_failure_log_cuts_and_masks_the_message(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken_listener(ctx: object, ticket: object) -> None:
        raise RuntimeError("the staff desk fell over")

    desk.services.ticket_opened.append(broken_listener)
    text = (
        "3栋2单元501 厨房水管漏水了，我电话13812345678，绑定码 K7MP-9QXR，"
        "身份证110105194912310021，" + "楼下天花板也湿了，" * 20 + "尾巴在这里"
    )
    with caplog.at_level(logging.ERROR, logger="bot.core.router"):
        await desk.say(text, message_id="m-lost")

    [failure] = [r for r in caplog.records if r.name == "bot.core.router"]
    assert failure.levelno == logging.ERROR and failure.exc_info is not None
    said = failure.getMessage()
    assert "m-lost" in said and "3栋2单元501 厨房水管漏水了" in said
    for private in ("13812345678", "K7MP-9QXR", "110105194912310021", "尾巴在这里"):
        assert private not in said
    assert "[phone]" in said and "[code]" in said and "[number]" in said
    assert f"({len(text)} chars)" in said
    quoted = said[said.index("'3栋") :]
    assert len(quoted) <= 80 + 20
