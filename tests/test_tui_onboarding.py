"""The TUI, driven by keyboard alone at 80x24 against the sandbox: a whole onboarding per provider
(add, follow the guide, fill, save, Test Connection, sync, see the files in the library), the
Canto login by the paste way, a failing check with its near-miss hint, and the secret never on
screen after saving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from damkit.sandbox.canto import consent
from damkit_tui.app import DamkitApp
from damkit_tui.screens.check import CheckScreen
from damkit_tui.screens.connections import ConnectionsScreen
from damkit_tui.screens.edit import ConnectionFormScreen
from damkit_tui.screens.library import AssetDetails, LibraryScreen
from damkit_tui.screens.login import LoginScreen
from damkit_tui.screens.sync import SyncScreen

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

pytestmark = pytest.mark.timeout(60)

SIZE = (80, 24)
PROVIDER_ROW = {"bynder": 0, "canto": 1, "percolate": 2}  # order of the pick list


def secret_values(fields: dict[str, Any], model_fields: list[str]) -> list[str]:
    return [str(fields[f]) for f in model_fields if fields.get(f)]


async def pick_provider(pilot: Any, provider: str) -> None:
    await pilot.press("a")
    await pilot.pause()
    await pilot.press(*["down"] * PROVIDER_ROW[provider], "enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConnectionFormScreen),
                   what="the form")


async def fill(pilot: Any, values: dict[str, str]) -> None:
    """Tab to each field, clear it and paste the value (keys only)."""
    for field, value in values.items():
        await focus_id(pilot, f"field-{field}")
        await pilot.press("ctrl+a", "ctrl+k")
        await paste(pilot, value)


async def open_advanced(pilot: Any) -> None:
    for _ in range(60):
        if type(pilot.app.focused).__name__ == "CollapsibleTitle":
            await pilot.press("enter")
            return
        await pilot.press("tab")
    raise AssertionError("no Advanced section")


def assert_not_shown(app: DamkitApp, secrets: list[str]) -> None:
    text = screen_text(app)
    svg = app.export_screenshot()
    for secret in secrets:
        assert secret not in text, "a secret is on screen"
        assert secret not in svg, "a secret is in the screenshot"


async def sync_and_browse(pilot: Any, app: DamkitApp, name: str, eligible: int) -> None:
    """From a passing check: s syncs, l opens the library, Enter shows an asset's details."""
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen), what="sync screen")
    screen = app.screen
    await wait_for(pilot, lambda: screen.report is not None, what="the sync to finish")
    assert screen.report.status == "ok", screen.report
    assert screen.report.downloaded == eligible
    await wait_text(pilot, f"{eligible} downloaded")
    on_disk = [p for p in (app.workspace.library_dir / name).rglob("*") if p.is_file()]
    assert len(on_disk) == eligible
    await pilot.press("l")
    await wait_for(pilot, lambda: isinstance(app.screen, LibraryScreen), what="library")
    await wait_text(pilot, f"{eligible} asset(s)")
    table_text = screen_text(app)
    assert table_text.count(name) >= min(eligible, 5)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, AssetDetails), what="details")
    details = screen_text(app)
    assert "provider_id" in details and "synced" in details
    await pilot.press("escape")
    await pilot.press("escape")  # library -> sync
    await pilot.press("escape")  # sync -> connections
    await wait_for(pilot, lambda: isinstance(app.screen, ConnectionsScreen), what="home")
    await wait_text(pilot, f"ok {eligible}")  # last sync column


async def test_percolate_onboarding(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12)
    fields = sb.manifest()["providers"]["percolate"]
    ws = encrypted_workspace(tmp_path / "ws")
    app = make_app(ws, sync_rate=200)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "No connection yet")
        await pick_provider(pilot, "percolate")
        await type_text(pilot, "acme-perc")
        # the guide reads as steps with actions, not as boxes to tick
        assert "1. Add the DAM provider" in screen_text(app)
        actions = [str(w.render()) for w in app.screen.query(".step-action")]
        assert any("Save" in a and "ctrl+s" in a for a in actions), actions
        assert any("Test Connection" in a for a in actions), actions
        assert not app.screen.query("Checkbox")
        await fill(pilot, {k: fields[k] for k in ("scope_id", "client_id", "client_secret",
                                                  "tag")})
        assert app.screen.query_one("#field-client_secret").password  # masked while typed
        assert_not_shown(app, [fields["client_secret"]])
        await open_advanced(pilot)
        await fill(pilot, {"api_url": fields["api_url"]})
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen), what="check screen")
        await wait_text(pilot, "Connection OK")
        assert f"{fields['eligible']} file(s) eligible" in screen_text(app)
        assert "'gelato'" in screen_text(app)  # the near miss, spelt exactly
        assert_not_shown(app, [fields["client_secret"]])
        await sync_and_browse(pilot, app, "acme-perc", fields["eligible"])
        # edit: the saved secret is never shown again
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionFormScreen), what="edit")
        await wait_for(pilot, lambda: app.screen.query_one("#field-tag").value == "Gelato",
                       what="settings loaded")
        assert app.screen.query_one("#field-client_secret").value == ""
        assert "unchanged" in app.screen.query_one("#field-client_secret").placeholder
        assert_not_shown(app, [fields["client_secret"]])
        await pilot.press("escape")
    assert ws.secrets.get("acme-perc", "client_secret") == fields["client_secret"]


