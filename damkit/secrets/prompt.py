"""Asking for the encrypted store's passphrase on a terminal (never without one)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from ..errors import SecretStoreError


def stdin_is_tty() -> bool:
    try:
        return bool(sys.stdin) and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def prompt_passphrase(path: Path) -> str | None:
    """Ask on the terminal (twice for a new file). None when the user enters nothing."""
    try:
        if path.exists():
            return getpass.getpass(f"Passphrase for damkit secrets ({path}): ") or None
        first = getpass.getpass(f"New passphrase for damkit secrets ({path}): ")
        if not first:
            return None
        if getpass.getpass("Repeat the passphrase: ") != first:
            raise SecretStoreError("the two passphrases differ; nothing was saved")
        return first
    except (EOFError, KeyboardInterrupt):
        return None


__all__ = ["prompt_passphrase", "stdin_is_tty"]
