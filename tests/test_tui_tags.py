"""The console at 80x24, by keys alone: a typo'd tag fixed from the check's near-miss offer in
one key, the tag picker filling the field, ``q`` never losing a form, the cursor following the
connection just saved, and the command palette offering only what a connection can do."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_onboarding import SIZE, fill, pick_provider

from damkit.providers import get as provider_spec
from damkit.sandbox.canto import consent
from damkit_tui.screens.check import CheckScreen
from damkit_tui.screens.common import ConfirmScreen
from damkit_tui.screens.connections import ConnectionsScreen
from damkit_tui.screens.edit import ConnectionFormScreen
from damkit_tui.screens.login import LoginScreen
from damkit_tui.screens.sync import SyncScreen
from damkit_tui.screens.tags import TagPickerScreen

from tui_support import (
    encrypted_workspace,
    focus_id,
    make_app,
    paste,
    screen_text,
    type_text,
    wait_for,
    wait_text,
)

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize("provider", ["bynder", "canto", "percolate"])
async def test_onboard_from_empty_by_keys_typo_fixed_then_sync(fresh_sandbox, tmp_path: Path,
                                                               provider: str) -> None:
    """From an empty workspace, by keys alone: add (the sandbox's values by ctrl+f, the tag
    typed wrong-case), save, log in where the DAM needs it, fix the tag from the check's
    near-miss offer in one key, go back (the cursor on the new connection) and sync it."""
    sb = fresh_sandbox(assets=12, providers=(provider,))
    fields = sb.manifest()["providers"][provider]
    ws = encrypted_workspace(tmp_path / "ws")
    app = make_app(ws, sync_rate=200, sandbox=sb)
    name = f"zz-{provider}"
    tag_field = ws_tag_field(provider)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "No connection yet")
        await pick_provider(pilot, provider)
        await type_text(pilot, name)
        assert "sandbox: " in screen_text(app) or app.screen.rehearsal
        await pilot.press("ctrl+f")  # the sandbox's values, as a rehearsal offers them
        await fill(pilot, {tag_field: "gelato"})  # the typo: wrong case
        await pilot.press("ctrl+s")
        if provider_spec(provider).capabilities.browser_login:  # saved in a worker: ask the spec
            await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), what="login")
            login = app.screen
            await wait_for(pilot, lambda: login.url, what="the login address")
            await focus_id(pilot, "pasted")
            await paste(pilot, consent(login.url))  # the user allows it in a browser
            await pilot.press("enter")
            await wait_for(pilot, lambda: ws.login_note(name), what="the login recorded")
            assert ws.login_note(name)["library"] == "Main Library"  # the part chosen
        await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen), what="check")
        screen = app.screen
        await wait_for(pilot, lambda: screen.report is not None, what="the check")
        fix = screen.report.better_spelling
        assert fix is not None and fix.value == "Gelato" and fix.field == tag_field
        assert (screen.report.eligible or 0) < fields["eligible"]  # the verdict stays honest
        await wait_text(pilot, "u: set ")  # right under the verdict, at 80x24
        text = screen_text(app)
        assert text.index("u: set ") < text.index("retag") < text.index("Reach")
        await pilot.press("u")  # one key: the spelling in use becomes the setting
        await wait_for(pilot, lambda: ws.connection(name)["settings"][tag_field] == "Gelato",
                       what="the setting changed")
        await wait_for(pilot, lambda: screen.report is not None and screen.report.ok
                       and screen.report.eligible == fields["eligible"], what="the re-check")
        assert screen.report.better_spelling is None
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionsScreen), what="home")
        home = app.screen
        await wait_for(pilot, lambda: home.selected_name() == name,
                       what="the cursor on the connection just added")
        if provider_spec(provider).capabilities.browser_login:
            await wait_text(pilot, "Logged in to Main Library")
        await pilot.press("s")  # acts on that connection
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen), what="sync")
        sync = app.screen
        assert sync.connection == name
        await wait_for(pilot, lambda: sync.report is not None, what="the sync", timeout=60)
        assert sync.report.status == "ok" and sync.report.downloaded == fields["eligible"]


def field_value(screen, widget_id: str) -> str | None:
    """The value of a field, None while the screen is still being built (no crash on a race)."""
    found = screen.query(f"#{widget_id}")
    return found.first().value if found else None


def ws_tag_field(provider: str) -> str:
    from damkit.providers import settings_model

    return settings_model(provider).tag_field


async def test_cursor_follows_an_edited_connection(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12, providers=("percolate",))
    values = {k: v for k, v in sb.manifest()["providers"]["percolate"].items() if k != "eligible"}
    ws = encrypted_workspace(tmp_path / "ws")
    for name in ("a-first", "b-second", "c-third"):
        ws.add_connection("percolate", name, values)
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "c-third")
        await pilot.press("ctrl+p")
        await type_text(pilot, "Edit: c-third")
        await wait_text(pilot, "Edit: c-third")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionFormScreen), what="form")
        form = app.screen
        await wait_for(pilot, lambda: field_value(form, "field-tag") == "Gelato",
                       what="loaded")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen), what="check")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionsScreen), what="home")
        home = app.screen
        await wait_for(pilot, lambda: home.selected_name() == "c-third", what="cursor on c")


async def test_picker_fills_the_tag_field(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12, providers=("bynder",))
    fields = sb.manifest()["providers"]["bynder"]
    ws = encrypted_workspace(tmp_path / "ws")
    ws.add_connection("bynder", "acme-bynder", {**{k: v for k, v in fields.items()
                                                   if k != "eligible"}, "tag": "gelatto"})
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "acme-bynder")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionFormScreen), what="form")
        form = app.screen
        await wait_for(pilot, lambda: field_value(form, "field-tag") == "gelatto",
                       what="settings loaded")
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, TagPickerScreen), what="picker")
        picker = app.screen
        await wait_for(pilot, lambda: picker.found, what="the tags")
        assert picker.found[0].tag.strip().casefold() == "gelato"  # near the typo first
        assert {t.tag for t in picker.found} >= {"Gelato"}
        counts = {t.tag: t.count for t in picker.found}
        assert counts["Gelato"] == fields["eligible"]
        index = [t.tag for t in picker.found].index("Gelato")
        await pilot.press(*["down"] * index, "enter")
        await wait_for(pilot, lambda: app.screen is form, what="back on the form")
        assert form.query_one("#field-tag").value == "Gelato"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: ws.connection("acme-bynder")["settings"]["tag"] == "Gelato",
                       what="saved")


async def test_q_never_loses_a_form(tmp_path: Path) -> None:
    ws = encrypted_workspace(tmp_path / "ws")
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await pick_provider(pilot, "bynder")
        await type_text(pilot, "half-done")
        for _ in range(3):  # onto something that is not a text box (a switch, a button)
            await pilot.press("tab")
        for _ in range(40):
            if type(app.focused).__name__ != "Input":
                break
            await pilot.press("tab")
        assert type(app.focused).__name__ != "Input"
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        assert app.is_running
        await pilot.press("escape")  # no: the form and its input stay
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionFormScreen), what="form")
        assert app.screen.query_one("#field-name").value == "half-done"
        await pilot.press("escape")  # Back asks too
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionsScreen), what="home")


async def test_prefilled_field_is_not_selected_on_focus(tmp_path: Path) -> None:
    ws = encrypted_workspace(tmp_path / "ws")
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await pick_provider(pilot, "bynder")
        form = app.screen
        assert all(not w.select_on_focus for w in form.query("Input"))


async def test_palette_lists_only_what_a_connection_can_do(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12)
    manifest = sb.manifest()["providers"]
    ws = encrypted_workspace(tmp_path / "ws")
    for provider in ("bynder", "percolate", "canto"):
        ws.add_connection(provider, f"acme-{provider}",
                          {k: v for k, v in manifest[provider].items() if k != "eligible"})
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "acme-percolate")
        titles = {name: [t for _, t, _ in app._connection_commands(name)]
                  for name in ("acme-bynder", "acme-canto", "acme-percolate")}
    assert "Log in to Canto" in titles["acme-canto"]
    assert not any("Log in" in t for t in titles["acme-bynder"] + titles["acme-percolate"])
    assert any("events" in t for t in titles["acme-bynder"])
    assert not any("events" in t for t in titles["acme-percolate"] + titles["acme-canto"])
