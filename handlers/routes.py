"""What each handler module answers, declared as data, and the one place the declarations meet.

A handler module that answers staff commands, buttons or dialogs exports `ROUTES`, a `Routes`
value: its staff commands (a `StaffCommand` each: the command's words from
`bot.core.vocabulary`, the function that runs it, who may use it, and the message id of its line
in the staff help), its buttons by payload prefix (`claim` for `claim:42`), and the dialogs it
continues by kind. `handlers.build_handlers` merges every module's `ROUTES` with `merge_routes`:
a command word, a button prefix or a dialog kind that two modules declare is a `RouteConflict`
when the handlers are built, before any message is handled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.context import Context, Handler
from bot.core.dialogs import DialogKind
from bot.core.vocabulary import CommandWords

# A staff command: the context, and what follows the command word ("R-0012 马上到").
Command = Callable[[Context, str], Awaitable[None]]


class Who(StrEnum):
    """Who may use a staff command: always someone bound to the staff of the chat's estate."""

    STAFF = "staff"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class StaffCommand:
    """One staff-chat command, as the module that answers it declares it."""

    words: CommandWords
    run: Command
    # The message id of the command's one line in the staff help (in locales/).
    help: str
    who: Who = Who.STAFF
    # The message id answered when it is typed outside a staff chat (None: the desk's own).
    elsewhere: str | None = None

    @property
    def name(self) -> str:
        """The command's name (`queue`)."""
        return self.words.name


@dataclass(frozen=True)
class Routes:
    """What one handler module answers: staff commands, buttons and dialogs."""

    commands: tuple[StaffCommand, ...] = ()
    # By the part of a button's payload before the first colon ("rate:42:4" → "rate").
    buttons: Mapping[str, Handler] = field(default_factory=dict)
    # By an open dialog's kind: the sender's next message in that chat goes there.
    dialogs: Mapping[DialogKind, Handler] = field(default_factory=dict)


class RouteConflict(ValueError):
    """Two declarations claim the same command word, button or dialog, or a staff command of
    the vocabulary has no route."""


class CommandTable:
    """Which command a staff-chat message is, by the commands' words."""

    def __init__(self, commands: Iterable[CommandWords]) -> None:
        self._names: dict[str, str] = {}
        self._argument: dict[str, bool] = {}
        for command in commands:
            self._argument[command.name] = command.argument
            for word in command.words:
                taken = self._names.setdefault(word, command.name)
                if taken != command.name:
                    raise RouteConflict(f"{word!r} is a word of both {taken} and {command.name}")
        # Chinese commands may run into their argument ("回复R-0012 马上到"): longest first.
        self._joined = sorted((w for w in self._names if not w.isascii()), key=len, reverse=True)

    def parse(self, text: str) -> tuple[str, str] | None:
        """(command, the rest) when a message is one of the commands, else None."""
        text = text.strip()
        if not text:
            return None
        head, _, rest = text.partition(" ")
        if "\n" in head:
            head, _, more = head.partition("\n")
            rest = f"{more} {rest}".strip()
        # Telegram writes commands as `/queue` or `/queue@guanjia_bot`.
        word = head.removeprefix("/").split("@", 1)[0].lower()
        name = self._names.get(word)
        if name is not None:
            if not self._argument[name] and rest.strip():
                return None  # "我的 天哪" is chatter, not the command
            return name, rest.strip()
        for word in self._joined:
            name = self._names[word]
            if text.startswith(word) and self._argument[name]:
                rest = text.removeprefix(word).strip()
                # Run together only when an argument follows at once (a ticket, a unit, a number).
                if rest[:1].isascii() and rest[:1].isalnum():
                    return name, rest
        return None


@dataclass(frozen=True)
class MergedRoutes:
    """Every module's routes together: what the staff desk and the router dispatch on."""

    # By name, in the order the modules declared them (the order of the staff help).
    commands: Mapping[str, StaffCommand]
    table: CommandTable
    buttons: Mapping[str, Handler]
    dialogs: Mapping[DialogKind, Handler]


def merge_routes(declared: Mapping[str, Routes]) -> MergedRoutes:
    """Merge the routes of each module (keyed by the module's name, for the errors); a command
    word, a button prefix or a dialog kind declared twice is a `RouteConflict`."""
    commands: dict[str, StaffCommand] = {}
    buttons: dict[str, Handler] = {}
    dialogs: dict[DialogKind, Handler] = {}
    by_word: dict[str, str] = {}
    by_name: dict[str, str] = {}
    by_button: dict[str, str] = {}
    by_dialog: dict[DialogKind, str] = {}
    for module, routes in declared.items():
        for command in routes.commands:
            for word in command.words.words:
                if word in by_word:
                    raise RouteConflict(
                        f"the staff command word {word!r} is declared by {by_word[word]} "
                        f"and by {module}"
                    )
                by_word[word] = module
            if command.name in by_name:
                raise RouteConflict(
                    f"the staff command {command.name!r} is declared by {by_name[command.name]} "
                    f"and by {module}"
                )
            by_name[command.name] = module
            commands[command.name] = command
        for prefix, handler in routes.buttons.items():
            if prefix in by_button:
                raise RouteConflict(
                    f"the button {prefix!r} is declared by {by_button[prefix]} and by {module}"
                )
            by_button[prefix] = module
            buttons[prefix] = handler
        for kind, handler in routes.dialogs.items():
            if kind in by_dialog:
                raise RouteConflict(
                    f"the dialog {kind!r} is declared by {by_dialog[kind]} and by {module}"
                )
            by_dialog[kind] = module
            dialogs[kind] = handler
    table = CommandTable(command.words for command in commands.values())
    return MergedRoutes(commands=commands, table=table, buttons=buttons, dialogs=dialogs)


def require_routes(routes: MergedRoutes, vocabulary: Iterable[CommandWords]) -> None:
    """Check that every staff command of the vocabulary has a route and every route's words
    are the vocabulary's, so that a word is answered exactly as the vocabulary says."""
    expected = {words.name: words for words in vocabulary}
    routed = {name: command.words for name, command in routes.commands.items()}
    missing = sorted(set(expected) - set(routed))
    if missing:
        raise RouteConflict(f"no module declares a route for the staff command(s) {missing}")
    strays = sorted(name for name, words in routed.items() if expected.get(name) != words)
    if strays:
        raise RouteConflict(f"staff command(s) {strays} are not the vocabulary's words")
