"""TUI behaviour: a crash never shows a secret, a big sync stays responsive (throttled updates)
and cancels cleanly, the command palette lists the actions, themes, Escape, graceful degrade."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual.app import App

from damkit.demo import add_sandbox_connections, demo_workspace
from damkit.redact import register_secret
from damkit_tui.app import DamkitApp
from damkit_tui.screens.connections import ConnectionsScreen
from damkit_tui.screens.events import EventsScreen
from damkit_tui.screens.sync import SyncScreen

from tui_support import make_app, notifications, screen_text, type_text, wait_for, wait_text

pytestmark = pytest.mark.timeout(60)

SIZE = (80, 24)
CRASH_SECRET = "tui-crash-secret-Q7x9-never-shown"


async def crash(app: App[Any], capsys: pytest.CaptureFixture[str]) -> str:
    """Crash the app with a secret in a local and in the message; the crash report it prints."""
    register_secret(CRASH_SECRET)

    def boom() -> None:
        client_secret = CRASH_SECRET  # a local holding a secret
        raise RuntimeError(f"could not use {client_secret}")

    with pytest.raises(RuntimeError):
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.call_later(boom)
            await pilot.pause(0.2)
    return capsys.readouterr().err


async def test_crash_screen_drops_locals_and_redacts(tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    text = await crash(make_app(demo_workspace(tmp_path / "ws")), capsys)
    assert "RuntimeError" in text and "boom" in text  # it is a traceback
    assert CRASH_SECRET not in text

    class StockCrash(DamkitApp):  # control: Textual's own crash screen shows locals
        _fatal_error = App._fatal_error

    stock = await crash(StockCrash(demo_workspace(tmp_path / "ws2")), capsys)
    assert CRASH_SECRET in stock


@pytest.fixture
def sandbox_ws(fresh_sandbox, tmp_path: Path) -> Any:
    def make(**config: Any) -> Any:
        sb = fresh_sandbox(providers=("percolate",), **config)
        ws = demo_workspace(tmp_path / "ws")
        add_sandbox_connections(ws, sb.manifest())
        return ws
    return make


async def test_big_sync_throttled_responsive_and_cancelled(sandbox_ws) -> None:
    ws = sandbox_ws(assets=400, latency_ms=60)
    app = make_app(ws, sync_rate=1000)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "sandbox-percolate")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen), what="sync")
        screen: SyncScreen = app.screen
        # the screen's own start: its update timer runs from there, not from when this test saw it
        started = screen._started
        await wait_for(pilot, lambda: screen.mailbox.events >= 40, what="downloads under way")
        # the event loop stays free while files stream in: during a 20 ms sleep the UI thread
        # works little. Counted in the thread's CPU time, not the wall clock: on a loaded
        # machine the wall clock also counts the time other processes had the cores.
        busy = stall = 0.0
        for _ in range(15):
            t0, c0 = time.monotonic(), time.thread_time()
            await asyncio.sleep(0.02)
            busy = max(busy, time.thread_time() - c0)
            stall = max(stall, time.monotonic() - t0 - 0.02)
        assert busy < 0.25, f"the UI loop was busy {busy:.2f} s in a 20 ms sleep"
        assert stall < 5, f"the UI loop stalled {stall:.2f} s"  # guards a hang only
        assert screen.running
        await pilot.press("escape")  # back to the list: the sync carries on meanwhile
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionsScreen), what="home")
        assert any("carries on" in m for m in notifications(app))
        done_before = screen.mailbox.events
        await wait_for(pilot, lambda: screen.mailbox.events > done_before + 10,
                       what="the sync going on in the background")
        assert screen.running
        await pilot.press("s")  # shows the same running sync again, not a new one
        await wait_for(pilot, lambda: app.screen is screen, what="the running sync again")
        assert "left" in screen_text(app)  # time left, from the pace so far
        await pilot.press("x")
        await wait_for(pilot, lambda: screen.report is not None, what="the cancelled run")
        elapsed = time.monotonic() - started
        report = screen.report
        assert report.status == "cancelled"
        assert 0 < report.downloaded < report.plan.to_download
        await wait_text(pilot, "finished files stay")
        # what finished stays finished: on disk and in the index, no partial file left
        files = [p for p in (ws.library_dir / "sandbox-percolate").rglob("*") if p.is_file()]
        assert len(files) == report.downloaded
        assert len(ws.assets(connection="sandbox-percolate", status="synced")) == report.downloaded
        assert not list(ws.root.rglob("*.part"))
        # at most 10 UI updates a second, however many events the sync sent
        assert screen.mailbox.events > 2 * screen.updates
        assert screen.updates <= 10 * elapsed + 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionsScreen), what="home")
        await wait_text(pilot, "cancelled")


async def test_command_palette_lists_actions(sandbox_ws) -> None:
    ws = sandbox_ws(assets=8)
    app = make_app(ws, sync_rate=200)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "sandbox-percolate")
        await pilot.press("ctrl+p")
        await type_text(pilot, "Test Connection: sandbox")
        await wait_text(pilot, "Test Connection: sandbox-percolate")
        await pilot.press("enter")
        await wait_text(pilot, "Connection OK")
        await pilot.press("ctrl+p")
        await type_text(pilot, "Library")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_text(pilot, "Library: DAM Import")


async def test_theme_toggle_and_footer(tmp_path: Path) -> None:
    app = make_app(demo_workspace(tmp_path / "ws"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "No connection yet")
        footer = screen_text(app).splitlines()[-1]
        for key in ("Add", "Test", "Sync", "Library", "Quit"):
            assert key in footer
        dark = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != dark and "light" in app.theme
        await pilot.press("ctrl+t")
        assert app.theme == dark
        await pilot.press("s")  # nothing selected: says what to do, does not crash
        await wait_for(pilot, lambda: any("Add a connection first" in m
                                          for m in notifications(app)), what="the note")


async def test_bynder_screen_degrades_without_request_module(fresh_sandbox, tmp_path: Path,
                                                             monkeypatch) -> None:
    sb = fresh_sandbox(assets=8, providers=("bynder",))
    ws = demo_workspace(tmp_path / "ws")
    add_sandbox_connections(ws, sb.manifest())
    monkeypatch.setitem(sys.modules, "damkit.events.request", None)  # import fails
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "sandbox-bynder")
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen), what="bynder")
        await wait_text(pilot, "not available")
        await wait_text(pilot, "Metaproperty management")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("No request yet" in m for m in notifications(app)),
                       what="the note")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_canto_login_loopback_where_a_browser_exists(fresh_sandbox, tmp_path: Path,
                                                           monkeypatch) -> None:
    """With a browser, the login listens on loopback, opens the browser and finishes alone."""
    import httpx

    from damkit.providers.canto import auth
    from damkit.sandbox.canto import consent

    sb = fresh_sandbox(assets=8, providers=("canto",))
    ws = demo_workspace(tmp_path / "ws")
    add_sandbox_connections(ws, sb.manifest())
    opened: list[str] = []

    def browser(url: str) -> bool:  # the user's browser: Allow, then follow the redirect
        opened.append(url)
        httpx.get(consent(url), timeout=10)
        return True

    monkeypatch.setattr(auth, "browser_available", lambda: True)
    monkeypatch.setattr(auth, "DEFAULT_REDIRECT_PORT", free_port())  # the registered port
    monkeypatch.setattr(auth.webbrowser, "open", browser)
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "sandbox-canto")
        await pilot.press("o")
        await wait_for(pilot, lambda: ws.secrets.get("sandbox-canto", "access_token"),
                       what="the login")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionsScreen), what="home")
    assert opened and f"127.0.0.1%3A{auth.DEFAULT_REDIRECT_PORT}" in opened[0]


async def test_sync_failures_logged_and_filterable(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12, providers=("percolate",))
    ws = demo_workspace(tmp_path / "ws")
    add_sandbox_connections(ws, sb.manifest())
    catalog = sb.state.catalog("percolate")
    bad = catalog.tagged(catalog.tag)[0]
    sb.set_faults("percolate", cut_rate=1.0, match=f"/cdn/ugc/raw/{bad.number}/")
    app = make_app(ws, sync_rate=200)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "sandbox-percolate")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen)
                       and app.screen.report is not None, what="the sync")
        assert app.screen.report.status == "partial" and app.screen.report.failed == 1
        await wait_text(pilot, "failed ")  # the failure's line in the log
        log_text = "\n".join(line.text for line in app.screen.query_one("#log").lines)
        assert bad.name[:20] in log_text or bad.key in log_text
        await wait_text(pilot, "partial")
        await pilot.press("l")
        await wait_text(pilot, "asset(s)")
        await pilot.press("slash")  # to the name filter, then shift+tab back to the status one
        await pilot.press("shift+tab", "shift+tab")
        assert app.focused.id == "f-status"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # past the blank prompt and "synced"
        await wait_text(pilot, "1 asset(s)")
        assert "failed" in screen_text(app)


@pytest.mark.parametrize("found", [
    {"Metaproperty management": True, "Edit media": True, "Permissions management": False,
     "Download original": False},
    {"Permissions management": False, "Metaproperty management": None, "Edit media": None,
     "Download original": None},
    None,
])
def test_permission_lines_for_the_bynder_screen(found: Any) -> None:
    """The Bynder screen's marks from what Test Connection stored (``last_check.permissions``)."""
    from damkit.providers import get
    from damkit_tui.screens.events import permission_lines

    needed = get("bynder").capabilities.backlink_permissions
    lines = "\n".join(permission_lines(found, backlink=True, permissions=needed))
    if found is None:
        assert lines.count("Test Connection") == 4
    else:
        assert lines.count("✗ missing") == list(found.values()).count(False)
        assert lines.count("✓ found") == list(found.values()).count(True)
        assert lines.count("not verified") == list(found.values()).count(None)
    off = "\n".join(permission_lines(None, backlink=False, permissions=needed))
    assert off.count("once the backlink is on") == 4


