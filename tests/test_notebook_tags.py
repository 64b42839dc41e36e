"""The notebook form's tag discovery and better spelling, and the passphrase box, driven as a
user would (set values, click, await the task) against the sandbox over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import damkit.notebook as dn
from damkit.demo import demo_workspace
from damkit.sandbox import Sandbox
from damkit.workspace import Workspace, open_workspace

from notebook_support import ASSETS, widget_states

PASSPHRASE = "nb-unlock-passphrase-4410"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(assets=ASSETS) as sandbox:
        yield sandbox


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with demo_workspace(tmp_path / "ws") as workspace:
        yield workspace


def values(sb: Sandbox, provider: str) -> dict[str, Any]:
    return {k: v for k, v in sb.manifest()["providers"][provider].items() if k != "eligible"}


async def test_pick_the_tag_from_the_dam_fills_the_field(sb: Sandbox, ws: Workspace) -> None:
    form = dn.ConnectionForm(ws, provider="bynder")  # not saved: read as a draft
    form.name.value = "nb-bynder"
    for name, value in {**values(sb, "bynder"), "tag": "gelato"}.items():
        if name in form.inputs:
            form.inputs[name].value = value
    form.tag_button.click()
    found = await form.task
    assert found and found[0].tag.strip().casefold() == "gelato"  # near what is typed, first
    labels = [label for label, _ in form.tag_picker.options]
    assert any(label.startswith("'Gelato': ") for label in labels)
    assert ws.connections() == []  # nothing saved by looking
    form.tag_picker.value = "Gelato"
    assert form.inputs["tag"].value == "Gelato"


async def test_better_spelling_button_changes_the_setting(sb: Sandbox, ws: Workspace) -> None:
    ws.add_connection("percolate", "nb-perc", {**values(sb, "percolate"), "tag": "gelato"})
    form = dn.ConnectionForm(ws, connection="nb-perc")
    form.test_button.click()
    report = await form.task
    assert report is not None and report.better_spelling is not None
    assert form.better_button.layout.display is None  # shown
    assert "Gelato" in form.better_button.description
    html_report = form.report_panel.value
    assert "damkit connections edit nb-perc" in html_report
    assert html_report.index("Change the setting") < html_report.index("retag")
    form.better_button.click()
    again = await form.task
    assert again is not None and again.ok and again.better_spelling is None
    assert ws.connection("nb-perc")["settings"]["tag"] == "Gelato"
    assert form.better_button.layout.display == "none"


def test_passphrase_box_unlocks_an_encrypted_store(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    env = {"DAMKIT_SECRET_STORE": "encrypted", "DAMKIT_SECRETS_PASSPHRASE": PASSPHRASE}
    with open_workspace(home, env=env) as setup:
        setup.add_connection("percolate", "real", {"scope_id": "license:1", "client_id": "c",
                                                   "client_secret": "s3cret-value", "tag": "T"})
    monkeypatch.delenv("DAMKIT_SECRETS_PASSPHRASE", raising=False)
    monkeypatch.setenv("DAMKIT_SECRET_STORE", "encrypted")
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    ws = dn.real_workspace(home)
    assert len(shown) == 1 and isinstance(shown[0], dn.PassphraseBox)
    box = shown[0]
    assert not box.unlock()  # nothing typed: told, nothing changes
    box.box.value = PASSPHRASE
    assert box.unlock()
    assert box.box.value == ""  # never left in a widget synced to the browser
    assert PASSPHRASE not in json.dumps(widget_states(box.widget), default=str)
    assert ws.secrets.get("real", "client_secret") == "s3cret-value"
    import os

    assert "DAMKIT_SECRETS_PASSPHRASE" not in os.environ  # only this workspace knows it


def test_no_box_when_the_passphrase_is_set(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAMKIT_SECRET_STORE", "encrypted")
    monkeypatch.setenv("DAMKIT_SECRETS_PASSPHRASE", PASSPHRASE)
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    dn.real_workspace(tmp_path / "home")
    assert shown == []


async def test_check_without_login_points_at_the_login_button(sb: Sandbox, ws: Workspace) -> None:
    ws.add_connection("canto", "nb-canto", values(sb, "canto"))  # saved, never logged in
    form = dn.ConnectionForm(ws, connection="nb-canto")
    form.test_button.click()
    report = await form.task
    assert report is not None and not report.ok
    assert "click “Log in to Canto” in the form above" in form.report_panel.value
    assert "damkit auth" not in form.report_panel.value