async def test_bynder_onboarding_and_events(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12, providers=("bynder",))
    fields = sb.manifest()["providers"]["bynder"]
    secrets = secret_values(fields, ["consumer_key", "consumer_secret", "token_key",
                                     "token_secret"])
    ws = encrypted_workspace(tmp_path / "ws")
    ws.set_config(public_url="https://dam.example.com",
                  library_url_template="https://library.example.com/assets/{id}")
    app = make_app(ws, sync_rate=200)
    async with app.run_test(size=SIZE) as pilot:
        await pick_provider(pilot, "bynder")
        await type_text(pilot, "acme-bynder")
        await fill(pilot, {k: fields[k] for k in ("domain", "tag", "consumer_key",
                                                  "consumer_secret", "token_key",
                                                  "token_secret")})
        assert_not_shown(app, secrets)
        await focus_id(pilot, "save")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen), what="check screen")
        await wait_text(pilot, "Connection OK")
        assert_not_shown(app, secrets)
        await sync_and_browse(pilot, app, "acme-bynder", fields["eligible"])

        # Bynder: Event consumer URL, request text, backlink and its permissions
        await pilot.press("v")
        await wait_text(pilot, "https://dam.example.com/events/bynder/")
        screen = app.screen
        assert screen.request.startswith("Subject:")
        await pilot.press("ctrl+r")
        assert app.clipboard == screen.request
        await pilot.press("ctrl+y")
        assert app.clipboard.startswith("https://dam.example.com/events/bynder/")
        assert "press c to Test Connection" not in screen_text(app)  # backlink off
        assert app.focused.id == "backlink"
        await pilot.press("enter")  # the switch toggles
        await wait_for(pilot, lambda: ws.connection("acme-bynder")["settings"]["backlink"],
                       what="backlink saved")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen), what="check")
        await wait_text(pilot, "Permissions")
        await pilot.press("escape")
        await wait_text(pilot, "Metaproperty management: ✓ found")
        for perm in ("Permissions management", "Edit media", "Download original"):
            assert f"{perm}: ✓ found" in screen_text(app)
        assert_not_shown(app, secrets)


async def test_canto_onboarding_by_paste(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12, providers=("canto",))
    fields = sb.manifest()["providers"]["canto"]
    ws = encrypted_workspace(tmp_path / "ws")
    app = make_app(ws, sync_rate=200)
    async with app.run_test(size=SIZE) as pilot:
        await pick_provider(pilot, "canto")
        await type_text(pilot, "acme-canto")
        await fill(pilot, {k: fields[k] for k in ("domain", "app_id", "app_secret", "keyword")})
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), what="login")
        screen = app.screen
        await wait_for(pilot, lambda: screen.url, what="the authorize URL")
        await wait_text(pilot, "/oauth/")
        await pilot.press("ctrl+y")  # copy the URL, as the user would to another machine
        assert app.clipboard == screen.url
        redirect = consent(app.clipboard)  # the user clicks Allow in a browser elsewhere
        assert app.focused.id == "pasted"
        await paste(pilot, "not a redirect")
        await pilot.press("enter")
        await wait_text(pilot, "code")  # refused, with what to paste instead
        assert isinstance(app.screen, LoginScreen)
        await paste(pilot, redirect)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen), what="check")
        await wait_text(pilot, "Connection OK")
        assert_not_shown(app, [fields["app_secret"]])
        await sync_and_browse(pilot, app, "acme-canto", fields["eligible"])
    assert ws.secrets.get("acme-canto", "access_token")


async def test_check_failure_shows_near_miss_then_fix(fresh_sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=12, providers=("percolate",))
    fields = dict(sb.manifest()["providers"]["percolate"])
    eligible = fields.pop("eligible")
    ws = encrypted_workspace(tmp_path / "ws")
    ws.add_connection("percolate", "acme", {**fields, "tag": "GELATO"})
    app = make_app(ws, sync_rate=200)
    async with app.run_test(size=SIZE) as pilot:
        await wait_text(pilot, "acme")
        await pilot.press("c")
        await wait_text(pilot, "Connection failed")
        text = screen_text(app)
        assert "'Gelato'" in text and "→" in text  # the near miss, exactly, and a hint
        await pilot.press("e")  # straight to the settings
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionFormScreen), what="edit")
        await wait_for(pilot, lambda: app.screen.query_one("#field-tag").value == "GELATO",
                       what="loaded")
        await focus_id(pilot, "field-tag")
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, "Gelato")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen), what="check")
        await wait_text(pilot, "Connection OK")
        assert f"{eligible} file(s) eligible" in screen_text(app)
        await pilot.press("escape")
        await wait_text(pilot, f"{eligible}")
    assert ws.connection("acme")["last_check"]["ok"] is True


async def test_validation_as_you_type_and_refused_save(tmp_path: Path) -> None:
    ws = encrypted_workspace(tmp_path / "ws")
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await pick_provider(pilot, "bynder")
        await type_text(pilot, "Acme!")
        await wait_text(pilot, "is not a slug")
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace")
        await type_text(pilot, "acme")
        await wait_for(pilot, lambda: "is not a slug" not in screen_text(app), what="cleared")
        await focus_id(pilot, "field-domain")
        await type_text(pilot, "not a domain")
        error = app.screen.query_one("#error-domain").render()
        assert str(error).strip(), "the core's rule reports the bad domain as it is typed"
        await pilot.press("ctrl+s")  # required keys missing: refused, nothing saved
        await wait_for(pilot, lambda: str(app.screen.query_one("#form-error").render()).strip(),
                       what="the save error")
        assert isinstance(app.screen, ConnectionFormScreen)
        await pilot.press("escape")  # unsaved input: Back asks before losing it
        await wait_text(pilot, "unsaved input is lost")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionsScreen), what="back")
    assert ws.connections() == []