async def test_escape_during_a_slow_check_and_remove(fresh_sandbox, tmp_path: Path) -> None:
    """Going back while a check runs drops its result quietly; removing asks first."""
    sb = fresh_sandbox(assets=8, providers=("percolate",), latency_ms=250)
    ws = demo_workspace(tmp_path / "ws")
    add_sandbox_connections(ws, sb.manifest())
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "sandbox-percolate")
        await pilot.press("c")
        await wait_text(pilot, "Checking")
        await pilot.press("escape")
        await wait_for(pilot, lambda: ws.connection("sandbox-percolate").get("last_check"),
                       what="the check to end in the background")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConnectionsScreen) and app.is_running
        await pilot.press("delete")
        await wait_text(pilot, "Remove the connection")
        await pilot.press("escape")  # no
        assert [c["name"] for c in ws.connections()] == ["sandbox-percolate"]
        await pilot.press("delete", "y")
        await wait_text(pilot, "No connection yet")
    assert ws.connections() == []
    assert ws.secrets.get("sandbox-percolate", "client_secret") is None


async def test_quit_during_a_sync_cancels_it_first(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=120, providers=("percolate",), latency_ms=60)
    ws = demo_workspace(tmp_path / "ws")
    add_sandbox_connections(ws, sb.manifest())
    app = make_app(ws, sync_rate=1000)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "sandbox-percolate")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen)
                       and app.screen.mailbox.events >= 10, what="downloads under way")
        screen = app.screen
        await pilot.press("q")
        await wait_for(pilot, lambda: screen.report is not None, what="the cancelled run")
        assert screen.report.status == "cancelled" and app.is_running
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")
    runs = ws.index.runs(connection="sandbox-percolate")
    assert runs[0]["status"] == "cancelled"
