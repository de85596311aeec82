"""Declared routes: the staff help generated from them, and conflicts refused at build time."""

from __future__ import annotations

import pytest

from bot.core import vocabulary
from bot.core.context import Context
from bot.core.dialogs import DialogKind
from bot.core.i18n import LANGUAGES, Catalogues
from bot.core.vocabulary import CommandWords
from handlers import build_handlers, declared_routes, staff
from handlers.routes import CommandTable, RouteConflict, Routes, StaffCommand, merge_routes
from tests.desk import STAFF, Desk
from tests.staffdesk import bind_staff, staff_texts


async def _nothing(ctx: Context, rest: str = "") -> None:
    """A command or button that does nothing."""


def _declared_commands() -> list[StaffCommand]:
    return list(staff.StaffDesk(declared_routes()).routes.commands.values())


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_staff_help_lists_every_declared_command(desk: Desk, lang: str) -> None:
    identity = await bind_staff("u-zhang", desk.staff["zhang"])
    identity.language = lang
    await identity.save()

    await desk.say("帮助" if lang == "zh" else "help", "u-zhang", STAFF)

    [help_text] = staff_texts(desk)
    title, *lines = help_text.splitlines()
    catalogues = Catalogues()
    assert title == catalogues.text(lang, "desk.help", lines="").strip()
    commands = _declared_commands()
    assert {c.words for c in commands} == set(vocabulary.STAFF_COMMANDS)
    assert len(lines) == len(commands)
    for command, line in zip(commands, lines, strict=True):
        # Its words, the reader's language first, then its line from the catalogue.
        first, other = (command.words.zh, command.words.en)[:: 1 if lang == "zh" else -1]
        assert line.startswith(f"· {first[0]} / {other[0]}"), line
        assert catalogues.text(lang, command.help) in line
    [staffcode] = [line for line in lines if "staffcode" in line]
    assert catalogues.text(lang, "desk.help_supervisors") in staffcode


def test_every_declared_command_has_its_help_line_in_both_catalogues() -> None:
    catalogues = Catalogues()
    for lang in LANGUAGES:
        keys = catalogues.keys(lang)
        assert {c.help for c in _declared_commands()} <= keys


def test_two_modules_declaring_the_same_word_is_an_error_at_build_time() -> None:
    words = CommandWords("urgent", zh=("队列",), en=("urgent",))
    clash = Routes(commands=(StaffCommand(words, _nothing, help="desk.help_queue"),))

    with pytest.raises(RouteConflict, match=r"'队列' is declared by handlers\.staff and by tests"):
        build_handlers(routes={**declared_routes(), "tests.clash": clash})


def test_two_modules_declaring_the_same_button_or_dialog_is_an_error() -> None:
    button = Routes(buttons={"claim": _nothing})
    dialog = Routes(dialogs={DialogKind.CHOOSE_UNIT: _nothing})

    with pytest.raises(RouteConflict, match=r"'claim' is declared by handlers\.staff and by"):
        build_handlers(routes={**declared_routes(), "tests.button": button})
    with pytest.raises(RouteConflict, match=r"declared by handlers\.tickets and by tests"):
        build_handlers(routes={**declared_routes(), "tests.dialog": dialog})


def test_one_module_declaring_a_word_twice_is_an_error() -> None:
    twice = Routes(
        commands=(
            StaffCommand(CommandWords("a", zh=("甲",), en=("a",)), _nothing, help="x"),
            StaffCommand(CommandWords("b", zh=("甲",), en=("b",)), _nothing, help="x"),
        )
    )

    with pytest.raises(RouteConflict, match="'甲'"):
        merge_routes({"tests.twice": twice})


def test_a_staff_command_of_the_vocabulary_without_a_route_is_an_error() -> None:
    routes = {name: r for name, r in declared_routes().items() if name != "handlers.reports"}

    with pytest.raises(RouteConflict, match="'report'"):
        build_handlers(routes=routes)


def test_the_desk_reads_commands_as_the_vocabulary_does() -> None:
    table = staff.StaffDesk(declared_routes()).routes.table
    vocabulary_table = CommandTable(vocabulary.STAFF_COMMANDS)
    for words in vocabulary.STAFF_COMMANDS:
        for word in words.words:
            written = f"{word} R-0012 马上到" if words.argument else word
            assert table.parse(written) == vocabulary_table.parse(written)
            assert table.parse(written) is not None and table.parse(written)[0] == words.name
