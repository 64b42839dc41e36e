"""The provider seam is real: Toydam, a fourth DAM living only in ``tests/toy_provider/``, is
registered at run time and then appears in the command line, the console and the notebook form,
passes Test Connection and syncs through the real engine over real HTTP against its emulator,
which the sandbox serves because the spec names it. Nothing outside its folder mentions it."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from toy_provider import SPEC
from toy_provider.emulator import KEY
from typer.testing import CliRunner

from damkit.cli import app as cli_app
from damkit.providers import find, register, unregister
from damkit.sandbox import Sandbox


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DAMKIT_SECRET_STORE", "encrypted")
    monkeypatch.setenv("DAMKIT_SECRETS_PASSPHRASE", "toy-test-passphrase")
    register(SPEC)
    try:
        yield
    finally:
        unregister(SPEC.name)


@pytest.fixture
def toy_sandbox(toy: None, fresh_sandbox: Any) -> Sandbox:
    sb: Sandbox = fresh_sandbox(providers=("toy",), assets=60, rate_limit=None)
    return sb


def cli(home: Path, *args: str, stdin: str = "") -> Any:
    """The command line in this process (the registration is in this process too)."""
    return CliRunner().invoke(cli_app, ["--home", str(home), *args], input=stdin)


def test_the_registry_knows_it_only_while_registered() -> None:
    assert find("toy") is None
    register(SPEC)
    try:
        spec = find("toy")
        assert spec is SPEC
        connector = spec.connector_class()
        # the connector's rate comes from the spec's capabilities, declared once
        assert (connector.title, connector.default_rate) == ("Toydam", 50.0)
        with pytest.raises(Exception, match="already registered"):
            register(type(SPEC)(name="toy", title="Another"))
    finally:
        unregister("toy")
    assert find("toy") is None


def test_command_line_check_and_sync_over_http(toy_sandbox: Sandbox, tmp_path: Path) -> None:
    home = tmp_path / "home"
    m = toy_sandbox.manifest()["providers"]["toy"]
    assert m["eligible"] > 0

    listed = json.loads(cli(home, "providers", "list", "--json").stdout)
    assert "toy" in [p["name"] for p in listed]
    guide = cli(home, "providers", "show", "toy")
    assert guide.exit_code == 0 and "1. Create an API key" in guide.stdout
    assert "→ action: Test Connection" in guide.stdout

    added = cli(home, "connections", "add", "toy", "acme", "--set", f"url={m['url']}",
                "--set", f"Term for Import={m['term']}", "--secret", "api_key",
                stdin=m["api_key"] + "\n")
    assert added.exit_code == 0, added.output
    checked = cli(home, "check", "acme", "--json")
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["ok"] is True and report["eligible"] == m["eligible"]

    synced = cli(home, "sync", "acme", "--json")
    assert synced.exit_code == 0, synced.output
    run = json.loads(synced.stdout)
    assert run["downloaded"] == m["eligible"] and run["failed"] == 0
    emulator = toy_sandbox.state.emulators["toy"]
    files = sorted(p for p in (home / "DAM Import" / "acme").rglob("*") if p.is_file())
    assert len(files) == m["eligible"]
    expected = {hashlib.sha256(emulator.catalog.content(a)).hexdigest()
                for a in emulator.catalog.tagged(m["term"])}
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in files} == expected
    for out in (added.output, checked.output, synced.output):
        assert KEY not in out

    again = json.loads(cli(home, "sync", "acme", "--json").stdout)
    assert again["downloaded"] == 0  # idempotent: nothing changed upstream


def test_a_wrong_key_fails_the_check_with_its_hint(toy_sandbox: Sandbox, tmp_path: Path) -> None:
    home = tmp_path / "home"
    m = toy_sandbox.manifest()["providers"]["toy"]
    cli(home, "connections", "add", "toy", "bad", "--set", f"url={m['url']}",
        "--set", f"term={m['term']}", "--secret", "api_key", stdin="not-the-key\n")
    checked = cli(home, "check", "bad")
    assert checked.exit_code == 1
    assert "refused the API key" in checked.stdout and "Create an API key" in checked.stdout


async def test_console_lists_it_and_renders_its_guide(toy: None, tmp_path: Path) -> None:
    from textual.widgets import OptionList

    from damkit_tui.screens.edit import ConnectionFormScreen, ProviderPickScreen

    from tui_support import encrypted_workspace, make_app, wait_for

    ws = encrypted_workspace(tmp_path / "ws")
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ProviderPickScreen), what="picker")
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids[-1] == "toy" and {"bynder", "canto", "percolate"} <= set(ids)
        await pilot.press(*["down"] * ids.index("toy"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectionFormScreen), what="form")
        assert app.screen.query_one("#field-api_key").password
        titles = [str(w.render()) for w in app.screen.query(".step-title")]
        assert titles[:2] == ["1. Create an API key", "2. Address and term"]
    ws.close()


async def test_notebook_form_offers_it(toy: None, tmp_path: Path) -> None:
    from test_notebook_widgets import shown

    from damkit.notebook import connection_form
    from damkit.workspace import open_workspace

    ws = open_workspace(tmp_path / "ws")
    form = connection_form(ws)
    assert ("Toydam", "toy") in list(form.provider.options)
    form.provider.value = "toy"
    text = shown(form.widget)
    assert "1. Create an API key" in text and "Term for Import" in text
    assert set(form.inputs) == {"url", "api_key", "term"}
    ws.close()


def test_nothing_outside_its_folder_names_it() -> None:
    """The seam needs no edit elsewhere: no file of damkit, the console or the docs' code names
    the toy provider's modules."""
    root = Path(__file__).resolve().parents[1]
    found = subprocess.run(["grep", "-rlE", "toy_provider|ToyProvider|ToyEmulator", "damkit", "tui"],
                           cwd=root, capture_output=True, text=True)
    assert found.stdout == ""
