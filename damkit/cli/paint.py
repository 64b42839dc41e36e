"""Lines for people: plain text, coloured only on a terminal that wants colour.

Every line the command line prints for people goes through :func:`line`; a table's cells are
measured with :func:`cell_len`. Only the live progress bar of ``damkit sync`` draws with rich.
A line is never hard-wrapped (a pasted e-mail or a file name stays whole), never interpreted as
markup (a DAM's tag in square brackets prints as it is), and carries colour only when the stream
is a terminal and neither ``NO_COLOR`` nor ``TERM=dumb`` says otherwise (``FORCE_COLOR`` forces
it), as rich decides. Importing rich costs about a tenth of ``damkit check``; this costs nothing.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from typing import TextIO

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
def colour_on(stream: TextIO) -> bool:
    """Whether ``stream`` gets colour."""
    env = os.environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    if os.name == "nt" and not (env.get("WT_SESSION") or env.get("TERM")):
        return False  # a console that may not read escape codes (Windows Terminal sets WT_SESSION)
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def styled(text: str, style: str, *, stream: TextIO | None = None) -> str:
    """``text`` in ``style`` (space-separated names: ``"green bold"``) when ``stream``
    (standard output by default) gets colour; else ``text`` unchanged."""
    if not text or not colour_on(stream or sys.stdout):
        return text
    codes = ";".join(_CODES[name] for name in style.split())
    return f"\x1b[{codes}m{text}\x1b[0m"


def line(text: str = "", *, stream: TextIO | None = None) -> None:
    """One line (``text`` is already safe: :func:`damkit.display.clean` what came from outside)."""
    (stream or sys.stdout).write(text + "\n")


def cell_len(text: str) -> int:
    """Columns ``text`` takes on a terminal: wide (East Asian) characters two, combining and
    format characters none."""
    width = 0
    for ch in text:
        if ch.isascii():
            width += 1
        elif unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        else:
            width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def human_size(n: int | None) -> str:
    """Bytes in decimal units, one decimal (``7.1 MB``, ``950 bytes``, ``1 byte``); ``-`` for
    unknown."""
    if n is None:
        return "-"
    size = int(n)
    if size == 1:
        return "1 byte"
    if size < 1000:
        return f"{size:,} bytes"
    suffixes = ("kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    power = next((i for i in range(1, len(suffixes)) if size < 1000 ** (i + 1)), len(suffixes))
    return f"{size / 1000 ** power:,.1f} {suffixes[power - 1]}"
