"""The staff desk: ticket cards' buttons, staff commands, and the owner's rating.

The router hands every staff-chat message to `StaffDesk.handle`, and a bound staff member's
private messages (any platform) to `StaffDesk.private_command` and `StaffDesk.private_other`: in
private the same commands run, for the staff member's own estate, and anything else is a close
prompt's answer or gets a short hint, never an owner's report (one also bound as an owner reports
as one after `业主` / `owner`). The desk routes what every
handler module declared (`handlers/routes.py`): a button to the module that declared its
prefix, a command (`队列`/`queue`, `回复 R-0012 …`/`reply …`, …: the words are in
`bot/core/vocabulary.py`) to the module that declared it, only for a chat account bound to staff
of the chat's estate (and a supervisor, for a supervisors' command); anyone else is refused and
nothing changes. `帮助`/`help` lists every declared command, one line each from locales/. Other
chatter in the staff chat is left alone.

This module declares the ticket desk's own commands (queue, mine, reply, note, close, reopen,
transfer) and buttons (`claim:<id>`, `transfer:<id>`, `transfer_to:<id>:<from>:<to>`,
`close:<id>`, `rate:<id>:<1-5>`) in `ROUTES`.

Closing by button (offered only once someone holds the ticket) asks the presser for the result
where their answer can reach the bot (the channel says what of a chat it hears): in the chat,
where the result is a reply to the prompt or a message that starts with the ticket's number (in a
chat that hears only @-mentions: their next one); or, where the bot hears nothing of the group (a
WeCom app group chat), in their private chat, where their next message is it. Other chatter
meanwhile is left alone: a "好的我现在过去" never becomes a result. The owner (every
reporter) then gets the result and five rating buttons (`rate:<id>:<1-5>`); 不满意 or worse
reopens the ticket and alerts the supervisor.

A press is answered privately (a toast): refused, taken, too late or done. A used picker or
rating message loses its buttons; a stale one acts on nothing (a transfer button names the
department it moves the ticket from), and no press writes into an owner group.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping

from bot.core import desk, desk_actions, vocabulary
from bot.core.calendar import promise_again
from bot.core.channel import Hearing
from bot.core.context import Context, Outbound, Remember
from bot.core.dialogs import DialogKind, open_dialog, start_dialog
from bot.core.types import OutgoingMessage
from handlers.routes import (
    CommandTable,
    MergedRoutes,
    Routes,
    StaffCommand,
    Who,
    merge_routes,
)
from models import (
    Department,
    Dialog,
    Estate,
    Owner,
    Rating,
    Staff,
    StaffRole,
    Ticket,
    TicketReporter,
    TicketStatus,
    Unit,
)
from models.lifecycle import (
    POOR_RATINGS,
    IllegalTransition,
    add_note,
    rate_ticket,
    reopen_ticket,
    staff_actor,
)

log = logging.getLogger(__name__)

# A close prompt waits this long for its result.
CLOSE_PROMPT_MINUTES = 5
QUEUE_LIMIT = 30
_TICKET_NUMBER = re.compile(r"^([RCQ])-?(\d{1,6})$", re.I)

# Every staff command word of the vocabulary. The desk reads messages with the table of the
# routes it was built with, which `handlers.build_handlers` checks are the vocabulary's.
STAFF_WORDS = CommandTable(vocabulary.STAFF_COMMANDS)


def parse_command(text: str, table: CommandTable = STAFF_WORDS) -> tuple[str, str] | None:
    """(command, the rest) when a staff-chat message is a desk command, else None."""
    return table.parse(text)


# What may stand between `业主` / `owner` and the report it starts.
_AS_OWNER_GAP = " \t\n:：,，"


def as_owner(text: str) -> str | None:
    """The report after `业主` / `owner` at the start of a message (`业主 厨房水管漏水` →
    `厨房水管漏水`; "" when nothing follows), or None when the message does not start so."""
    text = text.strip()
    for word in vocabulary.AS_OWNER.words:
        after = text[len(word) : len(word) + 1]
        if text[: len(word)].lower() == word and (after == "" or after in _AS_OWNER_GAP):
            return text[len(word) :].lstrip(_AS_OWNER_GAP).strip()
    return None


# An @-mention in front of a message (`@管家 队列`): how a message is addressed to the bot in a
# group, and no part of what it says.
_LEADING_MENTIONS = re.compile(r"^(?:@\S+\s+)+")


def desk_text(ctx: Context) -> str:
    """A message's text as the desk reads it: without the @-mentions in front of a message
    addressed to the bot (in a group that hears only @-mentions, every message has one)."""
    text = ctx.message.text.strip()
    if ctx.message.addressed:
        text = _LEADING_MENTIONS.sub("", text).strip()
    return text


def ticket_number(written: str) -> str | None:
    """A ticket number as stored (`R-0012`) from how staff write it (`r12`, `R-0012`)."""
    match = _TICKET_NUMBER.match(written.strip())
    if match is None:
        return None
    return f"{match.group(1).upper()}-{int(match.group(2)):04d}"


# --- The desk: what the router hands a staff-chat message to --------------------------------


class StaffDesk:
    """The staff chat: every handler module's declared commands and buttons, routed for the
    estate's staff, and `help` generated from them."""

    def __init__(self, declared: Mapping[str, Routes]) -> None:
        own = Routes(
            commands=(StaffCommand(vocabulary.HELP, self.help_command, help="desk.help_help"),)
        )
        self.routes: MergedRoutes = merge_routes({**declared, f"{__name__}.StaffDesk": own})

    async def handle(self, ctx: Context) -> None:
        """A message in a staff chat: a button, a command, a close result, or chatter (left
        alone)."""
        if ctx.message.payload is not None:
            await self.press(ctx)
            return
        parsed = self.routes.table.parse(desk_text(ctx))
        if parsed is None:
            if await _close_result(ctx):
                return
            log.debug(
                "staff chat message %s from %s", ctx.message.message_id, ctx.message.sender_id
            )
            return
        await self._run(ctx, *parsed)

    async def _run(self, ctx: Context, name: str, rest: str) -> None:
        """Run a staff command for the sender, if they are staff of the estate (and a
        supervisor, for a supervisors' command)."""
        staff = desk.acting_staff(ctx)
        if staff is None:
            return
        command = self.routes.commands[name]
        if command.who is Who.SUPERVISOR and not StaffRole(staff.role).supervises:
            ctx.reply("desk.supervisor_only")
            return
        await command.run(ctx, rest)

    async def private_command(self, ctx: Context) -> bool:
        """In a bound staff member's private chat: a staff command, run as in the staff chat
        for the estate they are staff of, or the answer to a close prompt sent there; True
        when it was one."""
        if ctx.staff is None or ctx.in_group or ctx.message.payload is not None:
            return False
        parsed = self.routes.table.parse(ctx.message.text)
        if parsed is not None:
            # Their desk is their estate's, whatever else the account is bound to.
            if ctx.estate is None or ctx.estate.id != ctx.staff.estate_id:
                ctx.estate = await Estate.get(id=ctx.staff.estate_id)
            log.info("staff command %r from %s in private", parsed[0], ctx.message.sender_id)
            await self._run(ctx, *parsed)
            return True
        if ctx.owner is not None and as_owner(ctx.message.text):
            return False  # an owner's report, even while a close prompt waits for a result
        return await _close_result(ctx)

    async def private_other(self, ctx: Context) -> bool:
        """The rest of a bound staff member's private messages: never an owner's report. One
        who is also bound as an owner reports as one by starting with `业主` / `owner` (False:
        the router takes the rest as an owner's message; the buttons of what it asks them
        work as any owner's); anything else gets a short hint of what works here, and nothing
        is opened or written. True when it was handled here."""
        if ctx.staff is None or ctx.in_group or ctx.message.payload is not None:
            return False
        report = as_owner(ctx.message.text)
        if ctx.owner is not None and report:
            log.info("%s reports as an owner from private", ctx.message.sender_id)
            ctx.message = dataclasses.replace(ctx.message, text=report)
            return False
        log.info(
            "private message %s from staff %s is no command: answered with the desk's hint",
            ctx.message.message_id,
            ctx.message.sender_id,
        )
        ctx.reply("desk.private_hint_owner" if ctx.owner is not None else "desk.private_hint")
        return True

    async def press(self, ctx: Context) -> None:
        """A button pressed in the staff chat."""
        prefix = (ctx.message.payload or "").split(":", 1)[0]
        handler = self.routes.buttons.get(prefix)
        if handler is None:
            log.info("unknown staff button %r from %s", ctx.message.payload, ctx.message.sender_id)
            ctx.answer_press("input.bad_button")
            return
        await handler(ctx)

    async def word_elsewhere(self, ctx: Context) -> bool:
        """A staff command typed where it does not apply (an owner group; an owner's private
        chat, since a staff member's is their desk): a short answer (a binding word gets how to
        bind), never a ticket; True when it was one."""
        parsed = self.routes.table.parse(ctx.message.text)
        if parsed is None:
            return False
        name, _ = parsed
        log.info(
            "staff command %r from %s in %s answered, not run",
            name,
            ctx.message.sender_id,
            ctx.message.chat,
        )
        command = self.routes.commands[name]
        if command.elsewhere is not None:
            ctx.reply(command.elsewhere)
        elif ctx.staff is not None:
            ctx.reply("desk.use_staff_chat")
        elif not ctx.in_group or ctx.message.addressed:
            ctx.reply("desk.staff_only_command")
        return True

    def help_lines(self, ctx: Context) -> str:
        """One line for each staff command the desk routes: its words (the reader's language
        first) and its line from the catalogues."""
        return "\n".join(
            ctx.text(
                "desk.help_line",
                words=" / ".join(command.words.in_language(ctx.lang)),
                text=ctx.text(command.help),
                who=ctx.text("desk.help_supervisors") if command.who is Who.SUPERVISOR else "",
            )
            for command in self.routes.commands.values()
        )

    async def help_command(self, ctx: Context, rest: str) -> None:
        """`help`: what the staff desk understands."""
        ctx.reply("desk.help", lines=self.help_lines(ctx))


