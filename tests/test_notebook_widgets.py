"""The notebook widgets driven as a user would, without a browser: set values, click buttons,
await the tasks the buttons started (on this test's running loop, as on a kernel's)."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as W
import pytest

import damkit.notebook as dn
from damkit.demo import demo_workspace
from damkit.providers import settings_model, setup_steps
from damkit.sandbox import Sandbox
from damkit.sandbox.canto import consent
from damkit.workspace import Workspace

from notebook_support import ASSETS, RATE, leaks, manifest_secrets, widget_states


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(assets=ASSETS) as sandbox:
        yield sandbox


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with demo_workspace(tmp_path / "ws") as workspace:
        yield workspace


def fill(form: dn.ConnectionForm, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if name in form.inputs:
            form.inputs[name].value = value


def manifest_values(sb: Sandbox, provider: str) -> dict[str, Any]:
    return {k: v for k, v in sb.manifest()["providers"][provider].items() if k != "eligible"}


def no_leak(form_or_panel: Any, secrets: dict[str, str]) -> None:
    state = json.dumps(widget_states(form_or_panel.widget), default=str)
    assert leaks(state, secrets) == []
    assert leaks(repr(form_or_panel), secrets) == []
    bundle = json.dumps(form_or_panel._repr_mimebundle_(), default=str)
    assert leaks(bundle, secrets) == []


# --- the form: layout and validation -----------------------------------------------------------


def test_form_renders_the_guide_and_every_field(ws: Workspace) -> None:
    form = dn.ConnectionForm(ws, provider="bynder")
    text = shown(form.widget)
    for step in setup_steps("bynder"):
        assert step.title in text and step.where in text and step.what in text
        for warning in step.warnings:
            assert warning in text
    model = settings_model("bynder")
    assert set(form.inputs) == {s.name for s in model.fields()}
    for spec in model.fields():
        widget = form.inputs[spec.name]
        if spec.secret:
            assert isinstance(widget, dn.SecretInput) and isinstance(widget, W.Password)
        elif spec.kind == "bool":
            assert isinstance(widget, W.Checkbox)
        elif spec.kind == "choice":
            assert isinstance(widget, W.Dropdown) and tuple(widget.options) == spec.choices
        else:
            assert type(widget) is W.Text
        assert spec.label in text and spec.help in text
    accordions = [c for c in form.guide.children if isinstance(c, W.Accordion)]
    assert len(accordions) == 1 and accordions[0].get_title(0) == "Advanced"
    advanced = shown(accordions[0])
    # Bynder's ways in (permanent token, OAuth 2, the four OAuth 1 keys) are all up front, in the
    # guide's credentials step; the fold keeps what a first setup never needs
    assert "Import archived media" in advanced
    assert "Permanent token" not in advanced and "Consumer key" not in advanced

    form.provider.value = "canto"  # the form follows the dropdown
    assert set(form.inputs) == {s.name for s in settings_model("canto").fields()}
    assert "Authenticate Canto" in shown(form.widget)
    assert form.login_button in _all_widgets(form.widget)


def shown(root: W.Widget) -> str:
    """What the browser gets, HTML entities decoded (to search for plain text)."""
    return html.unescape("\n".join(str(v) for state in widget_states(root)
                                   for v in state.values() if isinstance(v, str)))


def _all_widgets(root: W.Widget) -> list[W.Widget]:
    out, todo = [], [root]
    while todo:
        w = todo.pop()
        out.append(w)
        todo.extend(getattr(w, "children", ()))
    return out


def test_validation_as_you_type_uses_the_core(ws: Workspace) -> None:
    form = dn.ConnectionForm(ws, provider="bynder")
    model = settings_model("bynder")
    form.inputs["domain"].value = "http://acme.bynder.com"
    message = model.check_field("domain", "http://acme.bynder.com")
    assert message and "plain http is refused" in message
    assert "plain http is refused" in form.errors["domain"].value
    form.inputs["domain"].value = "acme.bynder.com"
    assert form.errors["domain"].value == ""
    form.inputs["tag"].value = " Gelato"
    assert "starts or ends with a space" in form.errors["tag"].value
    form.inputs["tag"].value = "Gelato"
    assert form.errors["tag"].value == ""
    form.inputs["consumer_key"].value = " pasted-with-space "
    assert "spaces" in form.errors["consumer_key"].value
    assert "pasted-with-space" not in form.errors["consumer_key"].value
    form.name.value = "Not A Slug"
    assert "slug" in form.name_error.value
    form.name.value = "acme-bynder"
    assert form.name_error.value == ""


# --- save and Test Connection ------------------------------------------------------------------


async def test_fill_save_and_check(ws: Workspace, sb: Sandbox) -> None:
    values = manifest_values(sb, "percolate")
    secrets = manifest_secrets(sb.manifest())
    form = dn.ConnectionForm(ws, provider="percolate")
    form.name.value = "nb-percolate"
    fill(form, values)
    assert leaks(repr(form), secrets) == []  # masked while typed, too
    assert form.public_values()["client_secret"] == "********"

    form.save_button.click()
    assert "Saved" in form.message.value, form.message.value
    doc = ws.connection("nb-percolate")
    assert doc["settings"]["tag"] == "Gelato" and "client_secret" in doc["secrets"]
    assert ws.secrets.get("nb-percolate", "client_secret") == values["client_secret"]
    assert form.inputs["client_secret"].value == ""  # emptied once saved
    assert form.name.disabled and form.provider.disabled
    no_leak(form, secrets)

    form.test_button.click()
    assert form.task is not None and not form.task.done()  # the click did not block
    report = await form.task
    assert report is not None and report.ok and report.eligible == values_eligible(sb)
    assert form.report is report
    panel = form.report_panel.value
    assert "Connection OK" in panel and f"<b>{report.eligible}</b>" in panel
    for step in report.steps:
        assert step.name in panel
    for miss in report.near_misses:
        assert f"{miss.count} file(s) carry" in panel
    assert report.near_misses  # the sandbox has some
    assert ws.connection("nb-percolate")["last_check"]["ok"] is True
    no_leak(form, secrets)


def values_eligible(sb: Sandbox, provider: str = "percolate") -> int:
    return int(sb.manifest()["providers"][provider]["eligible"])


def test_save_refused_names_the_field_and_keeps_the_input(ws: Workspace, sb: Sandbox) -> None:
    values = manifest_values(sb, "percolate")
    form = dn.ConnectionForm(ws, provider="percolate")
    form.name.value = "nb-percolate"
    fill(form, {**values, "scope_id": ""})
    form.save_button.click()
    assert "Not saved" in form.message.value
    core = settings_model("percolate").check_field("scope_id", "")
    assert core and html.escape(core) in form.errors["scope_id"].value  # the core's words
    assert ws.index.get_connection("nb-percolate") is None
    assert form.inputs["client_secret"].value == values["client_secret"]  # not lost on failure
    form.name.value = "Bad Name"
    fill(form, values)
    form.save_button.click()
    assert "slug" in form.name_error.value and ws.connections() == []


async def test_failed_check_shows_the_hint(ws: Workspace, sb: Sandbox) -> None:
    values = manifest_values(sb, "percolate")
    form = dn.ConnectionForm(ws, provider="percolate")
    form.name.value = "nb-percolate"
    fill(form, {**values, "client_secret": "0" * 40})
    form.save_button.click()
    form.test_button.click()
    report = await form.task
    assert report is not None and not report.ok
    failure = report.first_failure
    assert failure is not None and failure.hint
    panel = form.report_panel.value
    assert "Connection failed" in panel and "→" in panel and failure.name in panel
    assert "0" * 40 not in panel


async def test_check_before_save_asks_to_save(ws: Workspace) -> None:
    form = dn.ConnectionForm(ws, provider="percolate")
    form.test_button.click()
    assert await form.task is None
    assert "Save the connection first" in form.report_panel.value


def test_edit_keeps_saved_secrets_out_of_the_widgets(ws: Workspace, sb: Sandbox) -> None:
    values = manifest_values(sb, "percolate")
    ws.add_connection("percolate", "nb-percolate", values)
    form = dn.ConnectionForm(ws, connection="nb-percolate")
    assert form.provider.value == "percolate" and form.name.disabled
    assert form.inputs["scope_id"].value == values["scope_id"]
    assert form.inputs["client_secret"].value == ""
    assert "saved" in form.inputs["client_secret"].placeholder
    no_leak(form, manifest_secrets(sb.manifest()))
    form.inputs["tag"].value = "GELATO"
    form.save_button.click()
    assert "Saved" in form.message.value
    settings = ws.load_settings("nb-percolate")
    assert settings.import_tag == "GELATO"
    assert settings.secret_values()["client_secret"] == values["client_secret"]  # unchanged


async def test_canto_login_from_the_form(ws: Workspace, sb: Sandbox) -> None:
    values = manifest_values(sb, "canto")
    form = dn.ConnectionForm(ws, provider="canto")
    assert form.start_login() is None and "Save" in form.login_status.value
    form.name.value = "nb-canto"
    fill(form, values)
    form.save_button.click()
    assert "log in to Canto" in form.message.value
    form.login_button.click()
    assert "Open Canto" in form.login_link.value
    url = form.login_url
    assert url and json.dumps(url)[1:-1].replace("&", "&amp;")[:30] in form.login_link.value
    location = await asyncio.to_thread(consent, url)  # the sandbox plays the user's browser
    form.login_paste.value = location
    form.login_complete.click()
    assert await form.task is True
    assert "Logged in" in form.login_status.value
    assert form.login_paste.value == "" and form.login_link.value == ""
    form.test_button.click()
    report = await form.task
    assert report is not None and report.ok, report
    token = ws.secrets.get("nb-canto", "access_token")
    assert token and token not in json.dumps(widget_states(form.widget))


# --- the sync panel ---------------------------------------------------------------------------


async def _sandbox_ws(sb: Sandbox, tmp_path: Path) -> Workspace:
    return await dn.sandbox_workspace(sb, tmp_path)


async def test_sync_panel_runs_from_the_button(sb: Sandbox, tmp_path: Path) -> None:
    ws = await _sandbox_ws(sb, tmp_path)
    panel = dn.SyncPanel(ws, "sandbox-percolate", rate=RATE)
    assert panel.connection.options == tuple(c["name"] for c in ws.connections())
    panel.sync_button.click()
    task = panel.task
    assert task is not None and not task.done()
    assert panel.sync_button.disabled and not panel.cancel_button.disabled
    panel.sync_button.click()  # a second click while running starts nothing new
    assert panel.task is task
    report = await task
    eligible = values_eligible(sb)
    assert report is not None and report.status == "ok" and report.downloaded == eligible
    assert panel.events == {"planned": 1, "started": eligible, "file_done": eligible,
                            "finished": 1}
    assert panel.bar.max == eligible and panel.bar.value == eligible
    assert panel.bar.bar_style == "success" and panel.bar.description == f"{eligible}/{eligible}"
    assert f"<b>{eligible}</b> downloaded" in panel.counts.value
    assert "finished: <b>ok</b>" in panel.counts.value
    assert "ok" in panel.result.value
    assert not panel.sync_button.disabled and panel.cancel_button.disabled
    assert ws.library_stats("sandbox-percolate")["assets"] == eligible
    no_leak(panel, manifest_secrets(sb.manifest()))

    panel.dry_run.value = True  # nothing left to do: plan only
    again = await panel.run()
    assert again is not None and again.status == "dry_run" and again.plan.unchanged == eligible
    assert panel.bar.bar_style == "info" and panel.events.get("file_done") is None


async def test_sync_panel_cancel(fresh_sandbox: Any, tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=ASSETS, providers=("percolate",),
                       faults={"percolate": {"latency_ms": 150}})
    ws = await _sandbox_ws(sb, tmp_path)
    panel = dn.SyncPanel(ws, "sandbox-percolate", rate=RATE, concurrency=1)
    other = dn.SyncPanel(ws, "sandbox-percolate", rate=RATE)
    panel.sync_button.click()
    for _ in range(1000):  # cancel while the second file is in flight
        if panel.events.get("started", 0) >= 2:
            break
        await asyncio.sleep(0.01)
    assert panel.events.get("file_done") == 1, panel.events
    assert await other.run() is None  # one sync of a connection at a time: told, not queued
    assert "already running" in other.result.value and other.bar.bar_style == "danger"
    panel.cancel_button.click()
    report = await panel.task
    assert report is not None and report.status == "cancelled"
    assert 0 < report.downloaded < values_eligible(sb)
    assert panel.bar.bar_style == "warning" and "cancelled" in panel.counts.value
    assert ws.library_stats("sandbox-percolate")["assets"] == report.downloaded


async def test_sync_panel_reports_a_connection_that_cannot_sync(ws: Workspace,
                                                                sb: Sandbox) -> None:
    bad = "s" * 40
    ws.add_connection("percolate", "refused", {**manifest_values(sb, "percolate"),
                                               "client_secret": bad})
    panel = dn.SyncPanel(ws, rate=RATE)
    assert panel.connection.value == "refused"
    report = await panel.run()
    assert report is not None and report.status == "failed" and report.error
    assert panel.bar.bar_style == "danger" and "failed" in panel.result.value
    assert bad not in panel.result.value + panel.counts.value
    assert ws.library_stats()["assets"] == 0


def test_buttons_without_an_event_loop_run_to_the_end(tmp_path: Path, sb: Sandbox) -> None:
    """In a plain script (no running loop) a click runs its job before returning."""
    with demo_workspace(tmp_path / "ws") as ws:
        ws.add_connection("percolate", "p", manifest_values(sb, "percolate"))
        form = dn.ConnectionForm(ws, connection="p")
        form.test_button.click()
        assert form.task is None and form.report is not None and form.report.ok


def test_check_report_html_escapes_and_redacts() -> None:
    from damkit.providers.base import CheckReport, CheckStep

    report = CheckReport(provider="bynder", connection="x", tag="<b>Gelato</b>", steps=[
        CheckStep(name="Credentials", status="failed", detail="denied <script>",
                  hint="see step 'Bynder API keys', field Consumer key")])
    text = dn.check_report_html(report)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "Connection failed" in text and "→ see step" in text
    assert isinstance(dn.check_panel(report), W.HTML)
