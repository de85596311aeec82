"""What may reach a log: secrets taken out of every record, and owners' words cut and masked.

- `Redactor` takes secrets out of a log record: the values of the secret settings (known at
  start-up, each replaced by its setting's name), values learned while running (the platforms'
  access tokens, `remember_secret`), and credentials by their shape whatever their value (a
  Telegram token in a Bot API URL, `access_token=` and `*secret=` in a query, a WeCom robot's
  webhook `key=`, the password of a database URL).
- `install_redaction` makes it apply to every record of every logger, ours and third-party ones,
  whichever handler emits it.
- `log_excerpt` is an owner's message as an error log may quote it: at most ~80 characters, with
  phone numbers, one-time codes and long digit runs masked.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

# A shorter secret is not redacted by value: replacing every "1234" would mangle the logs more
# than it protects (such a secret is weak anyway; `Redactor.too_short` names them).
MIN_SECRET_LENGTH = 6
# Values learned while running (access tokens renew every two hours): the latest are kept.
MAX_LEARNED = 64
REDACTED = "<redacted>"

# Credentials by their shape, whatever their value: (the plain text that starts one, the rest
# of what is kept, the secret that is replaced). Every alternative of the one pattern starts with
# plain text, so the regex engine skips each position whose character cannot start a match: a
# line holding no secret costs little more than a search for a character.
_KEY_WORDS = ("secret", "token", "passw")
_SHAPES: tuple[tuple[str, str, str], ...] = (
    # A Telegram bot token in a Bot API URL: .../bot123456:AAE.../getMe, .../file/bot123:.../x
    ("bot", r"\d+:", r"[A-Za-z0-9_-]{8,}"),
    # A WeCom group robot's webhook key: .../webhook/send?key=..., .../upload_media?key=...
    ("/webhook/", r"[\w/]*\?(?:[^\s#&]*&)*key=", r"[^\s&#\"'<>]+"),
    # The password of a URL: postgres://user:PASSWORD@host/db
    ("://", r"[^\s:/@]*:", r"[^\s/@]+(?=@)"),
    # key=value (access_token=, corpsecret=, password=) and the same in a dict's repr or in
    # JSON ('secret_token': '...', "access_token":"..."); only the key's end is matched, so
    # "corpsecret=" is found at its "secret".
    *(
        (key, r"\w*(?:=|[\"']\s*:\s*[\"'])", r"[^\s&#\"'<>,;)]+")
        for word in _KEY_WORDS
        for key in (word, word.upper(), word.capitalize())
    ),
)
_FORMATTER = logging.Formatter()


class Redactor(logging.Filter):
    """Takes secrets out of log records (a filter that never drops a record)."""

    def __init__(
        self, secrets: Mapping[str, str] | None = None, *, min_length: int = MIN_SECRET_LENGTH
    ) -> None:
        super().__init__()
        secrets = secrets or {}
        self.min_length = min_length
        # The setting names of secrets too short to redact by value (worth a warning).
        self.too_short = sorted(
            name for name, value in secrets.items() if 0 < len(value) < min_length
        )
        self._names = {value: name for name, value in secrets.items() if len(value) >= min_length}
        self._learned: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str]:
        # Values first, longest first: a secret that contains another is replaced whole.
        values = sorted({*self._names, *self._learned}, key=len, reverse=True)
        # A shape's kept part ends with a group of its own: `match.lastgroup` finds that end.
        shapes = [
            f"{re.escape(start)}(?P<kept{index}>{kept}){secret}"
            for index, (start, kept, secret) in enumerate(_SHAPES)
        ]
        return re.compile("|".join([*map(re.escape, values), *shapes]))

    def remember(self, value: str) -> None:
        """Redact this value from now on (a secret learned while running, e.g. an access token)."""
        if len(value) < self.min_length or value in self._names:
            return
        with self._lock:
            if value in self._learned:
                self._learned.move_to_end(value)
                return
            self._learned[value] = None
            while len(self._learned) > MAX_LEARNED:
                self._learned.popitem(last=False)
            # Swapped in whole: records made on other threads use the old or the new pattern.
            self._pattern = self._compile()

    def _replace(self, match: re.Match[str]) -> str:
        if match.lastgroup is None:  # a value
            name = self._names.get(match.group())
            return f"<{name}>" if name else REDACTED
        return match.string[match.start() : match.end(match.lastgroup)] + REDACTED

    def redact(self, text: str) -> str:
        """The text with every secret replaced: one pass of one precompiled pattern."""
        return self._pattern.sub(self._replace, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact a record in place: its message, exception text and stack; always keep it."""
        try:
            message = record.getMessage()
        except Exception:
            # A bad format string: logging reports it when the record is emitted, quoting its
            # msg and args, so those are cleaned one by one.
            record.msg = self.redact(str(record.msg))
            if isinstance(record.args, tuple):
                record.args = tuple(self._clean_arg(arg) for arg in record.args)
            return True
        clean = self.redact(message)
        if clean != message:
            # The formatted, redacted message replaces the template and its arguments, so no
            # handler or formatter can format the secret back in from the arguments.
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            # Formatters use `exc_text` when it is set instead of formatting `exc_info` again.
            # (A handler that reads the exception object itself, as error trackers do, still
            # sees it whole: such a handler needs its own scrubbing.)
            record.exc_text = self.redact(_FORMATTER.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def _clean_arg(self, arg: object) -> object:
        # A number holds no secret; anything else is shown as its text, so that is cleaned.
        return arg if isinstance(arg, int | float) else self.redact(str(arg))


class _RedactingFactory:
    """A log record factory: records come out of the one before it, redacted."""

    def __init__(self, inner: Callable[..., logging.LogRecord], redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        self.redactor.filter(record)
        return record


def install_redaction(redactor: Redactor) -> Redactor:
    """Redact every log record of every logger from now on; replaces an earlier redactor."""
    # Why the record factory rather than a filter on handlers: a logger's own filters see only
    # the records logged on it (not its children's), and a handler filter only that handler's
    # records. A third-party logger with its own handler and propagate=False, a handler added
    # later (a library's, pytest's), or `logging.lastResort` would still see secrets. Every
    # record of every logger is made by the one factory, so it is redacted once, before any
    # filter, handler or formatter sees it. Only records that pass their logger's level are
    # made, so the cost falls on records that may be emitted. (Records rebuilt from a dict by
    # `logging.makeLogRecord`, as a socket log server does, were redacted where they were made.)
    current = logging.getLogRecordFactory()
    inner = current.inner if isinstance(current, _RedactingFactory) else current
    logging.setLogRecordFactory(_RedactingFactory(inner, redactor))
    return redactor


def uninstall_redaction() -> None:
    """Stop redacting (tests): the record factory goes back to the one before."""
    current = logging.getLogRecordFactory()
    if isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(current.inner)


def installed_redactor() -> Redactor | None:
    """The redactor every log record goes through, if one is installed."""
    current = logging.getLogRecordFactory()
    return current.redactor if isinstance(current, _RedactingFactory) else None


def remember_secret(value: str) -> None:
    """Keep a secret learned while running (an access token) out of the logs from now on."""
    # Logging is process-wide, so is its record factory: the installed redactor is found there
    # rather than passed down to every place that learns a secret.
    redactor = installed_redactor()
    if redactor is not None:
        redactor.remember(value)


# ---- owners' words in error logs --------------------------------------------------------------

# Phone numbers, and numbers long enough to say who someone is or what they own.
_NUMBERS = re.compile(
    "|".join(
        (
            # Chinese mobile numbers, with +86 and spaces or hyphens: 138 1234 5678.
            r"(?P<phone>(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d))",
            # Landlines with their area code: 010-12345678, (0755) 8888888.
            r"(?P<landline>(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3})[ -]?\d{7,8}(?!\d))",
            # Digits in groups of four, as bank cards are written.
            r"(?P<card>(?<!\d)\d{4}(?:[ -]\d{4}){2,4}(?!\d))",
            # Any long run of digits (an ID card number may end in X).
            r"(?P<digits>(?<!\d)\d{6,}(?:[Xx](?![A-Za-z]))?)",
        )
    )
)
_NUMBER_MASKS = {
    "phone": "[phone]",
    "landline": "[phone]",
    "card": "[number]",
    "digits": "[number]",
}
# A one-time code (bot/core/codes.py) as typed: 8 characters of the code alphabet in either case
# (with I, L and O typed by mistake), always with a digit, which the lookahead finds in one half
# or the other; maybe split in two by a hyphen, but not a piece of a longer hyphenated run (a
# card number). Written out here rather than imported, so that logging stays free of the store;
# a test checks that every issued code is masked.
_CODE = re.compile(
    r"(?<![A-Za-z0-9])(?<![A-Za-z0-9]-)"
    r"(?=[A-Za-z]{0,3}[2-9]|[A-Za-z2-9]{4}-?[A-Za-z]{0,3}[2-9])"
    r"(?![2-9]{8})"  # eight digits alone are left to the numbers (a phone's 88886666)
    r"[A-Za-z2-9]{4}-?[A-Za-z2-9]{4}"
    r"(?![A-Za-z0-9]|-[A-Za-z0-9])"
)
# Split by a space, a code cannot be told from the word before it ("bind K7MP 9QXR"): every
# candidate is found, overlapping ones included, and all of them are masked. This runs after
# the numbers, so that "card 6222 3456 7890 2345" is one card number, not a code and digits.
_SPACED_CODE = re.compile(r"(?<![A-Za-z0-9])(?=([A-Za-z2-9]{4}\s[A-Za-z2-9]{4})(?![A-Za-z0-9]))")
EXCERPT_LIMIT = 80


def _mask_spaced_codes(text: str) -> str:
    spans: list[tuple[int, int]] = []
    for match in _SPACED_CODE.finditer(text):
        if not any(ch.isdigit() for ch in match.group(1)):
            continue
        start, end = match.span(1)
        if spans and start < spans[-1][1]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    for start, end in reversed(spans):
        text = f"{text[:start]}[code]{text[end:]}"
    return text


def mask_personal(text: str) -> str:
    """The text with phone numbers, one-time codes and long digit runs masked."""
    # Codes first: a code's digits may be a long run ("523856AT") that would leave "AT" behind.
    text = _CODE.sub("[code]", text)
    text = _NUMBERS.sub(lambda match: _NUMBER_MASKS[match.lastgroup or "digits"], text)
    return _mask_spaced_codes(text)


def log_excerpt(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """An owner's message as a log may quote it: masked, and cut to `limit` characters."""
    # Masked before it is cut, so that no number is cut into a piece too short to be masked.
    masked = mask_personal(text)
    if len(masked) <= limit:
        return masked
    return f"{masked[:limit]}… ({len(text)} chars)"
