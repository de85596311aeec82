"""The handlers: what Guanjia does for each intent, in the staff chat, and on each button.

`build_handlers()` assembles them for the router; nothing registers itself on import. The modules
that answer staff commands, buttons or dialogs declare them in their `ROUTES`
(`handlers/routes.py`); `build_handlers` merges those, and refuses to build when two modules
claim the same word, button or dialog, or when a staff command of the vocabulary has no route.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.core import vocabulary
from bot.core.console import ConsoleConfig
from bot.core.context import Handlers
from handlers import (
    announce,
    binding,
    complaint,
    enquiry,
    fallback,
    login,
    payment,
    repair,
    reports,
    roster,
    service,
    staff,
    tickets,
)
from handlers.routes import Routes, require_routes

# The modules that declare routes, in the order the staff help lists their commands.
ROUTED = (staff, service, binding, reports, announce, roster, tickets)


def declared_routes() -> dict[str, Routes]:
    """Every module's declared routes, by the module's name."""
    return {module.__name__: module.ROUTES for module in ROUTED}


def build_handlers(
    console: ConsoleConfig | None = None, routes: Mapping[str, Routes] | None = None
) -> Handlers:
    """Every handler, keyed the way the router dispatches; `console` says where the staff
    console's sign-in links point (the defaults: this machine's port 8080), `routes` replaces
    the modules' declared routes (`declared_routes()`)."""
    login_command = login.LoginCommand(console or ConsoleConfig())
    desk = staff.StaffDesk(declared_routes() if routes is None else routes)
    require_routes(desk.routes, vocabulary.STAFF_COMMANDS)
    return Handlers(
        intents={
            "repair": repair.handle,
            "complaint": complaint.handle,
            "enquiry": enquiry.handle,
            "payment": payment.handle,
            "other": fallback.handle,
        },
        staff=desk.handle,
        needs_look=staff.needs_look,
        photos=tickets.photos_sent,
        # The staff desk's buttons also come here when pressed outside a staff chat: each one
        # checks who pressed it.
        buttons=desk.routes.buttons,
        dialogs=desk.routes.dialogs,
        private_commands=(
            login_command.private,
            fallback.start_command,
            binding.request_command,
            binding.bind_command,
            desk.word_elsewhere,
            fallback.unknown_command,
        ),
        # Staff first in their private chat: the desk's commands and its close prompt's answer;
        # the binding words still work (a staff member may also bind as an owner); the rest is a
        # hint, or, after `业主` from one also bound as an owner, an owner's report.
        staff_private_commands=(
            login_command.private,
            # A binding word is never a close prompt's result: it goes before the desk.
            binding.request_command,
            binding.bind_command,
            desk.private_command,
            desk.private_other,
        ),
        group_commands=(binding.register_command, login_command.group),
        owner_group_commands=(
            fallback.group_help,
            binding.group_code,
            desk.word_elsewhere,
            fallback.unknown_command,
        ),
        ticket_opened=(staff.ticket_opened,),
    )
