"""The handlers: what Guanjia does for each intent, in the staff chat, and on each button.

`build_handlers()` assembles them for the router; nothing registers itself on import.
"""

from __future__ import annotations

from bot.core.console import ConsoleConfig
from bot.core.context import Handlers
from bot.core.dialogs import DialogKind
from handlers import (
    binding,
    complaint,
    enquiry,
    fallback,
    login,
    payment,
    repair,
    staff,
    tickets,
)


def build_handlers(console: ConsoleConfig | None = None) -> Handlers:
    """Every handler, keyed the way the router dispatches; `console` says where the staff
    console's sign-in links point (the defaults: this machine's port 8080)."""
    login_command = login.LoginCommand(console or ConsoleConfig())
    return Handlers(
        intents={
            "repair": repair.handle,
            "complaint": complaint.handle,
            "enquiry": enquiry.handle,
            "payment": payment.handle,
            "other": fallback.handle,
        },
        staff=staff.handle,
        needs_look=staff.needs_look,
        photos=tickets.photos_sent,
        # The staff desk's buttons also come here when pressed outside a staff chat: each one
        # checks who pressed it.
        buttons={"unit": tickets.unit_chosen, **staff.BUTTONS},
        dialogs={DialogKind.CHOOSE_UNIT: tickets.unit_typed},
        private_commands=(
            login_command.private,
            fallback.start_command,
            binding.request_command,
            binding.bind_command,
            staff.staff_word_elsewhere,
            fallback.unknown_command,
        ),
        group_commands=(binding.register_command, login_command.group),
        owner_group_commands=(
            fallback.group_help,
            binding.group_code,
            staff.staff_word_elsewhere,
            fallback.unknown_command,
        ),
        ticket_opened=(staff.ticket_opened,),
    )
