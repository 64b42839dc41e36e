"""Compare library paths as the library's storage does.

macOS and Windows folders are case-insensitive by default: ``report.pdf`` and ``REPORT.pdf`` are
one directory entry there, so removing the "old" name after a case-only rename upstream would
remove the new file. A run asks its store once (``LibraryStore.folds_case``: the local folder is
probed, a bucket never folds case) and compares paths with :func:`same_entry`.
"""

from __future__ import annotations

import unicodedata


def _fold(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def same_entry(a: str, b: str, *, fold_case: bool) -> bool:
    """Do the library-relative paths ``a`` and ``b`` name one directory entry?"""
    if a == b:
        return True
    return fold_case and _fold(a) == _fold(b)


__all__ = ["same_entry"]
