"""The handlers: what Guanjia does for each intent, in the staff chat, and on each button.

`build_handlers()` assembles them for the router; nothing registers itself on import.
"""

from __future__ import annotations

from bot.core.context import Handlers
from handlers import complaint, enquiry, fallback, payment, repair, staff, tickets


def build_handlers() -> Handlers:
    """Every handler, keyed the way the router dispatches."""
    return Handlers(
        intents={
            "repair": repair.handle,
            "complaint": complaint.handle,
            "enquiry": enquiry.handle,
            "payment": payment.handle,
            "other": fallback.handle,
        },
        staff=staff.handle,
        buttons={"unit": tickets.unit_chosen},
        dialogs={"choose_unit": tickets.unit_typed},
        private_commands=(fallback.start_command,),
    )