async def _close_result(ctx: Context) -> bool:
    """Take the message as the result a close prompt asked its sender for here, if it is
    one; True when it was."""
    dialog = await open_dialog(ctx)
    if dialog is None or dialog.kind != DialogKind.CLOSE_RESULT:
        return False
    if not _answers_prompt(ctx, dialog.data):
        return False
    await close_result_typed(ctx)
    return True


def _answers_prompt(ctx: Context, data: dict) -> bool:
    """Whether a message from the person a close prompt asked (dialogs are per person and
    chat) is the result: any text in their private chat, where the prompt went; in a group
    whose bot hears only what is addressed to it, any message (each was addressed to it); in
    a group whose bot hears everything, a reply to the prompt or a message that starts with
    the ticket's number, so that chatter meanwhile is left alone."""
    if not desk_text(ctx):
        return False
    if not ctx.in_group:
        return True
    if ctx.channel.hears(ctx.message.chat) is Hearing.ADDRESSED:
        return True
    prompt = data.get("prompt")
    if prompt is not None and ctx.message.replied_to == str(prompt):
        return True
    first = desk_text(ctx).split(maxsplit=1)
    return bool(first) and ticket_number(first[0]) == data.get("number")


async def ticket_opened(ctx: Context, ticket: Ticket) -> None:
    """Queue a new ticket's card to its estate's staff chats (after the message commits)."""
    assert ctx.estate is not None
    home = None
    if ticket.reporter_unit_id is not None:
        home = ctx.units_read.get(ticket.reporter_unit_id) or await Unit.get(
            id=ticket.reporter_unit_id
        )
    owner = ctx.owner if ctx.owner is not None and ctx.owner.id == ticket.owner_id else None
    if owner is None and ticket.owner_id is not None:
        owner = await Owner.get(id=ticket.owner_id)
    building = await desk.building_known(ctx, ctx.estate.id, ticket.location_building)
    known = desk.Known(
        ctx.estate, building, opened=True, owner=owner, home=home, units=ctx.units_read
    )
    ctx.outbox.extend(await desk.card_messages(ticket, ctx.services, known=known))


