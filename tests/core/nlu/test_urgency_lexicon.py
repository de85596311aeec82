"""The urgency lexicon as data: the shipped files, the loader's errors, reading once."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.core.nlu import urgency, urgency_lexicon
from bot.core.nlu.regex_text import UnreadPattern, needs_char, required_texts
from bot.core.nlu.urgency_lexicon import (
    CLAUSE_LISTS,
    KINDS,
    LANGUAGES,
    Lexicon,
    LexiconError,
    build_lexicon,
    lexicon,
    lexicon_path,
    read_language,
)

from .conftest import TINY
from .test_urgency import HARD, NO_SIGNAL, NOT_HARD, NOT_URGENT, SOFT, URGENT

# --- the shipped files ------------------------------------------------------------------------


def _all_phrases(lang: str) -> list[tuple[str, str]]:
    """(where, phrase) of every entry of a language's file, word lists expanded."""
    data = read_language(lexicon_path(lang), lang)
    out = [(f"signal {s.id}", p) for s in data.signals for p in s.phrases]
    out += [(f"unless {s.id}", p) for s in data.signals for p in s.unless]
    out += [(name, p) for name, phrases in data.lists.items() for p in phrases]
    out += [(f"over {k}", p) for k, phrases in data.over_for_kind.items() for p in phrases]
    out += [("negation", p) for p in data.negation_words + data.negation_then]
    return out


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_shipped_phrase_compiles(lang: str) -> None:
    phrases = _all_phrases(lang)
    assert len(phrases) > 300
    for where, phrase in phrases:
        assert isinstance(re.compile(phrase, re.IGNORECASE), re.Pattern), (where, phrase)
    whole = read_language(lexicon_path(lang), lang).whole_words
    assert whole is (lang == "en")


def test_the_files_ship_in_the_package_and_hold_every_category() -> None:
    for lang in LANGUAGES:
        path = lexicon_path(lang)
        assert path.parent == Path(urgency_lexicon.__file__).parent
        assert path.suffix == ".toml"
        data = read_language(path, lang)
        assert set(data.lists) == set(CLAUSE_LISTS)
        assert set(data.over_for_kind) == {"trapped", "fire", "water"}
        assert data.negation_words
    pyproject = Path(urgency_lexicon.__file__).parents[3] / "pyproject.toml"
    assert '"*.toml"' in pyproject.read_text(encoding="utf-8")
    lex = lexicon()
    assert {g.kind for g in lex.groups} == set(KINDS)
    assert {g.kind for g in lex.groups if g.hard} == urgency.HARD_KINDS
    # one group per signal id, with its phrases in both languages
    assert all(g.zh is not None and g.en is not None for g in lex.groups)


def test_required_texts_are_in_every_match_of_every_shipped_phrase() -> None:
    """The gates' soundness, checked on real matches: a match of a phrase contains one of the
    texts the analysis says it needs."""
    texts = [t for t, _ in URGENT + HARD + SOFT] + NOT_URGENT + NOT_HARD + NO_SIGNAL
    texts += [row[0] for rows in TINY.values() for row in rows]
    checked = 0
    for lang in LANGUAGES:
        for where, phrase in _all_phrases(lang):
            needed = required_texts(phrase)
            assert needed, (where, phrase)
            for m in re.finditer(phrase, "\n".join(texts), re.IGNORECASE):
                assert any(x in m.group().lower() for x in needed), (where, phrase, m.group())
                checked += 1
    assert checked > 300


# --- read once --------------------------------------------------------------------------------


def test_each_language_file_is_read_and_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: Counter[str] = Counter()
    real = urgency_lexicon.read_language

    def counting(path: Path, lang: str) -> urgency_lexicon.LanguageData:
        reads[lang] += 1
        return real(path, lang)

    monkeypatch.setattr(urgency_lexicon, "read_language", counting)
    monkeypatch.setattr(urgency_lexicon, "_LEXICON", None)  # as in a fresh process
    texts = ["煤气味好大", "gas smell!!! 8th floor", "电梯困人了", "no power in the whole flat"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(urgency.hard_signals, texts * 25))
    assert found[:4] == [("gas",), ("gas",), ("trapped",), ("outage",)]
    assert urgency.split_clauses("修好了。但是又漏了") == ["修好了", "又漏了"]
    assert reads == {"zh": 1, "en": 1}
    assert lexicon() is lexicon()


