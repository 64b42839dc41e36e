"""Sync history: from Connections, `h` lists the connection's past runs newest first (read in a
thread worker); Enter shows a run's plan, counts and file errors (untrusted names shown as
text, never markup); Escape goes back. Plus a deterministic snapshot at 80x24."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from damkit.demo import add_sandbox_connections, demo_workspace
from damkit.sync import sync_connection
from damkit_tui.screens.connections import ConnectionsScreen
from damkit_tui.screens.history import HistoryScreen, RunDetails

from tui_support import make_app, screen_text, wait_for, wait_text

pytestmark = pytest.mark.timeout(60)

SIZE = (80, 24)
NAME = "sandbox-percolate"
TAG = "Gelato"


async def synced_twice(fresh_sandbox: Any, tmp_path: Path, **config: Any) -> tuple[Any, Any]:
    """A workspace on a percolate sandbox, synced, one asset untagged, synced again."""
    sb = fresh_sandbox(providers=("percolate",), rate_limit=None, **config)
    ws = demo_workspace(tmp_path / "ws")
    add_sandbox_connections(ws, sb.manifest())
    await sync_connection(ws, NAME, rate=200)
    key = sb.control("GET", "percolate/assets", params={"tag": TAG})["assets"][0]["key"]
    sb.control("POST", f"percolate/assets/{key}/untag", json={"tag": TAG})
    await sync_connection(ws, NAME, rate=200)
    return ws, sb


def cells(table: DataTable[Any], row: int) -> list[str]:
    return [str(c) for c in table.get_row_at(row)]


async def open_history(pilot: Any) -> HistoryScreen:
    app = pilot.app
    await wait_text(pilot, NAME)
    await pilot.press("home", "h")  # the first (only) connection, then its history
    await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), what="history")
    await wait_text(pilot, "run(s), newest first")
    return app.screen


async def test_history_lists_runs_and_details(fresh_sandbox, tmp_path: Path) -> None:
    ws, _ = await synced_twice(fresh_sandbox, tmp_path, assets=30)
    first, second = reversed(ws.index.runs(connection=NAME))  # oldest, newest
    eligible = first["counts"]["downloaded"]
    assert eligible > 1 and second["counts"]["gone"] == 1  # the setup did what it says
    app = make_app(ws, sync_rate=200)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        table = screen.query_one("#runs", DataTable)
        assert table.row_count == 2
        # newest first: the second run downloaded nothing and marked one asset gone
        started, status, _secs, downloaded, failed, gone, size = cells(table, 0)
        assert (status, downloaded, failed, gone, size) == ("ok", "0", "0", "1", "0 B")
        assert started == second["started"].replace("T", " ").removesuffix("Z")
        _, status, _, downloaded, failed, gone, size = cells(table, 1)
        assert (status, downloaded, failed, gone) == ("ok", str(eligible), "0", "0")
        assert size not in ("", "-")
        text = screen_text(app)
        lines = [line for line in text.splitlines() if " ok " in line]
        assert len(lines) == 2 and f" {eligible} " in lines[1] and " 1 " in lines[0]
        assert "Sync history: sandbox-percolate" in text

        await pilot.press("enter")  # the newest run
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetails), what="details")
        text = screen_text(app)
        plan = second["plan"]
        assert f"listed {plan['listed']}" in text and f"unchanged {plan['unchanged']}" in text
        assert "gone 1" in text and "trigger: sync" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), what="back")

        await pilot.press("down", "enter")  # the first run
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetails), what="details")
        assert f"new {eligible}" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), what="back")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionsScreen), what="home")


async def test_untrusted_names_are_text_and_empty_history(tmp_path: Path) -> None:
    ws = demo_workspace(tmp_path / "ws")
    ws.index.put_connection({"name": "acme", "provider": "percolate", "settings": {}})
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "acme")
        await pilot.press("h")
        await wait_text(pilot, "No sync yet for this connection")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionsScreen), what="home")
        ws.index.add_run({"connection": "acme", "provider": "percolate", "status": "partial",
                          "started": "2026-01-02T03:04:05Z", "trigger": "sync",
                          "counts": {"downloaded": 1, "failed": 1}, "bytes": 2048,
                          "plan": {"listed": 2, "new": 2},
                          "error": "listing [b]refused[/b]",
                          "errors": [{"asset_id": "a[1]", "name": "[red]evil[/red] [link=x]",
                                      "error": "HTTP 500 [/]"}]})
        await pilot.press("h")
        await wait_text(pilot, "2026-01-02 03:04:05")
        assert "partial" in screen_text(app) and "2.0 kB" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetails), what="details")
        await wait_text(pilot, "[red]evil[/red] [link=x]")
        text = screen_text(app)
        assert "listing [b]refused[/b]" in text and "HTTP 500 [/]" in text and "a[1]" in text


def test_history_snapshot(snap_compare, fresh_sandbox, tmp_path: Path) -> None:
    ws, _ = asyncio.run(synced_twice(fresh_sandbox, tmp_path, assets=12, seed=7))
    for i, run in enumerate(reversed(ws.index.runs(connection=NAME))):  # pin the clock
        ws.index.update_run(run["id"], {"started": f"2026-01-0{i + 1}T09:00:00Z",
                                        "finished": f"2026-01-0{i + 1}T09:00:07Z",
                                        "seconds": 7.0})
    app = make_app(ws, sync_rate=200, timings=False)
    app.theme = "textual-dark"

    async def run_before(pilot: Any) -> None:
        await open_history(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_run_details_snapshot(snap_compare, fresh_sandbox, tmp_path: Path) -> None:
    ws, _ = asyncio.run(synced_twice(fresh_sandbox, tmp_path, assets=12, seed=7))
    for run in ws.index.runs(connection=NAME):
        ws.index.update_run(run["id"], {"started": "2026-01-02T09:00:00Z",
                                        "finished": "2026-01-02T09:00:07Z", "seconds": 7.0})
    app = make_app(ws, sync_rate=200, timings=False)
    app.theme = "textual-dark"

    async def run_before(pilot: Any) -> None:
        await open_history(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunDetails), what="details")
        await wait_text(pilot, "Plan")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
