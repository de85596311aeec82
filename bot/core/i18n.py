"""Replies and notices in the owner's language, from the gettext catalogues in `locales/`.

Catalogues are `.po` files read with Babel and compiled in memory at start-up, so there is no
build step; a message id is a dotted key (`repair.opened`) and its text uses `{name}` fields.
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("zh", "en")
DOMAIN = "guanjia"
DEFAULT_LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"


class MissingMessage(KeyError):
    """A message id that a catalogue does not have."""


class Catalogues:
    """The loaded catalogues; `text(lang, key, **fields)` gives a reply in a language."""

    def __init__(self, locales_dir: Path = DEFAULT_LOCALES_DIR, default: str = "zh") -> None:
        self.default = default
        self._translations: dict[str, Translations] = {}
        self._keys: dict[str, set[str]] = {}
        for lang in LANGUAGES:
            path = locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=lang, domain=DOMAIN)
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            self._translations[lang] = Translations(fp=buffer, domain=DOMAIN)
            self._keys[lang] = {str(m.id) for m in catalog if m.id and m.string}

    def keys(self, lang: str) -> set[str]:
        """Every message id a language has a text for."""
        return set(self._keys[lang])

    def language(self, lang: str | None) -> str:
        """The catalogue language for a detected one: `mixed` and unknowns fall back."""
        if lang in LANGUAGES:
            return lang  # type: ignore[return-value]
        return self.default

    def text(self, lang: str | None, key: str, **fields: object) -> str:
        """The text of `key` in `lang`, with its fields filled in."""
        lang = self.language(lang)
        if key not in self._keys[lang]:
            raise MissingMessage(f"{key} has no {lang} text in locales/")
        return self._translations[lang].gettext(key).format(**fields)