# --- Buttons -------------------------------------------------------------------------------


async def _pressed_ticket(ctx: Context, parts: int = 2) -> tuple[Staff, Ticket, list[str]] | None:
    """The staff member and the ticket a card button names, or None after refusing."""
    fields = (ctx.message.payload or "").split(":")
    if ctx.staff is None:
        desk.acting_staff(ctx)  # refuses
        return None
    if len(fields) != parts or not fields[1].isdigit():
        ctx.reply("input.bad_button")
        return None
    ticket = await Ticket.get_or_none(id=int(fields[1]))
    if ticket is None:
        ctx.reply("input.bad_button")
        return None
    staff = desk.acting_staff(ctx, ticket.estate_id)
    if staff is None:
        return None
    return staff, ticket, fields


async def claim_pressed(ctx: Context) -> None:
    """`claim:<id>`: of staff pressing at once one wins; the card shows who, the rest are told."""
    found = await _pressed_ticket(ctx)
    if found is None:
        return
    staff, ticket, _ = found
    outcome = await desk_actions.claim(ticket, staff, ctx.now, ctx.services, ctx.lang)
    ctx.outbox.extend(outcome.outbox)
    if outcome.done:
        ctx.answer_press(outcome.key, **outcome.fields)
    else:
        ctx.reply(outcome.key, **outcome.fields)


