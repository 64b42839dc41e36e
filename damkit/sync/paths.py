"""Compare library paths as the file system does.

macOS and Windows folders are case-insensitive by default: ``report.pdf`` and ``REPORT.pdf`` are
one directory entry there, so removing the "old" name after a case-only rename upstream would
remove the new file. A run probes its library folder once (:func:`folds_case`) and compares
paths with :func:`same_entry`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import unicodedata
from pathlib import Path

_probed: dict[str, bool] = {}


def probe_case(folder: Path) -> bool:
    """True when ``folder``'s file system treats names that differ in case as one entry."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f".damkit-case-probe-{secrets.token_hex(6)}"
    lower = folder / name
    try:
        fd = os.open(lower, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return False  # cannot tell (read-only?): nothing will be written there anyway
    os.close(fd)
    try:
        return os.path.exists(folder / name.upper())
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lower)


def folds_case(folder: Path) -> bool:
    """:func:`probe_case`, once per folder and process."""
    key = os.path.realpath(folder)
    if key not in _probed:
        _probed[key] = probe_case(folder)
    return _probed[key]


def _fold(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def same_entry(a: str, b: str, *, fold_case: bool) -> bool:
    """Do the library-relative paths ``a`` and ``b`` name one directory entry?"""
    if a == b:
        return True
    return fold_case and _fold(a) == _fold(b)


__all__ = ["folds_case", "probe_case", "same_entry"]
