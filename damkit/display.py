"""Text that came from outside (a DAM's file names, tags, titles), made safe to show on one line.

A name from the DAM is untrusted: a newline would break a line of output (and forge the next
one), an escape sequence would drive the terminal, a bidi override would show a name backwards,
a zero-width character would make two names look alike. :func:`clean` makes every such character
visible as an escape (``\\n``, ``\\x1b``, ``\\u202e``), so the text stays one line, shows what
it holds, and can be told apart from its look-alikes. Every frontend shows DAM names through it.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories never shown raw: controls, format (zero-width, bidi), separators that break
#: a line, surrogates, private use and unassigned code points.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def unsafe_char(ch: str) -> bool:
    """True for a character that may not be shown raw (nor stored in a setting)."""
    return unicodedata.category(ch) in UNSAFE_CATEGORIES


def escape_char(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def clean(value: object, *, limit: int | None = None) -> str:
    """``value`` as one line with every unsafe character escaped; cut at ``limit`` characters
    (with ``…``) when given. A backslash stays a backslash: the text is for people, not parsing."""
    text = "" if value is None else str(value)
    if any(unsafe_char(ch) for ch in text):
        text = "".join(escape_char(ch) if unsafe_char(ch) else ch for ch in text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def first_unsafe(text: str) -> str | None:
    """The first character that may not appear in a setting, as an escape (``\\u200b``); None
    when there is none."""
    for ch in text:
        if unsafe_char(ch):
            return escape_char(ch)
    return None


__all__ = ["UNSAFE_CATEGORIES", "clean", "escape_char", "first_unsafe", "unsafe_char"]