async def transfer_pressed(ctx: Context) -> None:
    """`transfer:<id>`: offer the departments the ticket could move to."""
    found = await _pressed_ticket(ctx)
    if found is None:
        return
    _, ticket, _ = found
    if ticket.status not in (TicketStatus.OPEN, TicketStatus.CLAIMED):
        ctx.reply(
            "desk.cannot", number=ticket.number, status=ctx.text(f"desk.status_{ticket.status}")
        )
        return
    buttons = desk.transfer_buttons(ticket, ctx.services.catalogues, ctx.lang)
    if ctx.in_group and ctx.channel.hears(ctx.message.chat) is Hearing.NOTHING:
        # Such a group shows buttons as a card to each of its members (a WeCom app group
        # chat): the picker is the presser's alone, so it goes to them privately.
        ctx.tell_private(ctx.text("desk.transfer_choose", number=ticket.number), buttons)
        return
    ctx.reply("desk.transfer_choose", buttons=buttons, number=ticket.number)


async def transfer_to_pressed(ctx: Context) -> None:
    """`transfer_to:<id>:<from>:<to>`: move the ticket there, if it is still in `from`."""
    found = await _pressed_ticket(ctx, parts=4)
    if found is None:
        return
    staff, ticket, fields = found
    departments = {d.value for d in Department}
    if fields[2] not in departments or fields[3] not in departments:
        ctx.answer_press("input.bad_button")
        return
    moved = await _transfer(ctx, staff, ticket, Department(fields[3]), Department(fields[2]))
    text = (
        ctx.text(
            "desk.picker_done",
            number=ticket.number,
            department=ctx.text(f"department.{fields[3]}"),
            name=staff.name,
        )
        if moved
        else ctx.text("desk.picker_stale", number=ticket.number)
    )
    ctx.replace_pressed(text)


async def close_pressed(ctx: Context) -> None:
    """`close:<id>`: prompt for the result; a reply to the prompt (or `R-0012 …`) is it."""
    found = await _pressed_ticket(ctx)
    if found is None:
        return
    _, ticket, _ = found
    if ticket.status is TicketStatus.OPEN:
        ctx.answer_press("desk.close_claim_first", number=ticket.number)
        return
    if ticket.status is not TicketStatus.CLAIMED:
        ctx.answer_press(
            "desk.cannot", number=ticket.number, status=ctx.text(f"desk.status_{ticket.status}")
        )
        return
    # The prompt goes where its answer can come back: the chat the card is in, unless the
    # bot hears nothing of it (a WeCom app group chat); then the presser's private chat.
    hearing = ctx.channel.hears(ctx.message.chat)
    where = ctx.private_chat if hearing is Hearing.NOTHING else ctx.message.chat
    dialog = await start_dialog(
        ctx,
        DialogKind.CLOSE_RESULT,
        {"ticket": ticket.id, "number": ticket.number},
        minutes=CLOSE_PROMPT_MINUTES,
        chat=where,
    )
    if not where.is_group:
        key = "desk.close_ask_private"
    elif hearing is Hearing.ADDRESSED:
        key = "desk.close_ask_addressed"
    else:
        key = "desk.close_ask"
    text = ctx.text(
        key, number=ticket.number, name=ctx.message.sender_name, minutes=CLOSE_PROMPT_MINUTES
    )
    prompt = OutgoingMessage(chat=where, text=text)
    # The prompt's id, once it is out, is what a reply to it names.
    ctx.outbox.append(Outbound(prompt, remember=Remember("dialog_prompt", {"dialog": dialog.id})))
    if where == ctx.message.chat:
        ctx.answer_press("desk.close_prompted", number=ticket.number)
    else:
        log.info(
            "close prompt for %s sent to %s privately: %s does not reach the bot",
            ticket.number,
            ctx.message.sender_id,
            ctx.message.chat,
        )


