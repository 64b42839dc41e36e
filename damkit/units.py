"""Formatting shared by every frontend (CLI, console, notebook), so they print sizes alike."""

from __future__ import annotations


def human_bytes(n: int | float | None) -> str:
    """``1536`` → ``"1.5 kB"`` (decimal units, as rich's transfer columns); ``None`` → ``""``."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""
