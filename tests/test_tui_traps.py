"""The console's remaining traps at 80x24, by keys: a check failing for want of a browser login
points at the console's own login key, copies say honestly what happened, Bynder's workspace
settings are edited on its events screen, and a rehearsal offers the sandbox's values."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_onboarding import SIZE, pick_provider

from damkit_tui.screens.check import CheckScreen
from damkit_tui.screens.edit import ConnectionFormScreen
from damkit_tui.screens.events import EventsScreen
from damkit_tui.screens.login import LoginScreen

from tui_support import (
    encrypted_workspace,
    focus_id,
    make_app,
    notifications,
    paste,
    screen_text,
    wait_for,
    wait_text,
)

pytestmark = pytest.mark.timeout(90)


def manifest_values(sb, provider: str) -> dict:
    return {k: v for k, v in sb.manifest()["providers"][provider].items() if k != "eligible"}


async def test_check_without_login_points_at_the_login_key(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12, providers=("canto",))
    ws = encrypted_workspace(tmp_path / "ws")
    ws.add_connection("canto", "acme-canto", manifest_values(sb, "canto"))  # never logged in
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "acme-canto")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen)
                       and app.screen.report is not None, what="the check")
        await wait_text(pilot, "press o to log in")
        text = screen_text(app)
        assert "damkit auth" not in text  # the console's way, not the command line's
        failed = app.screen.report.first_failure
        assert failed is not None and failed.fix is not None and failed.fix.run == "auth"
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), what="login")
        login = app.screen
        await wait_for(pilot, lambda: login.url, what="the login address")
        await pilot.press("ctrl+y")
        assert app.clipboard == login.url
        said = " ".join(notifications(app))
        assert "OSC 52" in said and "F3" in said  # what was done, and what to do if it failed
        assert "copied." not in said
        await pilot.press("f3")  # headless: the console cannot step aside, and says so
        await wait_for(pilot, lambda: any("ctrl+y" in m and "cannot" in m
                                          for m in notifications(app)), what="the F3 answer")
        assert isinstance(app.screen, LoginScreen)


async def test_bynder_workspace_settings_on_the_events_screen(fresh_sandbox,
                                                              tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12, providers=("bynder",))
    ws = encrypted_workspace(tmp_path / "ws")
    ws.add_connection("bynder", "acme-bynder", manifest_values(sb, "bynder"))
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "acme-bynder")
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen), what="events")
        await focus_id(pilot, "config-public_url")
        await paste(pilot, "not a url")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: str(app.screen.query_one("#config-error").render()).strip(),
                       what="the refusal")
        assert ws.config().public_url is None  # bad input changes nothing
        await pilot.press("ctrl+a", "ctrl+k")
        await paste(pilot, "https://dam.example.com")
        await focus_id(pilot, "config-library_url_template")
        await paste(pilot, "https://library.example.com/assets/{id}")
        await focus_id(pilot, "config-sns_topics")
        await paste(pilot, "arn:aws:sns:eu-west-1:123456789012:bynder-acme")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: ws.config().public_url == "https://dam.example.com",
                       what="saved")
        config = ws.config()
        assert config.library_url_template == "https://library.example.com/assets/{id}"
        assert config.sns_topics == ["arn:aws:sns:eu-west-1:123456789012:bynder-acme"]
        await wait_text(pilot, "https://dam.example.com/events/bynder/")  # the URL follows
        await paste(pilot, ", arn:aws:sns")  # unsaved input on this screen ...
        await focus_id(pilot, "backlink")  # ... and focus on a switch, where q reaches the app
        await pilot.press("q")
        await wait_text(pilot, "unsaved input is lost")
        assert app.is_running
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen), what="kept")


async def test_rehearsal_offers_the_sandbox_values(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12, providers=("percolate",))
    fields = sb.manifest()["providers"]["percolate"]
    app = make_app(encrypted_workspace(tmp_path / "ws"), sandbox=sb)
    async with app.run_test(size=SIZE) as pilot:
        await pick_provider(pilot, "percolate")
        form = app.screen
        assert isinstance(form, ConnectionFormScreen)
        # the API base URL (under Advanced) starts at the sandbox's: no DNS failure on step 1
        assert form.query_one("#field-api_url").value == fields["api_url"]
        hints = [str(w.render()) for w in form.query(".sandbox-value")]
        assert f"sandbox: {fields['scope_id']}" in hints
        assert not any(fields["client_secret"] in h for h in hints)  # secrets are not shown
        await pilot.press("ctrl+f")
        assert form.query_one("#field-scope_id").value == fields["scope_id"]
        assert form.query_one("#field-client_secret").value == fields["client_secret"]
        assert form.query_one("#field-client_secret").password


async def test_no_sandbox_no_offer(tmp_path: Path) -> None:
    app = make_app(encrypted_workspace(tmp_path / "ws"))
    async with app.run_test(size=SIZE) as pilot:
        await pick_provider(pilot, "percolate")
        form = app.screen
        assert not form.query(".sandbox-value")
        assert "Sandbox values" not in screen_text(app)
        assert form.query_one("#field-api_url").value != ""  # the provider's default


def test_tui_sandbox_connections_are_logged_in(tmp_path: Path) -> None:
    """`damkit tui --sandbox`: the browser-login connection is ready, as the demo's is."""
    from damkit.setup_flow import connection_state
    from damkit_tui.app import sandbox_workspace

    with sandbox_workspace(tmp_path, assets=12) as (ws, _sb):
        states = {c["name"]: connection_state(ws, c["name"]) for c in ws.connections()}
        needs_login = [n for n in states if ws.spec(n).capabilities.browser_login]
        assert needs_login  # the sandbox has a DAM with a browser login
        assert all(states[n].logged_in for n in needs_login)


async def test_sync_says_why_it_takes_time(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12, providers=("percolate",))
    ws = encrypted_workspace(tmp_path / "ws")
    ws.add_connection("percolate", "acme", manifest_values(sb, "percolate"))
    app = make_app(ws)  # the provider's own pace, as a real console runs
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "acme")
        await pilot.press("s")
        rate = ws.spec("acme").capabilities.rate
        await wait_text(pilot, f"paced at {rate:g}/s")
        assert "a polite default" in screen_text(app) or "documented limit" in screen_text(app)
        await pilot.press("x")
