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