# --- a lexicon of our own: adding a phrase is editing data ------------------------------------

ZH = """\
[language]
code = "zh"

[words]
gas = ['煤气', '燃气']

[[signal]]
id = "gas"
kind = "gas"
strength = "hard"
note = "gas"
phrases = [
    '煤气味',
    '{gas}泄漏',
]

[negation]
words = ['没有', '没']

[past]
phrases = ['昨天']
"""

EN = """\
[language]
code = "en"
whole_words = true

[[signal]]
id = "gas"
kind = "gas"
strength = "hard"
phrases = ['\\bgas\\s+smell']

[negation]
words = ['no']
words_between = 2

[over]
phrases = ['fixed']
"""


def _write(directory: Path, zh: str = ZH, en: str = EN) -> dict[str, Path]:
    paths = {lang: directory / f"urgency_{lang}.toml" for lang in LANGUAGES}
    paths["zh"].write_text(zh, encoding="utf-8")
    paths["en"].write_text(en, encoding="utf-8")
    return paths


def test_a_phrase_in_the_data_is_found_with_its_modifiers(tmp_path: Path) -> None:
    lex = build_lexicon(_write(tmp_path))
    assert isinstance(lex, Lexicon)
    assert urgency._scan(lex, "厨房燃气泄漏了").hard == ("gas",)  # through the word list
    assert urgency._scan(lex, "厨房有天然气泄漏").hard == ()  # not in the list
    assert urgency._scan(lex, "没有煤气味").hard == ()  # negated
    assert urgency._scan(lex, "昨天有煤气味").hard == ()  # past
    assert urgency._scan(lex, "gas smell in the hall").hard == ("gas",)
    assert urgency._scan(lex, "no gas smell in the hall").hard == ()
    assert urgency._scan(lex, "gas smell in the hall, fixed").hard == ()
    assert urgency._scan(lex, "gas smell in the hall, unfixed").hard == ("gas",)  # whole words
    # soft groups and clause lists left out of a file are simply absent
    assert urgency._scan(lex, "smoke in the hallway!!") == urgency.Signals()


MALFORMED: list[tuple[str, str, str, list[str]]] = [
    # (file, text replaced, replacement, what the message must say)
    (
        "zh",
        "'{gas}泄漏'",
        "'煤气(泄漏'",
        ["[[signal]] 'gas' phrases, entry 2 '煤气(泄漏'", "not a valid pattern"],
    ),
    ("zh", "'{gas}泄漏'", "'{gass}泄漏'", ["entry 2 '{gass}泄漏'", "no word list 'gass'"]),
    ("zh", "'煤气味'", "'gas|煤气味'", ["entry 1 'gas|煤气味'", "without a Chinese character"]),
    ("zh", "'煤气味'", "'(?:煤气)?味?gas'", ["entry 1", "without a Chinese character"]),
    ("en", "'\\bgas\\s+smell'", "'gas|煤气'", ["entry 1", "belongs in urgency_zh.toml"]),
    ("en", "'\\bgas\\s+smell'", "'\\d+ %'", ["entry 1", "without a Latin letter"]),
    ("zh", "'{gas}泄漏'", "'\\x41煤气'", ["entry 2", "does not read", "\\x"]),
    ("zh", "phrases = ['昨天']", "phrases = ['昨天', '.*']", ["[past] phrases, entry 2 '.*'"]),
    ("zh", "phrases = ['昨天']", "phrases = ['昨天', 3]", ["[past] phrases, entry 2", "3"]),
    ("zh", "phrases = ['昨天']", "phrases = [' 昨天']", ["entry 1 ' 昨天'", "spaces"]),
    ("zh", "phrases = ['昨天']", "phrases = '昨天'", ["[past] phrases", "list"]),
    ("zh", "'煤气味',", "'煤气味'", ["not valid TOML", "line 14"]),  # a comma missing
    ("zh", "[past]", "[pastt]", ["unknown key 'pastt'"]),
    ("zh", 'kind = "gas"', 'kind = "gass"', ["[[signal]] 'gas' kind", "'gass'"]),
    ("zh", 'strength = "hard"', 'strength = "strong"', ["[[signal]] 'gas' strength"]),
    ("zh", 'id = "gas"', 'id = "Gas!"', ["[[signal]] number 1 id"]),
    ("zh", 'note = "gas"', 'colour = "red"', ["[[signal]] number 1", "unknown key 'colour'"]),
    ("zh", 'code = "zh"', 'code = "en"', ["[language] code", "'zh'"]),
    ("en", "words_between = 2", "words_between = 99", ["[negation] words_between"]),
    ("en", "whole_words = true", 'whole_words = "yes"', ["[language] whole_words"]),
    ("en", 'kind = "gas"', 'kind = "fire"', ["[[signal]] 'gas'", "differ", "urgency_zh.toml"]),
    (
        "zh",
        "[negation]",
        '[[signal]]\nid = "gas"\nkind = "gas"\nstrength = "hard"\nphrases = [\'气\']\n\n'
        "[negation]",
        ["[[signal]] 'gas'", "used twice"],
    ),
    ("zh", "phrases = [\n    '煤气味',\n    '{gas}泄漏',\n]", "phrases = []", ["at least one"]),
]