async def close_result_typed(ctx: Context) -> None:
    """The answer to a close prompt: the result (or `cancel`)."""
    dialog = await open_dialog(ctx)
    assert dialog is not None
    await dialog.delete()
    ticket = await Ticket.get_or_none(id=int(dialog.data.get("ticket", 0)))
    if ticket is None:
        ctx.reply("input.expired_button")
        return
    staff = desk.acting_staff(ctx, ticket.estate_id)
    if staff is None:
        return
    text = desk_text(ctx)
    first, _, rest = text.partition(" ")
    if ticket_number(first) == ticket.number:
        text = rest.strip()
    if text.lower() in vocabulary.CANCEL_WORDS:
        ctx.reply("desk.close_cancelled", number=ticket.number)
        return
    if not text:
        ctx.reply("desk.close_usage")
        return
    await _resolve(ctx, staff, ticket, text)


async def rate_pressed(ctx: Context) -> None:
    """`rate:<id>:<1-5>`: a reporter rates the resolved ticket; a poor rating reopens it.

    The answer is private (a toast), and the rating message loses its buttons.
    """
    fields = (ctx.message.payload or "").split(":")
    if len(fields) != 3 or not fields[1].isdigit() or fields[2] not in {"1", "2", "3", "4", "5"}:
        ctx.answer_press("input.bad_button")
        return
    ticket = await Ticket.get_or_none(id=int(fields[1]))
    if ticket is None:
        ctx.answer_press("input.bad_button")
        return
    platform, user_id = ctx.message.chat.platform, ctx.message.sender_id
    if not await TicketReporter.exists(ticket_id=ticket.id, platform=platform, user_id=user_id):
        log.info("%s:%s may not rate %s", platform, user_id, ticket.number)
        ctx.answer_press("desk.rate_not_reporter", number=ticket.number)
        return
    rating = Rating(int(fields[2]))
    try:
        rated = await rate_ticket(
            ticket.id,
            rating,
            f"{platform}:{user_id}",
            ctx.now,
            due=await promise_again(ticket, ctx.now) if rating in POOR_RATINGS else None,
        )
    except IllegalTransition:
        ctx.answer_press("desk.rate_too_late", number=ticket.number)
        ctx.replace_pressed(ctx.text("desk.rate_closed", number=ticket.number))
        return
    words = ctx.text(f"desk.rating_{int(rating)}")
    ctx.replace_pressed(ctx.text("desk.rate_recorded", number=ticket.number, rating=words))
    ctx.outbox.extend(await desk.card_messages(rated, ctx.services))
    if rating not in POOR_RATINGS:
        ctx.answer_press("desk.rate_thanks", number=ticket.number)
        return
    ctx.answer_press("desk.rate_reopened", number=ticket.number)
    catalogues = ctx.services.catalogues

    def compose(lang: str) -> str:
        return catalogues.text(
            lang,
            "desk.poor_rating_alert",
            number=rated.number,
            rating=catalogues.text(lang, f"desk.rating_{int(rating)}"),
            count=rated.reopen_count,
        )

    ctx.outbox.extend(await desk.supervisor_alerts(rated.estate_id, ctx.services, compose))


