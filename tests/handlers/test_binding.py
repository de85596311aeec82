"""Binding accounts through the router: owner codes, requests and approval, staff codes, chats."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import cli
from bot.config import Settings
from bot.core.codes import issue_code
from bot.core.types import ChatRef, Platform
from models import (
    BindingRequest,
    Chat,
    ChatIdentity,
    ChatKind,
    CodePurpose,
    GuessBudget,
    OneTimeCode,
    Owner,
    RequestStatus,
    Staff,
    Ticket,
    TicketStatus,
)
from tests.conftest import StoreOpener
from tests.desk import OWNERS, ROOT, STAFF, Desk
from tests.factories import make_owner
from tests.staffdesk import bind_staff, payloads, register_code, report, staff_texts

CODE = re.compile(r"[A-Z2-9]{8}")


async def identity(user: str) -> ChatIdentity:
    return await ChatIdentity.get(platform=Platform.WEBCHAT, user_id=user)


def code_in(text: str) -> str:
    found = CODE.findall(text)
    assert len(found) == 1, text
    return found[0]


async def staff_issues_code(desk: Desk, command: str, staff_user: str = "u-zhang") -> str:
    """A staff member asks for a code in the staff chat; returns the code told privately."""
    desk.channel.clear()
    await desk.say(command, staff_user, STAFF)
    assert staff_texts(desk) == ["绑定码已私信发给您。"]
    [private] = desk.channel.texts(desk.private(staff_user).chat_id)
    return code_in(private)


async def test_an_owner_binds_with_a_staff_code(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    code = await staff_issues_code(desk, "绑定码 3-2-501")
    assert all(code not in text for text in staff_texts(desk))  # never shown in the group

    await desk.say(f"/bind {code}", "u-li-phone", desk.private("u-li-phone"))

    assert (await identity("u-li-phone")).owner_id == desk.owners["li"].id
    [reply] = desk.channel.texts(desk.private("u-li-phone").chat_id)
    assert "绑定成功" in reply and "李华" in reply and "3-2-501" in reply
    used = await OneTimeCode.get(code=code)
    assert used.used_by == "webchat:u-li-phone"


async def test_a_bare_code_and_a_code_run_into_the_word_both_work(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    first = await staff_issues_code(desk, "code 3-1-501")
    second = await staff_issues_code(desk, "code 7-1-302")

    await desk.say(first.lower(), "u-a", desk.private("u-a"))
    await desk.say(f"绑定{second}", "u-b", desk.private("u-b"))

    assert (await identity("u-a")).owner_id == desk.owners["smith"].id
    assert (await identity("u-b")).owner_id == desk.owners["wang"].id


async def test_an_expired_code_is_refused(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    code = await staff_issues_code(desk, "绑定码 3-2-501")
    desk.clock.advance(hours=24, minutes=1)

    await desk.say(f"绑定 {code}", "u-li-phone", desk.private("u-li-phone"))

    assert (await identity("u-li-phone")).owner_id is None
    [reply] = desk.channel.texts(desk.private("u-li-phone").chat_id)
    assert "已过期" in reply


async def test_a_used_code_is_refused(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    code = await staff_issues_code(desk, "绑定码 3-2-501")
    await desk.say(f"/bind {code}", "u-li-phone", desk.private("u-li-phone"))

    await desk.say(f"/bind {code}", "u-thief", desk.private("u-thief"))

    assert (await identity("u-thief")).owner_id is None
    [reply] = desk.channel.texts(desk.private("u-thief").chat_id)
    assert "已经用过" in reply


async def test_five_wrong_codes_lock_the_account_out_for_an_hour(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    code = await staff_issues_code(desk, "绑定码 3-2-501")
    private = desk.private("u-guess")

    for guess in ("ZZZZ2222", "ZZZZ3333", "ZZZZ4444", "ZZZZ5555", "ZZZZ6666"):
        await desk.say(f"/bind {guess}", "u-guess", private)
        desk.clock.advance(minutes=5)
    await desk.say(f"/bind {code}", "u-guess", private)

    replies = desk.channel.texts(private.chat_id)
    assert all("不正确" in r for r in replies[:4])
    # The fifth wrong code says the lock is on, until 20 + 60 minutes after 10:00.
    assert "11:20 之前暂停验证" in replies[4]
    assert "请在 11:20 之后再试" in replies[5]
    assert (await identity("u-guess")).owner_id is None

    desk.clock.advance(minutes=56)  # 11:21
    await desk.say(f"/bind {code}", "u-guess", private)
    assert (await identity("u-guess")).owner_id == desk.owners["li"].id


async def test_words_that_are_not_codes_are_not_guesses(desk: Desk) -> None:
    private = desk.private("u-x")
    await desk.say("绑定", "u-x", private)
    await desk.say("/bind my flat please", "u-x", private)

    replies = desk.channel.texts(private.chat_id)
    assert len(replies) == 2 and all("绑定码" in r for r in replies)
    assert await GuessBudget.all().count() == 0  # no guess was counted anywhere


async def test_too_many_wrong_codes_in_the_estate_pause_codes_for_everyone(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    code = await staff_issues_code(desk, "绑定码 3-2-501")
    # Six accounts, five wrong codes each, all in this (the only) estate: 10:00 to 10:29.
    for n in range(30):
        await desk.say("/bind ZZZZ2222", f"u-guess{n // 5}", desk.private(f"u-guess{n // 5}"))
        desk.clock.advance(minutes=1)
    assert await GuessBudget.get(key=f"estate:{desk.estate.id}").values("count") == {"count": 30}

    newcomer = desk.private("u-newcomer")
    await desk.say(f"/bind {code}", "u-newcomer", newcomer)
    # Refused unseen until an hour after the thirtieth wrong code (10:29), though it is right.
    assert desk.channel.texts(newcomer.chat_id) == ["绑定码错误次数过多，请在 11:29 之后再试。"]
    assert (await identity("u-newcomer")).owner_id is None

    desk.clock.advance(minutes=60)  # 11:30
    await desk.say(f"/bind {code}", "u-newcomer", newcomer)
    assert (await identity("u-newcomer")).owner_id == desk.owners["li"].id


async def test_a_unit_with_several_owners_needs_a_name(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    await make_owner(desk.estate, "李明", desk.units["3-2-501"])
    desk.channel.clear()

    await desk.say("绑定码 3-2-501", "u-zhang", STAFF)
    [asked] = staff_texts(desk)
    assert "多位业主" in asked and "李华" in asked and "李明" in asked
    await desk.say("绑定码 3-2-501 王五", "u-zhang", STAFF)
    assert "没有 王五" in staff_texts(desk)[-1]
    assert await OneTimeCode.all().count() == 0

    code = await staff_issues_code(desk, "绑定码 3-2-501 李明")
    await desk.say(code, "u-ming", desk.private("u-ming"))
    owner = await Owner.get(id=(await identity("u-ming")).owner_id)
    assert owner.name == "李明"


async def test_binding_by_request_and_approval(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    private = desk.private("u-new")

    await desk.say("申请绑定 3-2-501 李华", "u-new", private, name="Li Hua")

    request = await BindingRequest.get(user_id="u-new")
    assert request.status is RequestStatus.PENDING and request.name == "李华"
    [card] = staff_texts(desk)
    assert card == f"绑定申请 #{request.id}：3-2-501 李华（webchat 账号：Li Hua）"
    [card_message] = desk.channel.to(STAFF.chat_id)
    assert payloads(card_message) == [f"approve:{request.id}", f"refuse:{request.id}"]
    assert "已提交" in desk.channel.texts(private.chat_id)[0]
    # Asking twice does not make two requests.
    await desk.say("申请绑定 3-2-501 李华", "u-new", private)
    assert await BindingRequest.all().count() == 1

    # Someone in the staff chat who is not staff cannot approve it.
    await desk.say("", "u-li", STAFF, payload=f"approve:{request.id}")
    assert (await BindingRequest.get(id=request.id)).status is RequestStatus.PENDING
    assert (await identity("u-new")).owner_id is None

    desk.channel.clear()
    toast = await desk.press(f"approve:{request.id}", "u-zhang", STAFF, on="out-1")

    decided = await BindingRequest.get(id=request.id)
    assert decided.status is RequestStatus.APPROVED and decided.decided_at == desk.clock.now()
    assert (await identity("u-new")).owner_id == desk.owners["li"].id
    decision = f"已同意绑定申请 #{request.id}：3-2-501 李华（张工）。"
    # The presser is told privately, and the request card says it, without its buttons.
    assert toast == decision and staff_texts(desk) == []
    [(sent, card)] = desk.channel.edits
    assert sent.message_id == "out-1" and card.text == decision and card.buttons == ()
    assert "已通过" in desk.channel.texts(private.chat_id)[0]

    await desk.say(f"refuse {request.id}", "u-zhang", STAFF)
    assert "已处理过" in staff_texts(desk)[-1]
    assert (await identity("u-new")).owner_id == desk.owners["li"].id


async def test_an_approved_request_with_a_new_name_makes_a_new_owner(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    await desk.say("bind request 3-1-501 Jane Smith", "u-jane", desk.private("u-jane"))
    request = await BindingRequest.get(user_id="u-jane")

    await desk.say(f"approve {request.id}", "u-zhang", STAFF)

    owner = await Owner.get(id=(await identity("u-jane")).owner_id)
    assert owner.name == "Jane Smith" and owner.id != desk.owners["smith"].id
    assert [u.label for u in await owner.units.all()] == ["3-1-501"]


async def test_a_refused_request_binds_nothing(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    await desk.say("申请绑定 3-2-501 骗子", "u-bad", desk.private("u-bad"))
    await desk.say("申请绑定 9-9-999 骗子", "u-bad", desk.private("u-bad"))
    request = await BindingRequest.get(user_id="u-bad")
    desk.channel.clear()

    await desk.say(f"拒绝 {request.id}", "u-zhang", STAFF)

    assert (await BindingRequest.get(id=request.id)).status is RequestStatus.REFUSED
    assert (await identity("u-bad")).owner_id is None
    assert "未通过" in desk.channel.texts(desk.private("u-bad").chat_id)[0]
    assert await BindingRequest.all().count() == 1  # the unknown unit made no request


async def test_a_staff_code_binds_an_account_that_then_acts_as_staff_until_unbound(
    desk: Desk,
) -> None:
    await bind_staff("u-chen", desk.staff["chen"])  # the supervisor
    ticket = await report(desk)

    # Before: the engineer's account is only a member of the staff chat.
    await desk.say("", "u-zhang", STAFF, payload=f"claim:{ticket.id}")
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.OPEN

    code = await staff_issues_code(desk, "员工码 张工", staff_user="u-chen")
    await desk.say(f"/bind {code}", "u-zhang", desk.private("u-zhang"))
    assert "绑定成功" in desk.channel.texts(desk.private("u-zhang").chat_id)[-1]
    assert (await identity("u-zhang")).staff_id == desk.staff["zhang"].id

    await desk.say("", "u-zhang", STAFF, payload=f"claim:{ticket.id}")
    claimed = await Ticket.get(id=ticket.id)
    assert claimed.status is TicketStatus.CLAIMED
    assert claimed.claimed_by_id == desk.staff["zhang"].id

    await desk.say("bindings 张工", "u-chen", STAFF)
    assert "张工" in staff_texts(desk)[-1] and "u-zhang" in staff_texts(desk)[-1]
    await desk.say("解绑 张工", "u-chen", STAFF)
    assert staff_texts(desk)[-1] == "已解绑 张工 的 1 个账号，立即生效。"
    assert (await identity("u-zhang")).staff_id is None

    await desk.say("队列", "u-zhang", STAFF)
    assert "只有本小区已绑定的工作人员" in staff_texts(desk)[-1]


async def test_only_a_supervisor_issues_staff_codes_and_unbinds_staff(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind_staff("u-chen", desk.staff["chen"])

    await desk.say("员工码 陈主管", "u-zhang", STAFF)
    await desk.say("解绑 陈主管", "u-zhang", STAFF)

    assert staff_texts(desk) == ["只有主管或项目经理可以这样操作，没有任何改动。"] * 2
    assert await OneTimeCode.all().count() == 0
    assert (await identity("u-chen")).staff_id == desk.staff["chen"].id


async def test_bindings_of_a_unit_and_unbinding_an_owner_account(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    code = await staff_issues_code(desk, "绑定码 3-2-501")
    await desk.say(code, "u-li-phone", desk.private("u-li-phone"), name="Li's phone")
    account = await identity("u-li-phone")
    desk.channel.clear()

    await desk.say("绑定列表 3-2-501", "u-zhang", STAFF)
    [listing] = staff_texts(desk)
    assert listing == f"3-2-501 已绑定的账号：\n#{account.id} 李华（webchat：Li's phone）"
    assert "13800000001" not in listing

    await desk.say(f"解绑 {account.id}", "u-zhang", STAFF)
    assert (await identity("u-li-phone")).owner_id is None
    await desk.say("bindings 3-2-501", "u-zhang", STAFF)
    assert staff_texts(desk)[-1] == "3-2-501 没有绑定的账号。"


async def test_register_makes_a_group_the_estates_staff_chat(desk: Desk) -> None:
    # A wrong code registers nothing.
    await desk.say(
        "/register WXYZ2345", "u-boss", ChatRef(Platform.WEBCHAT, "new-staff-room", True)
    )
    assert await Chat.get_or_none(chat_id="new-staff-room") is None
    assert "不正确" in desk.channel.texts("new-staff-room")[-1]
    desk.channel.clear()
    code = await register_code(desk.estate, ChatKind.STAFF, desk.clock.now())
    group = ChatRef(Platform.WEBCHAT, "new-staff-room", is_group=True)

    await desk.say(f"/register {code}", "u-boss", group)

    chat = await Chat.get(chat_id="new-staff-room")
    assert chat.kind is ChatKind.STAFF and chat.estate_id == desk.estate.id
    assert desk.channel.texts("new-staff-room") == ["本群已登记为 Estate demo 的员工群。"]
    # From now on, new tickets' cards go there too.
    await report(desk)
    assert any("R-0001" in t for t in desk.channel.texts("new-staff-room"))

    await desk.say(f"/register {code}", "u-boss", ChatRef(Platform.WEBCHAT, "g2", True))
    assert "已经用过" in desk.channel.texts("g2")[0]
    assert await Chat.get_or_none(chat_id="g2") is None


async def test_register_refuses_a_group_of_another_estate_and_keeps_the_code(desk: Desk) -> None:
    from tests.factories import make_estate

    other = await make_estate("other")
    code = await issue_code(
        other,
        CodePurpose.REGISTER_CHAT,
        created_by="cli",
        now=desk.clock.now(),
        chat_kind=ChatKind.OWNERS,
    )

    await desk.say(f"/register {code.code}", "u-boss", OWNERS)

    assert "另一个小区" in desk.channel.texts(OWNERS.chat_id)[0]
    assert (await Chat.get(chat_id="owners")).estate_id == desk.estate.id
    assert (await OneTimeCode.get(id=code.id)).used_at is None


@pytest.fixture
def sqlite_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh SQLite store file, and no settings from the machine."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite://{tmp_path}/store.sqlite3")
    monkeypatch.setenv("NLU_MODEL_PATH", str(ROOT / "data" / "nlu" / "model.pkl"))
    return tmp_path


def test_guanjia_staff_code_prints_a_staff_code(
    sqlite_file: Path, capsys: pytest.CaptureFixture[str], store_opener: StoreOpener
) -> None:
    import asyncio

    from models.store import close_store, open_store
    from tests.factories import make_estate, make_staff

    async def seed() -> None:
        await open_store(await store_opener.copy_sqlite_store(sqlite_file / "store.sqlite3"))
        estate = await make_estate()
        await make_staff(estate, "张工")
        await close_store()

    async def code_row(code: str) -> tuple[str, str]:
        await open_store(f"sqlite://{sqlite_file}/store.sqlite3")
        row = await OneTimeCode.get(code=code)
        staff = await Staff.get(id=row.staff_id)
        await close_store()
        return row.purpose, staff.name

    asyncio.run(seed())
    assert cli.main(["staff", "code", "张工"]) == 0
    out, err = capsys.readouterr()
    code = out.strip()
    assert CODE.fullmatch(code) and f"/bind {code}" in err
    assert asyncio.run(code_row(code)) == (CodePurpose.BIND_STAFF, "张工")

    assert cli.main(["staff", "code", "nobody", "--estate", "demo"]) == 1
    assert "no active staff member 'nobody'" in capsys.readouterr().err
