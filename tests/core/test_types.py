"""The boundary types: what a channel hands over is text any store and platform can take."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.core.types import ChatRef, IncomingMessage, Platform, safe_text


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("hi \ud800 there", "hi \ufffd there"),  # a lone surrogate, as JSON's "\ud800" decodes
        ("a\x00b\x07c\x7f", "abc"),
        ("line one\nline\ttwo\r\n", "line one\nline\ttwo\r\n"),
        ("好 😀 ok", "好 😀 ok"),
        ("\x00\x01", "\ufffd"),  # nothing readable, but something was sent
        ("", ""),
    ],
)
def test_safe_text(sent: str, kept: str) -> None:
    assert safe_text(sent) == kept
    kept.encode("utf-8")  # a store, a log file and every platform can take it


def test_an_incoming_message_is_cleaned_as_it_is_made() -> None:
    frame = json.loads('{"text": "hi \\ud800", "name": "\\u0000Li"}')
    message = IncomingMessage(
        chat=ChatRef(Platform.WEBCHAT, "owners", is_group=True),
        sender_id="u-1",
        sender_name=frame["name"],
        text=frame["text"],
        message_id="m\x001",
        received_at=datetime(2026, 12, 6, tzinfo=UTC),
        payload="rate:\ud8001",
    )
    assert message.text == "hi \ufffd" and message.sender_name == "Li"
    assert message.message_id == "m1" and message.payload == "rate:\ufffd1"