@pytest.mark.parametrize(("lang", "old", "new", "says"), MALFORMED)
def test_a_malformed_file_names_the_file_and_the_entry(
    tmp_path: Path, lang: str, old: str, new: str, says: list[str]
) -> None:
    texts = {"zh": ZH, "en": EN}
    assert old in texts[lang]
    texts[lang] = texts[lang].replace(old, new, 1)
    paths = _write(tmp_path, texts["zh"], texts["en"])
    with pytest.raises(LexiconError) as caught:
        build_lexicon(paths)
    message = str(caught.value)
    assert str(paths[lang]) in message
    for part in says:
        assert part in message, message


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    paths["en"].unlink()
    with pytest.raises(LexiconError, match=re.escape(f"{paths['en']}: cannot be read")):
        build_lexicon(paths)
    paths["en"].write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(LexiconError, match=re.escape(f"{paths['en']}: not UTF-8")):
        build_lexicon(paths)


# --- reading what a pattern requires --------------------------------------------------------


def _han(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff"


@pytest.mark.parametrize(
    ("pattern", "texts"),
    [
        ("电梯.{0,4}关人", {"电梯"}),
        ("(?:煤气|燃气)味", {"煤气", "燃气"}),
        ("GAS", {"gas"}),
        ("(?<!真)着火(?!车)", {"着火"}),
        (r"\bfire\b", {"fire"}),
        ("flames?", {"flame"}),
        ("(?:very )?hot", {"hot"}),
        ("[abc]at", {"at"}),
        (r"\d+\s*people", {"people"}),
        ("a|bc", {"a", "bc"}),
        ("abc|d.*", {"abc", "d"}),
        ("(?:x|yy)+z{0,2}", {"x", "yy"}),
        ("sparks?(?:ing)?", {"spark"}),
        (r"can\'t", {"can't"}),
        ("(?P<w>lift)s?", {"lift"}),
    ],
)
def test_required_texts(pattern: str, texts: set[str]) -> None:
    assert required_texts(pattern) == frozenset(texts)


@pytest.mark.parametrize("pattern", [".*", "x?", "(?:a|.)", "[abc]+", r"\d{2,}", "(?=abc)"])
def test_no_required_text(pattern: str) -> None:
    assert required_texts(pattern) is None


def test_needs_char() -> None:
    assert needs_char("(?:gas|煤气)味", _han)
    assert needs_char("煤气?", _han)
    assert not needs_char("gas|煤气", _han)
    assert not needs_char("(?:煤气)?gas", _han)
    assert not needs_char("[煤气]", _han)  # a class is not read: the answer errs safe
    assert needs_char(r"\bgas\b", str.isalpha)
    assert not needs_char(r"\d+", str.isalpha)


@pytest.mark.parametrize(
    "pattern", [r"\x41", "(?i)abc", "(?P=name)", r"(a)\1", "a{", "a**", "(abc", "[abc", "a)"]
)
def test_unread_syntax_is_refused(pattern: str) -> None:
    with pytest.raises(UnreadPattern):
        required_texts(pattern)
