"""The one display sanitiser: a DAM's names shown on one line, with nothing hidden or obeyed."""

from __future__ import annotations

import pytest

from damkit.display import clean, first_unsafe


@pytest.mark.parametrize(("raw", "shown"), [
    ("new\nline.txt", "new\\nline.txt"),
    ("cr\rhere", "cr\\rhere"),
    ("tab\tname", "tab\\tname"),
    ("\x1b]0;title\x07\x1b[31mred", "\\x1b]0;title\\x07\\x1b[31mred"),
    ("gnp.\u202eexe", "gnp.\\u202eexe"),
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("line\u2028sep", "line\\u2028sep"),
    ("\ufeffbom", "\\ufeffbom"),
])
def test_unsafe_characters_become_visible_escapes(raw: str, shown: str) -> None:
    assert clean(raw) == shown
    assert first_unsafe(raw) is not None


@pytest.mark.parametrize("text", ["résumé — été 2024.pdf", "日本語のファイル.png",
                                  "emoji 🎨 poster.jpg", "back\\slash", "[bold]not markup[/]"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert clean(text) == text and first_unsafe(text) is None


def test_limit_and_none() -> None:
    assert clean("a" * 10, limit=5) == "aaaa…"
    assert clean(None) == ""


class _Tty:
    """A stream that says it is a terminal (colour is decided from isatty and the environment)."""

    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.text += text
        return len(text)


@pytest.mark.parametrize(("tty", "env", "coloured"), [
    (True, {}, True), (False, {}, False), (True, {"NO_COLOR": "1"}, False),
    (False, {"FORCE_COLOR": "1"}, True), (True, {"TERM": "dumb"}, False),
])
def test_lines_are_coloured_only_where_colour_is_wanted(monkeypatch: pytest.MonkeyPatch, tty: bool,
                                                        env: dict[str, str], coloured: bool) -> None:
    from damkit.cli import paint

    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stream = _Tty(tty)
    paint.line(paint.styled("Connection OK", "green bold", stream=stream) + ": [red]3[/]",
               stream=stream)
    expected = "\x1b[32;1mConnection OK\x1b[0m" if coloured else "Connection OK"
    # never markup: a DAM's text in square brackets is printed as it is
    assert stream.text == expected + ": [red]3[/]\n"


def test_sizes_and_widths_for_people() -> None:
    from damkit.cli.paint import cell_len, human_size

    assert [human_size(n) for n in (None, 0, 1, 999, 1000, 7_100_000, 999_999, 10**12)] == [
        "-", "0 bytes", "1 byte", "999 bytes", "1.0 kB", "7.1 MB", "1,000.0 kB", "1.0 TB"]
    assert [cell_len(t) for t in ("abc", "日本語", "e\u0301", "Ünïcödé")] == [3, 6, 1, 7]