async def needs_look(ctx: Context) -> None:
    """A group message that may be a request, below the confidence floor: staff take a look
    (who wrote what, where, and what it seemed to be), rather than nobody."""
    assert ctx.understanding is not None
    if ctx.estate is None:
        return
    u = ctx.understanding
    catalogues = ctx.services.catalogues
    lang = catalogues.default
    group = ctx.chat.title if ctx.chat is not None and ctx.chat.title else ctx.message.chat.chat_id
    text = catalogues.text(
        lang,
        "desk.needs_look",
        name=ctx.message.sender_name or ctx.message.sender_id,
        group=group,
        guess=catalogues.text(lang, f"intent.{u.intent}"),
        confidence=round(u.confidence * 100),
        text=ctx.message.text[:500],
    )
    chats = await desk.staff_chats(ctx.estate.id, ctx.services.cache)
    for chat in chats:
        ctx.outbox.append(Outbound(OutgoingMessage(chat=desk.group_ref(chat), text=text)))
    log.info(
        "message %s below the confidence floor (%s %.2f) shown to %d staff chat(s)",
        ctx.message.message_id,
        u.intent,
        u.confidence,
        len(chats),
    )


# --- Commands ------------------------------------------------------------------------------


async def ticket_from(
    ctx: Context, rest: str, usage: str, *, need_text: bool = False
) -> tuple[Ticket, str] | None:
    """The ticket the command's first word names (in the staff member's estate), and the rest;
    with `need_text`, a command with nothing after the number is shown its usage."""
    assert ctx.staff is not None
    written, _, tail = rest.strip().partition(" ")
    number = ticket_number(written)
    if number is None:
        ctx.reply(usage)
        return None
    ticket = await Ticket.get_or_none(estate_id=ctx.staff.estate_id, number=number)
    if ticket is None:
        ctx.reply("desk.no_ticket", number=number)
        return None
    if need_text and not tail.strip():
        ctx.reply(usage)
        return None
    return ticket, tail.strip()


async def _queue_lines(ctx: Context, tickets: list[Ticket]) -> str:
    lines = []
    for ticket in tickets[:QUEUE_LIMIT]:
        where = await desk.ticket_location(ticket, ctx.services.catalogues, ctx.lang)
        holder = await Staff.get_or_none(id=ticket.claimed_by_id) if ticket.claimed_by_id else None
        lines.append(
            ctx.text(
                "desk.queue_line",
                urgent=ctx.text("desk.queue_urgent") if ticket.urgent else "",
                number=ticket.number,
                department=ctx.text(f"department.{ticket.department}"),
                unit=where or "-",
                status=ctx.text(f"desk.status_{ticket.status}"),
                holder=f" {holder.name}" if holder else "",
                text=ticket.text[:40],
            )
        )
    if len(tickets) > QUEUE_LIMIT:
        lines.append(ctx.text("desk.queue_more", count=len(tickets) - QUEUE_LIMIT))
    return "\n".join(lines)


async def queue_command(ctx: Context, rest: str) -> None:
    """`queue`: the estate's open and claimed tickets, urgent first."""
    assert ctx.staff is not None
    tickets = await Ticket.filter(
        estate_id=ctx.staff.estate_id, status__in=[TicketStatus.OPEN, TicketStatus.CLAIMED]
    ).order_by("-urgent", "created_at", "id")
    if not tickets:
        ctx.reply("desk.queue_empty")
        return
    ctx.reply("desk.queue", count=len(tickets), lines=await _queue_lines(ctx, tickets))


async def mine_command(ctx: Context, rest: str) -> None:
    """`mine`: the tickets the staff member holds."""
    assert ctx.staff is not None
    tickets = await Ticket.filter(
        claimed_by_id=ctx.staff.id, status=TicketStatus.CLAIMED
    ).order_by("-urgent", "created_at", "id")
    if not tickets:
        ctx.reply("desk.mine_empty")
        return
    ctx.reply("desk.mine", count=len(tickets), lines=await _queue_lines(ctx, tickets))


async def reply_command(ctx: Context, rest: str) -> None:
    """`reply R-0012 text`: the owner (every reporter) gets it where they reported."""
    found = await ticket_from(ctx, rest, "desk.reply_usage", need_text=True)
    if found is None:
        return
    ticket, text = found
    assert ctx.staff is not None
    outcome = await desk_actions.answer_owner(
        ticket, ctx.staff, text, ctx.now, ctx.services, ctx.lang
    )
    _tell(ctx, outcome)


async def note_command(ctx: Context, rest: str) -> None:
    """`note R-0012 text`: an internal note, never shown to the owner."""
    found = await ticket_from(ctx, rest, "desk.note_usage", need_text=True)
    if found is None:
        return
    ticket, text = found
    assert ctx.staff is not None
    await add_note(ticket.id, staff_actor(ctx.staff), text, ctx.now)
    ctx.reply("desk.noted", number=ticket.number)


