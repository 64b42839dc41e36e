"""Screenshots of the main screens at 80x24 (pytest-textual-snapshot): connections, the add
form, a check result, a finished sync and the library. Deterministic: a fresh sandbox with the
fixed seed, no durations or rates on screen (``timings=False``), the dark theme, no cursor blink,
no temporary path or port on screen. Accept changes with ``pytest --snapshot-update``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from damkit.demo import add_sandbox_connections, demo_workspace
from damkit.sync import sync_connection
from damkit_tui.screens.check import CheckScreen
from damkit_tui.screens.library import LibraryScreen
from damkit_tui.screens.sync import SyncScreen
from damkit_tui.screens.tags import TagPickerScreen

from tui_support import make_app, type_text, wait_for, wait_text

pytestmark = pytest.mark.timeout(60)

SIZE = (80, 24)
SEED = 7


def workspace(fresh_sandbox: Any, tmp_path: Path, providers: tuple[str, ...]) -> Any:
    sb = fresh_sandbox(assets=12, seed=SEED, providers=providers)
    ws = demo_workspace(tmp_path / "ws")
    add_sandbox_connections(ws, sb.manifest())
    return ws


def app_for(ws: Any, theme: str = "textual-dark") -> Any:
    app = make_app(ws, sync_rate=200, timings=False)
    app.theme = theme
    return app


def no_blink(pilot: Any) -> None:
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


async def home(pilot: Any) -> None:
    await wait_text(pilot, "sandbox-")


def test_connections(snap_compare, fresh_sandbox, tmp_path: Path) -> None:
    ws = workspace(fresh_sandbox, tmp_path, ("bynder", "percolate"))

    async def checked_and_synced() -> None:
        await ws.check("sandbox-percolate")
        await sync_connection(ws, "sandbox-percolate", rate=200)

    asyncio.run(checked_and_synced())
    assert snap_compare(app_for(ws), terminal_size=SIZE, run_before=home)


def test_connections_light(snap_compare, fresh_sandbox, tmp_path: Path) -> None:
    ws = workspace(fresh_sandbox, tmp_path, ("canto", "percolate"))
    assert snap_compare(app_for(ws, "textual-light"), terminal_size=SIZE, run_before=home)


def test_add_form(snap_compare, tmp_path: Path) -> None:
    app = app_for(demo_workspace(tmp_path / "ws"))

    async def run_before(pilot: Any) -> None:
        await wait_text(pilot, "No connection yet")
        await pilot.press("a", "down", "enter")  # Canto
        await wait_text(pilot, "Add a Canto connection")
        await type_text(pilot, "acme-canto")
        no_blink(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_check_result(snap_compare, fresh_sandbox, tmp_path: Path) -> None:
    app = app_for(workspace(fresh_sandbox, tmp_path, ("bynder",)))

    async def run_before(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CheckScreen)
                       and pilot.app.screen.report is not None, what="the check")
        await wait_text(pilot, "Connection OK")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_sync_finished(snap_compare, fresh_sandbox, tmp_path: Path) -> None:
    app = app_for(workspace(fresh_sandbox, tmp_path, ("percolate",)))

    async def run_before(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SyncScreen)
                       and pilot.app.screen.report is not None, what="the sync")
        await wait_text(pilot, "Finished")
        pilot.app.clear_notifications()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_library(snap_compare, fresh_sandbox, tmp_path: Path) -> None:
    ws = workspace(fresh_sandbox, tmp_path, ("percolate",))
    asyncio.run(sync_connection(ws, "sandbox-percolate", rate=200))
    app = app_for(ws)

    async def run_before(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, LibraryScreen),
                       what="the library")
        await wait_text(pilot, "asset(s)")
        no_blink(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_check_better_spelling(snap_compare, fresh_sandbox, tmp_path: Path) -> None:
    """A wrong-case tag: the better spelling first, with its one key (u)."""
    ws = workspace(fresh_sandbox, tmp_path, ("bynder",))  # its check shows no port
    ws.edit_connection("sandbox-bynder", {"tag": "gelato"})
    app = app_for(ws)

    async def run_before(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CheckScreen)
                       and pilot.app.screen.report is not None, what="the check")
        await wait_text(pilot, "set Tag to 'Gelato'")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_tag_picker(snap_compare, fresh_sandbox, tmp_path: Path) -> None:
    """The DAM's tags with their file counts, nearest to the typed 'gelato' first."""
    ws = workspace(fresh_sandbox, tmp_path, ("bynder",))
    ws.edit_connection("sandbox-bynder", {"tag": "gelato"})
    app = app_for(ws)

    async def run_before(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("e")
        await wait_text(pilot, "Edit sandbox-bynder")
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, TagPickerScreen)
                       and pilot.app.screen.found, what="the tags")
        await pilot.pause()
        no_blink(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
