"""Helpers for the TUI tests: drive the app by keys, read what is on screen, wait for workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App
from textual.pilot import Pilot

from damkit.workspace import Workspace, open_workspace

PASSPHRASE = "tui-test-passphrase-5531"


def encrypted_workspace(path: Path) -> Workspace:
    """A fresh workspace whose secret store is set explicitly (no OS keyring in tests)."""
    return open_workspace(path, env={"DAMKIT_SECRET_STORE": "encrypted",
                                     "DAMKIT_SECRETS_PASSPHRASE": PASSPHRASE})


def screen_text(app: App[Any]) -> str:
    """The current screen as plain text, line by line (what a user sees, toasts included)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def wait_for(pilot: Pilot[Any], condition: Callable[[], Any], *, timeout: float = 20.0,
                   what: str = "condition") -> Any:
    """Let the app run until ``condition()`` is truthy (workers run in threads meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; screen:\n"
                                 f"{screen_text(pilot.app)}")
        await pilot.pause(0.05)


async def wait_text(pilot: Pilot[Any], text: str, *, timeout: float = 20.0) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), timeout=timeout,
                   what=repr(text))


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type ``text`` key by key into the focused widget."""
    await pilot.press(*text)


async def paste(pilot: Pilot[Any], text: str) -> None:
    """Paste ``text`` into the focused widget the way a terminal does (bracketed paste)."""
    focused = pilot.app.focused
    if focused is None:
        raise AssertionError("nothing has focus to paste into")
    focused.post_message(events.Paste(text))
    await pilot.pause()


async def focus_id(pilot: Pilot[Any], widget_id: str, *, limit: int = 60) -> None:
    """Press Tab until the widget with ``widget_id`` has focus (keyboard navigation only)."""
    for _ in range(limit):
        focused = pilot.app.focused
        if focused is not None and focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{widget_id}; focus is on {pilot.app.focused!r}")


def make_app(ws: Workspace, **options: Any) -> Any:
    """The app as the tests run it: no animations (nothing to wait for between keys)."""
    from damkit_tui.app import DamkitApp

    app = DamkitApp(ws, **options)
    app.animation_level = "none"
    return app


def notifications(app: Any) -> list[str]:
    """The messages of the notifications (toasts) raised so far and not yet expired."""
    return [n.message for n in app._notifications]