async def close_command(ctx: Context, rest: str) -> None:
    """`close R-0012 result`: resolve it; the owner gets the result and the rating buttons."""
    found = await ticket_from(ctx, rest, "desk.close_usage", need_text=True)
    if found is None:
        return
    ticket, result = found
    assert ctx.staff is not None
    if await _resolve(ctx, ctx.staff, ticket, result):
        await _drop_close_prompts(ctx, ticket)


async def _drop_close_prompts(ctx: Context, ticket: Ticket) -> None:
    """Close prompts for a ticket the sender has just closed by command ask for nothing now:
    their next message there is not taken for a result."""
    platform, user = ctx.message.chat.platform, ctx.message.sender_id
    for dialog in await Dialog.filter(
        platform=platform, user_id=user, kind=DialogKind.CLOSE_RESULT
    ):
        if dialog.data.get("ticket") == ticket.id:
            await dialog.delete()


async def _resolve(ctx: Context, staff: Staff, ticket: Ticket, result: str) -> bool:
    outcome = await desk_actions.resolve(ticket, staff, result, ctx.now, ctx.services, ctx.lang)
    _tell(ctx, outcome)
    return outcome.done


def _tell(ctx: Context, outcome: desk_actions.DeskOutcome) -> None:
    """Queue what an action sends (cards, owners), then tell the staff member how it went."""
    ctx.outbox.extend(outcome.outbox)
    ctx.reply(outcome.key, **outcome.fields)


async def reopen_command(ctx: Context, rest: str) -> None:
    """`reopen R-0012 [reason]`: back in the queue (二次派单), with new promised times."""
    found = await ticket_from(ctx, rest, "desk.reopen_usage")
    if found is None:
        return
    ticket, reason = found
    assert ctx.staff is not None
    try:
        reopened = await reopen_ticket(
            ticket.id,
            staff_actor(ctx.staff),
            reason,
            ctx.now,
            due=await promise_again(ticket, ctx.now),
        )
    except IllegalTransition:
        ctx.reply(
            "desk.cannot", number=ticket.number, status=ctx.text(f"desk.status_{ticket.status}")
        )
        return
    ctx.outbox.extend(await desk.card_messages(reopened, ctx.services))
    ctx.reply("desk.reopened", number=ticket.number)


async def transfer_command(ctx: Context, rest: str) -> None:
    """`transfer R-0012 cleaning`: move it to another department."""
    found = await ticket_from(ctx, rest, "desk.transfer_usage")
    if found is None:
        return
    ticket, written = found
    assert ctx.staff is not None
    named = vocabulary.department_named(written.split(" ", 1)[0]) if written else None
    if named is None:
        ctx.reply("desk.transfer_usage")
        return
    await _transfer(ctx, ctx.staff, ticket, Department(named))


async def _transfer(
    ctx: Context,
    staff: Staff,
    ticket: Ticket,
    department: Department,
    expected: Department | None = None,
) -> bool:
    """Move the ticket (from `expected`, when a picker named it); False when it did not move."""
    outcome = await desk_actions.transfer(
        ticket, staff, department, ctx.now, ctx.services, ctx.lang, expected=expected
    )
    _tell(ctx, outcome)
    return outcome.done


# --- What this module answers ------------------------------------------------------------

ROUTES = Routes(
    commands=(
        StaffCommand(vocabulary.QUEUE, queue_command, help="desk.help_queue"),
        StaffCommand(vocabulary.MINE, mine_command, help="desk.help_mine"),
        StaffCommand(vocabulary.REPLY, reply_command, help="desk.help_reply"),
        StaffCommand(vocabulary.NOTE, note_command, help="desk.help_note"),
        StaffCommand(vocabulary.CLOSE, close_command, help="desk.help_close"),
        StaffCommand(vocabulary.REOPEN, reopen_command, help="desk.help_reopen"),
        StaffCommand(vocabulary.TRANSFER, transfer_command, help="desk.help_transfer"),
    ),
    buttons={
        "claim": claim_pressed,
        "transfer": transfer_pressed,
        "transfer_to": transfer_to_pressed,
        "close": close_pressed,
        "rate": rate_pressed,
    },
)
