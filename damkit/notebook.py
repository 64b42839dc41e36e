"""The notebook frontend: ipywidgets forms and panels, audit DataFrames and plots.

Everything here renders data the core computes; no rule lives here:

* :class:`ConnectionForm`: provider dropdown, the guide's steps (title, where, what, warnings),
  the settings fields with labels, help and as-you-type validation
  (:meth:`ConnectionSettings.check_field`), password inputs for secrets, Save, Test Connection
  (and Canto's login), and the check report as a readable panel.
* :class:`SyncPanel`: a sync from a button, with a progress bar and counts drawn from
  :class:`damkit.progress.ProgressEvent`, and Cancel.
* :func:`audit`: :mod:`damkit.audit` as a pandas DataFrame, :func:`breakdown`, and plots.

Widgets never block the kernel: their long jobs are tasks on the kernel's running event loop
(never ``asyncio.run`` inside Jupyter). Secrets: password inputs are emptied once saved, a saved
secret is never put back into a widget, and reprs mask them.

This is the only module of damkit that imports ipywidgets, pandas and matplotlib.
"""

from __future__ import annotations

import asyncio
import html
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import ipywidgets as W
import pandas as pd

from . import audit as core_audit
from .errors import DamkitError, SettingsError
from .progress import ProgressEvent
from .units import human_bytes
from .providers import all as all_providers
from .providers import get as provider_spec
from .providers import settings_model, setup_steps
from .providers.base import CheckReport
from .redact import redact, register_secret
from .settings import MASK, FieldSpec, clean_connection_name
from .setup_flow import ACTION_LABELS, GuideStep, setup_flow, step_hint

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .sandbox import Sandbox
    from .sync import SyncReport
    from .workspace import Workspace

T = TypeVar("T")

_TASKS: set[asyncio.Task[Any]] = set()  # strong references until done (the loop keeps weak ones)

MARKS = {"ok": ("✓", "#1a7f37"), "failed": ("✗", "#cf222e"), "warning": ("!", "#9a6700"),
         "skipped": ("–", "#6e7781")}
STATUS_COLORS = {"current": "#2da44e", "missing": "#bf8700", "failed": "#cf222e",
                 "stale": "#8250df", "gone": "#6e7781"}
RENDER_EVERY = 0.1  # seconds between progress redraws (each redraw is a message to the browser)


# --- running coroutines -------------------------------------------------------------------------


def spawn(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Start ``coro`` as a task on the running loop (in Jupyter: the kernel's) and return it.

    The kernel keeps serving cells and widget messages while the task runs.
    """
    task = asyncio.get_running_loop().create_task(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task


def _start(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T] | None:
    """A button's job: a task on the running loop; without one (a plain script), run it now."""
    try:
        return spawn(coro)
    except RuntimeError:
        asyncio.run(coro)  # no event loop in this thread: nothing to block but ourselves
        return None


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """The result of ``coro`` from blocking code, also inside Jupyter: there it runs on its own
    loop in a worker thread (the kernel's loop is busy running this cell, so it cannot)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="damkit-notebook", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


# --- small renderers ----------------------------------------------------------------------------


def _esc(text: Any) -> str:
    return html.escape(redact(str(text)))


def _error_html(message: str) -> str:
    return f'<span style="color:#cf222e">⚠ {_esc(message)}</span>' if message else ""




def check_report_html(report: CheckReport) -> str:
    """The check report as HTML: verdict, eligible count, steps (status, time, detail, hint),
    near misses and warnings."""
    if report.ok:
        verdict = (f'<b style="color:#1a7f37">✓ Connection OK</b>: <b>{report.eligible}</b> '
                   f"file(s) eligible (tag <code>{_esc(report.tag)}</code>)")
    else:
        failure = report.first_failure
        why = f": {_esc(failure.name)}" if failure else ""
        eligible = ("" if report.eligible is None else
                    f" — {report.eligible} file(s) carry the tag <code>{_esc(report.tag)}</code>")
        verdict = f'<b style="color:#cf222e">✗ Connection failed</b>{why}{eligible}'
    rows = []
    for step in report.steps:
        mark, color = MARKS.get(step.status, ("?", "#000"))
        rows.append(
            f'<tr><td style="text-align:left">{_esc(step.name)}</td>'
            f'<td style="color:{color};text-align:left">{mark} {_esc(step.status)}</td>'
            f'<td style="text-align:right">{step.seconds:.2f} s</td>'
            f'<td style="text-align:left">{_esc(step.detail)}</td></tr>')
        hint = step_hint(step, report.provider) if step.status != "ok" else None
        if hint:
            rows.append(f'<tr><td></td><td colspan="3" style="text-align:left;color:#0969da">'
                        f"→ {_esc(hint)}</td></tr>")
    table = ('<table><thead><tr><th style="text-align:left">step</th><th style="text-align:left">'
             'status</th><th>time</th><th style="text-align:left">detail</th></tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>")
    extra = []
    if report.near_misses:
        items = "".join(f"<li>{m.count} file(s) carry <code>{_esc(repr(m.spelling))}</code>, "
                        f"not <code>{_esc(repr(report.tag))}</code></li>"
                        for m in report.near_misses)
        extra.append(f"<div><b>Near misses</b> (other case or stray spaces: not synced)"
                     f"<ul>{items}</ul></div>")
    if report.warnings:
        items = "".join(f"<li>{_esc(w)}</li>" for w in report.warnings)
        extra.append(f'<div style="color:#9a6700"><b>Warnings</b><ul>{items}</ul></div>')
    took = f' <span style="color:#6e7781">({report.seconds:.2f} s)</span>'
    return (f'<div class="damkit-check"><div>{verdict}{took}</div>{table}{"".join(extra)}'
            "</div>")


def check_panel(report: CheckReport) -> W.HTML:
    """A widget showing a check report (:func:`check_report_html`)."""
    return W.HTML(check_report_html(report))


#: What each guide action is, in the notebook form.
ACTION_HELP = {
    "save": "click Save below",
    "auth": "after saving: Log in, below",
    "check": "after saving: Test Connection, below",
    "sync": "then sync: damkit.notebook.sync_panel(ws, NAME)",
    "events-request": "then: damkit.events.request_text(ws, NAME)",
}


def _step_html(step: GuideStep) -> str:
    warn = "".join(f'<div style="color:#9a6700">⚠ {_esc(w)}</div>' for w in step.warnings)
    action = ""
    if step.action:
        label = ACTION_LABELS.get(step.action, step.action)
        action = (f'<div style="color:#0969da">→ <b>{_esc(label)}</b>: '
                  f"{_esc(ACTION_HELP.get(step.action, ''))}</div>")
    return (f"<div><b>{step.number}. {_esc(step.title)}</b><br>"
            f'<span style="color:#6e7781"><i>{_esc(step.where)}</i></span><br>{_esc(step.what)}'
            f"{warn}{action}</div>")


# --- the connection form ------------------------------------------------------------------------


class SecretInput(W.Password):
    """A password input whose repr never shows what was typed."""

    def __repr__(self) -> str:
        return f"SecretInput(value={MASK if self.value else ''!r})"


class ConnectionForm:
    """Add or edit a connection, following the provider's setup guide; Save; Test Connection.

    >>> form = ConnectionForm(ws)                       # doctest: +SKIP
    >>> form                                            # doctest: +SKIP  (renders the form)

    Drive it from code as a user would: set ``form.inputs[field].value``, then
    ``form.save_button.click()`` and ``form.test_button.click()``; ``await form.task`` waits for
    the job a button started.
    """

    def __init__(self, ws: Workspace, *, provider: str | None = None,
                 connection: str | None = None) -> None:
        self.ws = ws
        self.existing: str | None = None
        self.report: CheckReport | None = None
        self.task: asyncio.Task[Any] | None = None
        self.inputs: dict[str, W.ValueWidget] = {}
        self.errors: dict[str, W.HTML] = {}
        self._login: Any = None  # a pending browser login (providers that declare one)
        self.login_url: str | None = None  # the address of the DAM's login page, once started
        doc = ws.connection(connection) if connection else None
        first = doc["provider"] if doc else (provider or all_providers()[0].name)
        self.provider = W.Dropdown(options=[(s.title, s.name) for s in all_providers()],
                                   value=first, description="DAM")
        self.name = W.Text(placeholder=f"e.g. acme-{first}", description="Connection name",
                           style={"description_width": "initial"})
        self.name_error = W.HTML()
        self.guide = W.VBox()
        self.save_button = W.Button(description="Save", button_style="primary", icon="save")
        self.test_button = W.Button(description="Test Connection", icon="plug")
        self.message = W.HTML()
        self.report_panel = W.HTML()
        self.login_button = W.Button(description=f"Log in to {provider_spec(first).title}",
                                     icon="sign-in")
        self.login_link = W.HTML()
        self.login_paste = W.Text(placeholder="paste the address the browser was sent to",
                                  layout=W.Layout(width="90%"))
        self.login_complete = W.Button(description="Complete login")
        self.login_status = W.HTML()
        self.widget = W.VBox([
            W.HTML("<h3>DAM connection</h3>"), self.provider,
            W.VBox([self.name, self.name_error]), self.guide,
            W.HBox([self.save_button, self.test_button]), self.message, self.report_panel])
        self.provider.observe(self._provider_changed, "value")
        self.name.observe(self._name_changed, "value")
        self.save_button.on_click(lambda _b: self.save())
        self.test_button.on_click(lambda _b: self._run(self.check()))
        self.login_button.on_click(lambda _b: self.start_login())
        self.login_complete.on_click(lambda _b: self._run(self.complete_login()))
        self._build()
        if doc is not None:
            self._fill(doc)

    # --- layout ---------------------------------------------------------------------------------

    @property
    def model(self) -> Any:
        return settings_model(self.provider.value)

    @property
    def title(self) -> str:
        return provider_spec(self.provider.value).title

    @property
    def specs(self) -> dict[str, FieldSpec]:
        return {s.name: s for s in self.model.fields()}

    def _build(self) -> None:
        """(Re)build the guide and fields for the selected provider."""
        flow = setup_flow(self.provider.value)
        self.inputs, self.errors = {}, {}
        blocks: list[W.Widget] = []
        for step in flow.steps:
            parts: list[W.Widget] = [W.HTML(_step_html(step))]
            parts.extend(self._field(spec) for spec in step.fields)
            if step.action == "auth":
                self.login_button.description = f"Log in to {self.title}"
                parts.append(W.VBox([self.login_button, self.login_link, self.login_paste,
                                     self.login_complete, self.login_status]))
            blocks.append(W.VBox(parts, layout=W.Layout(margin="0 0 8px 0")))
        rest = [self._field(s) for s in flow.advanced]
        if rest:
            fold = W.Accordion(children=[W.VBox(rest)])
            fold.set_title(0, "Advanced")
            fold.selected_index = None
            blocks.append(fold)
        self.guide.children = tuple(blocks)

    def _field(self, spec: FieldSpec) -> W.VBox:
        widget: W.ValueWidget
        if spec.kind == "bool":
            widget = W.Checkbox(value=bool(spec.default), indent=False)
        elif spec.kind == "choice" and spec.choices:
            widget = W.Dropdown(options=list(spec.choices), value=spec.default or spec.choices[0])
        elif spec.secret:
            widget = SecretInput(placeholder=spec.placeholder or "")
        else:
            widget = W.Text(value="" if spec.default is None else str(spec.default),
                            placeholder=spec.placeholder or "")
        if spec.kind != "bool":
            widget.layout = W.Layout(width="60%")
        self.inputs[spec.name] = widget
        self.errors[spec.name] = W.HTML()
        widget.observe(lambda change, name=spec.name: self.validate(name), "value")
        star = " *" if spec.required else ""
        label = W.HTML(f"<b>{_esc(spec.label)}</b>{star}")
        helptext = W.HTML(f'<span style="color:#6e7781">{_esc(spec.help)}</span>')
        return W.VBox([label, widget, helptext, self.errors[spec.name]])

    def _fill(self, doc: dict[str, Any]) -> None:
        """Show a saved connection: its plain settings; secrets stay in the store."""
        self.existing = doc["name"]
        self.name.value = doc["name"]
        self.name.disabled = self.provider.disabled = True
        for name, value in doc.get("settings", {}).items():
            widget = self.inputs.get(name)
            if widget is None or value is None or isinstance(widget, SecretInput):
                continue
            widget.value = bool(value) if isinstance(widget, W.Checkbox) else (
                value if isinstance(widget, W.Dropdown) else str(value))
        for name in doc.get("secrets", {}):
            if isinstance(self.inputs.get(name), SecretInput):
                self.inputs[name].placeholder = "saved (type to replace)"

    def _provider_changed(self, change: dict[str, Any]) -> None:
        self.name.placeholder = f"e.g. acme-{change['new']}"
        self.report_panel.value = self.message.value = ""
        self._build()

    # --- validation as you type -----------------------------------------------------------------

    def _name_changed(self, change: dict[str, Any]) -> None:
        if self.existing or not change["new"]:
            self.name_error.value = ""
            return
        try:
            clean_connection_name(change["new"])
            self.name_error.value = ""
        except SettingsError as exc:
            self.name_error.value = _error_html(exc.message)

    def validate(self, name: str) -> str | None:
        """Check one field with the core's rule; show and return the message (None: fine)."""
        spec = self.specs.get(name)
        widget = self.inputs.get(name)
        if spec is None or widget is None:
            return None
        value = widget.value
        message: str | None = None
        if not (isinstance(value, str) and value == ""):  # empty: told on save, not while typing
            message = self.model.check_field(name, value)
            if message and spec.secret and isinstance(value, str):
                message = message.replace(value, MASK)
        self.errors[name].value = _error_html(message or "")
        return message

    def values(self) -> dict[str, Any]:
        """What Save sends to the core. Contains secrets as typed: never display it."""
        out: dict[str, Any] = {}
        for name, spec in self.specs.items():
            widget = self.inputs[name]
            value = widget.value
            if isinstance(value, str) and value == "" and (spec.secret or not spec.required):
                continue  # secret unchanged (edit) / not given; optional field left empty
            out[name] = value
        return out

    def public_values(self) -> dict[str, Any]:
        """The form's values with secrets masked: safe to print."""
        specs = self.specs
        return {k: (MASK if specs[k].secret else v) for k, v in self.values().items()}

    # --- save -----------------------------------------------------------------------------------

    def save(self) -> bool:
        """Validate and save through the core; on success the secret inputs are emptied."""
        values = self.values()
        for name, value in values.items():
            if self.specs[name].secret:
                register_secret(str(value))
        name = self.existing or self.name.value
        try:
            if self.existing:
                self.ws.edit_connection(name, values)
            else:
                clean_connection_name(name)
                self.ws.add_connection(self.provider.value, name, values)
        except DamkitError as exc:
            field = getattr(exc, "field", None)
            hint = f"<br>→ {_esc(exc.hint)}" if exc.hint else ""
            self.message.value = f"{_error_html('Not saved: ' + exc.message)}{hint}"
            if field == "name":
                self.name_error.value = _error_html(exc.message)
            elif field in self.errors:
                self.errors[field].value = _error_html(exc.message)
            return False
        self._clear_secrets()
        first_save = self.existing is None
        self.existing = name
        self.name.disabled = self.provider.disabled = True
        login_step = next((s for s in setup_steps(self.provider.value) if s.action == "auth"), None)
        nxt = (f"Next: log in to {self.title} (step “{login_step.title}”), then Test Connection."
               if login_step is not None and first_save else "Next: Test Connection.")
        self.message.value = (f'<span style="color:#1a7f37">✓ Saved <b>{_esc(name)}</b></span> '
                              f"(secrets in the {_esc(self.ws.secrets.kind)} secret store). "
                              f"{nxt}")
        return True

    def _clear_secrets(self) -> None:
        """A saved secret never stays in (or comes back to) a widget synced to the browser."""
        for widget in self.inputs.values():
            if isinstance(widget, SecretInput):
                widget.value = ""
                widget.placeholder = "saved (type to replace)"

    # --- test connection ------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.task = _start(coro)

    async def check(self) -> CheckReport | None:
        """Test Connection on the saved connection; renders the report panel and returns it."""
        if not self.existing:
            self.report_panel.value = _error_html("Save the connection first.")
            return None
        self.test_button.disabled = True
        self.report_panel.value = "<i>Testing the connection…</i>"
        try:
            report = await self.ws.check(self.existing)
        except DamkitError as exc:
            hint = f"<br>→ {_esc(exc.hint)}" if exc.hint else ""
            self.report_panel.value = f"{_error_html('Cannot check: ' + exc.message)}{hint}"
            return None
        finally:
            self.test_button.disabled = False
        self.report = report
        self.report_panel.value = check_report_html(report)
        return report

    # --- browser login ----------------------------------------------------------------------------

    def start_login(self) -> str | None:
        """Show the DAM's login address to open; the answer is pasted into ``login_paste``."""
        if not self.existing:
            self.login_status.value = _error_html("Save the connection first, then log in.")
            return None
        try:
            self._login = self.ws.login(self.existing)
            request = self._login.start()
        except DamkitError as exc:
            self.login_status.value = _error_html(exc.message)
            return None
        self.login_url = str(request.authorize_url)
        url = html.escape(self.login_url, quote=True)
        self.login_link.value = (f'<a href="{url}" target="_blank" rel="noopener">Open '
                                 f"{_esc(self.title)}'s login page</a>: sign in, select the Main Library and click "
                                 "<b>Allow</b>. Then paste below the address the browser was "
                                 "sent to, and click Complete login.")
        self.login_status.value = ""
        return self.login_url

    async def complete_login(self) -> bool:
        """Finish the browser login from the pasted address; the pasted code is cleared."""
        login, pasted = self._login, self.login_paste.value
        self.login_paste.value = ""
        if login is None:
            self.login_status.value = _error_html(f"Click “Log in to {self.title}” first.")
            return False
        try:
            await login.complete(pasted)
        except DamkitError as exc:
            hint = f"<br>→ {_esc(exc.hint)}" if exc.hint else ""
            self.login_status.value = f"{_error_html('Login failed: ' + exc.message)}{hint}"
            return False
        await login.aclose()
        self._login = self.login_url = None
        self.login_link.value = ""
        self.login_status.value = (f'<span style="color:#1a7f37">✓ Logged in to {_esc(self.title)}.</span> '
                                   "Next: Test Connection.")
        return True

    # --- display --------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (f"ConnectionForm(provider={self.provider.value!r}, "
                f"connection={(self.existing or self.name.value)!r}, "
                f"values={self.public_values()!r})")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle


def connection_form(ws: Workspace, *, provider: str | None = None,
                    connection: str | None = None) -> ConnectionForm:
    """A :class:`ConnectionForm` (new connection, or ``connection`` to edit)."""
    return ConnectionForm(ws, provider=provider, connection=connection)


# --- the sync panel -----------------------------------------------------------------------------


class SyncPanel:
    """Run a sync from a button: progress bar, counts, Cancel, and the report when done.

    ``await panel.run()`` runs it from a cell (the panel draws as it goes); the Sync button starts
    the same as a task on the kernel's loop (``panel.task``).
    """

    def __init__(self, ws: Workspace, connection: str | None = None, *,
                 rate: float | None = None, concurrency: int | None = None) -> None:
        self.ws = ws
        self.rate = rate
        self.concurrency = concurrency
        names = [c["name"] for c in ws.connections()]
        self.connection = W.Dropdown(options=names, value=connection or (names[0] if names else None),
                                     description="Connection",
                                     style={"description_width": "initial"})
        self.dry_run = W.Checkbox(description="Dry run (plan only)", value=False, indent=False)
        self.prune = W.Checkbox(description="Prune files of gone assets", value=False,
                                indent=False)
        self.sync_button = W.Button(description="Sync", button_style="primary", icon="refresh")
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True)
        self.bar = W.IntProgress(value=0, min=0, max=1, description="0/0",
                                 layout=W.Layout(width="60%"))
        self.counts = W.HTML()
        self.result = W.HTML()
        self.widget = W.VBox([
            W.HTML("<h3>Sync</h3>"), self.connection, W.HBox([self.dry_run, self.prune]),
            W.HBox([self.sync_button, self.cancel_button]), self.bar, self.counts, self.result])
        self.sync_button.on_click(lambda _b: self.start())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.task: asyncio.Task[Any] | None = None
        self.report: SyncReport | None = None
        self.events: dict[str, int] = {}  # events seen per kind (this run)
        self.last: ProgressEvent | None = None
        self._cancel: asyncio.Event | None = None
        self._drawn = 0.0

    @property
    def running(self) -> bool:
        return self._cancel is not None

    def start(self) -> asyncio.Task[Any] | None:
        """Start a sync on the running loop (the Sync button); the panel shows it at once."""
        if self.running or not self.connection.value:
            return self.task
        self._begin()
        self.task = _start(self._sync())
        return self.task

    def cancel(self) -> None:
        """Stop starting files and cancel those in flight; finished files stay recorded."""
        if self._cancel is not None:
            self._cancel.set()
            self.counts.value += " — <i>cancelling…</i>"

    async def run(self) -> SyncReport | None:
        """Run the sync, drawing progress; returns the report (None when it could not start)."""
        if self.running or not self.connection.value:
            return None
        self._begin()
        return await self._sync()

    def _begin(self) -> None:
        self._cancel = asyncio.Event()
        self.events, self.last, self.report = {}, None, None
        self.sync_button.disabled = True
        self.cancel_button.disabled = False
        self.bar.value, self.bar.max, self.bar.bar_style = 0, 1, ""
        self.bar.description = "listing…"
        self.counts.value = self.result.value = ""

    async def _sync(self) -> SyncReport | None:
        from .sync import sync_connection

        try:
            self.report = await sync_connection(
                self.ws, self.connection.value, dry_run=self.dry_run.value,
                prune=self.prune.value, progress=self.on_event, cancel=self._cancel,
                concurrency=self.concurrency, rate=self.rate)
        except DamkitError as exc:
            hint = f"<br>→ {_esc(exc.hint)}" if exc.hint else ""
            self.result.value = f"{_error_html('Sync not started: ' + exc.message)}{hint}"
            self.bar.bar_style = "danger"
            self.bar.description = "not started"
            return None
        finally:
            self._cancel = None
            self.sync_button.disabled = False
            self.cancel_button.disabled = True
        self.result.value = sync_report_html(self.report)
        return self.report

    def on_event(self, event: ProgressEvent) -> None:
        """The progress sink: counts every event, redraws at most every RENDER_EVERY seconds."""
        self.events[event.kind] = self.events.get(event.kind, 0) + 1
        self.last = event
        now = time.monotonic()
        if event.kind in ("planned", "finished") or now - self._drawn >= RENDER_EVERY:
            self._drawn = now
            self.draw(event)

    def draw(self, event: ProgressEvent) -> None:
        total = event.total
        self.bar.max = max(total, 1)
        self.bar.value = min(event.done + event.failed, self.bar.max)
        self.bar.description = f"{event.done + event.failed}/{total}"
        plan = ", ".join(f"{k} {v}" for k, v in event.plan.items()) if event.plan else ""
        parts = [f"<b>{event.done}</b> downloaded", f"<b>{event.failed}</b> failed",
                 f"{event.remaining} to go", human_bytes(event.bytes)]
        line = " · ".join(parts)
        if plan:
            line = f"plan: {_esc(plan)}<br>{line}"
        if event.kind == "file_failed" and event.error:
            line += f'<br><span style="color:#cf222e">{_esc(event.asset)}: {_esc(event.error)}</span>'
        if event.kind == "finished":
            self.bar.bar_style = {"ok": "success", "dry_run": "info", "partial": "warning",
                                  "cancelled": "warning"}.get(event.status or "", "danger")
            if total == 0:
                self.bar.value = self.bar.max
            line += f"<br>finished: <b>{_esc(event.status)}</b>"
        self.counts.value = line

    def __repr__(self) -> str:
        return f"SyncPanel(connection={self.connection.value!r}, running={self.running})"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle


def sync_report_html(report: SyncReport) -> str:
    """A sync report as HTML: status, counts, and the first file errors."""
    color = {"ok": "#1a7f37", "dry_run": "#0969da", "partial": "#9a6700",
             "cancelled": "#9a6700"}.get(report.status, "#cf222e")
    plan = ", ".join(f"{k} {v}" for k, v in report.plan.model_dump().items())
    counts = ", ".join(f"{k} {v}" for k, v in report.counts().items() if v)
    head = (f'<b style="color:{color}">{_esc(report.status)}</b> in {report.seconds:.1f} s — '
            f"{_esc(counts or 'nothing to do')}; {human_bytes(report.bytes)}<br>"
            f'<span style="color:#6e7781">plan: {_esc(plan)}</span>')
    if report.error:
        head += f"<br>{_error_html(report.error)}"
    if report.errors:
        rows = "".join(f"<tr><td>{_esc(e.name)}</td><td>{_esc(e.error)}</td></tr>"
                       for e in report.errors[:10])
        more = f"<br>… and {len(report.errors) - 10} more" if len(report.errors) > 10 else ""
        head += f"<table><tr><th>file</th><th>error</th></tr>{rows}</table>{more}"
    return f"<div>{head}</div>"


def sync_panel(ws: Workspace, connection: str | None = None, *,
               rate: float | None = None) -> SyncPanel:
    """A :class:`SyncPanel` for ``connection`` (default: the first)."""
    return SyncPanel(ws, connection, rate=rate)


# --- the audit as DataFrames --------------------------------------------------------------------

AUDIT_COLUMNS = ["connection", "provider", "asset_id", "name", "type", "status", "detail",
                 "in_dam", "in_library", "file_present", "size", "dam_size", "library_size",
                 "dam_modified", "dam_version", "library_status", "library_path",
                 "last_synced", "gone_since", "error"]


def to_frame(report: core_audit.AuditReport) -> pd.DataFrame:
    """One row per asset; ``status`` is an ordered category. ``df.attrs`` holds ``live``,
    ``near_misses`` and ``connections`` (per connection: tag, eligible, library, error)."""
    records = [{**row.model_dump(), "size": row.size} for row in report.rows]
    df = pd.DataFrame.from_records(records, columns=AUDIT_COLUMNS)
    df["status"] = pd.Categorical(df["status"], categories=list(core_audit.STATUSES),
                                  ordered=True)
    for col in ("size", "dam_size", "library_size"):
        df[col] = df[col].astype("Int64")
    df.attrs["live"] = report.live
    df.attrs["near_misses"] = report.near_misses()
    df.attrs["connections"] = [c.model_dump(exclude={"rows"}, mode="json")
                               for c in report.connections]
    return df


async def audit_async(ws: Workspace, connection: str | None = None, *,
                      live: bool = True) -> pd.DataFrame:
    """:func:`audit` for ``await`` (in a cell, or from another task)."""
    return to_frame(await core_audit.audit(ws, connection, live=live))


def audit(ws: Workspace, connection: str | None = None, *, live: bool = True) -> pd.DataFrame:
    """The audit of one connection (or all) as a DataFrame: one row per asset, DAM side and
    library side. ``live=True`` lists the DAM through the provider (and its near misses);
    ``live=False`` reads the index only. See :mod:`damkit.audit` for the statuses."""
    return run_blocking(audit_async(ws, connection, live=live))


def breakdown(df: pd.DataFrame) -> pd.DataFrame:
    """Files (and bytes) per status, every status shown, then one line per near-miss spelling."""
    rows = []
    for status in core_audit.STATUSES:
        part = df[df["status"] == status]
        rows.append({"status": status, "meaning": core_audit.STATUS_LABELS[status],
                     "files": int(len(part)), "bytes": int(part["size"].fillna(0).sum())})
    for miss in df.attrs.get("near_misses", []):
        rows.append({"status": "near miss",
                     "meaning": f"{miss['connection']}: carry {miss['spelling']!r}, "
                                f"not {miss['tag']!r} (other case or stray spaces)",
                     "files": int(miss["count"]), "bytes": None})
    out = pd.DataFrame(rows, columns=["status", "meaning", "files", "bytes"])
    out["bytes"] = out["bytes"].astype("Int64")
    return out


def near_misses(df: pd.DataFrame) -> pd.DataFrame:
    """Near-miss tag spellings with their file counts (live audits only)."""
    return pd.DataFrame(df.attrs.get("near_misses", []),
                        columns=["connection", "tag", "spelling", "count"])


def connections_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per connection: tag, files eligible in the DAM, library records, statuses, listing error."""
    base = pd.DataFrame(df.attrs.get("connections", []),
                        columns=["connection", "provider", "tag", "eligible", "library", "error"])
    counts = (df.groupby("connection", observed=False)["status"].value_counts().unstack(
        fill_value=0) if len(df) else pd.DataFrame())
    if len(counts):
        counts = counts.reindex(columns=list(core_audit.STATUSES), fill_value=0)
        base = base.merge(counts, left_on="connection", right_index=True, how="left")
    return base.set_index("connection")


def runs(ws: Workspace, connection: str | None = None) -> pd.DataFrame:
    """Sync runs, oldest first, with their counts; ``started``/``finished`` as timestamps."""
    df = pd.DataFrame(core_audit.run_history(ws, connection))
    for col in ("started", "finished"):
        if col in df:
            df[col] = pd.to_datetime(df[col], utc=True, errors="coerce")
    return df


# --- plots --------------------------------------------------------------------------------------


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 3.5))[1]


def plot_status(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Assets per status, one stacked bar per connection."""
    ax = _axes(ax)
    table = pd.crosstab(df["connection"], df["status"]).reindex(
        columns=list(core_audit.STATUSES), fill_value=0) if len(df) else pd.DataFrame()
    if table.empty:
        ax.set_title("no assets")
        return ax
    table.plot.barh(stacked=True, ax=ax, color=[STATUS_COLORS[s] for s in table.columns])
    ax.set_xlabel("assets")
    ax.set_ylabel("")
    ax.set_title("Assets by status")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax


def plot_types(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Assets per file type, stacked by status."""
    ax = _axes(ax)
    if not len(df):
        ax.set_title("no assets")
        return ax
    table = pd.crosstab(df["type"].replace("", "(none)"), df["status"]).reindex(
        columns=list(core_audit.STATUSES), fill_value=0)
    table.plot.bar(stacked=True, ax=ax, color=[STATUS_COLORS[s] for s in table.columns],
                   legend=False)
    ax.set_xlabel("type")
    ax.set_ylabel("assets")
    ax.set_title("Assets by type")
    return ax


def plot_sizes(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """File sizes (kB, log scale), one histogram layer per status present."""
    import numpy as np

    ax = _axes(ax)
    sizes = df.dropna(subset=["size"])
    sizes = sizes[sizes["size"] > 0]
    if sizes.empty:
        ax.set_title("no sizes known")
        return ax
    kb = sizes["size"].astype(float) / 1000
    bins = np.logspace(np.log10(max(kb.min(), 0.1)), np.log10(kb.max() * 1.01), 20)
    layers = [(s, kb[sizes["status"] == s]) for s in core_audit.STATUSES]
    layers = [(s, v) for s, v in layers if len(v)]
    ax.hist([v for _, v in layers], bins=bins, stacked=True,
            color=[STATUS_COLORS[s] for s, _ in layers], label=[s for s, _ in layers])
    ax.set_xscale("log")
    ax.set_xlabel("size (kB)")
    ax.set_ylabel("assets")
    ax.set_title("File sizes")
    ax.legend(fontsize="small")
    return ax


def plot_runs(history: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Sync runs over time: files downloaded and failed per run (from :func:`runs`)."""
    ax = _axes(ax)
    if history.empty or "started" not in history:
        ax.set_title("no sync runs yet")
        return ax
    h = history.sort_values("started").reset_index(drop=True)
    labels = [f"{t:%m-%d %H:%M:%S}\n{c}" for t, c in zip(h["started"], h["connection"])]
    x = range(len(h))
    downloaded = h.get("downloaded", pd.Series([0] * len(h))).fillna(0)
    failed = h.get("failed", pd.Series([0] * len(h))).fillna(0)
    ax.bar(x, downloaded, color=STATUS_COLORS["current"], label="downloaded")
    ax.bar(x, failed, bottom=downloaded, color=STATUS_COLORS["failed"], label="failed")
    ax.set_xticks(list(x), labels, rotation=30, ha="right", fontsize="x-small")
    ax.set_ylabel("files")
    ax.set_title("Sync runs")
    ax.legend(fontsize="small")
    return ax


def plot_overview(df: pd.DataFrame, history: pd.DataFrame | None = None) -> Figure:
    """One figure: status per connection, types, sizes, and (given :func:`runs`) sync runs."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    plot_status(df, axes[0][0])
    plot_types(df, axes[0][1])
    plot_sizes(df, axes[1][0])
    plot_runs(history if history is not None else pd.DataFrame(), axes[1][1])
    fig.tight_layout()
    return fig


# --- sandbox glue -------------------------------------------------------------------------------


async def sandbox_workspace(sb: Sandbox, root: str | Path | None = None) -> Workspace:
    """A fresh workspace with one connection per sandbox provider (Canto logged in).

    Sandbox only: its throwaway keys are kept in the workspace's plaintext secret file.
    ``root`` defaults to a new temporary folder.
    """
    from .demo import add_sandbox_connections, demo_workspace, login_sandbox_connections

    base = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="damkit-notebook-"))
    ws = demo_workspace(base / "workspace")
    names = await asyncio.to_thread(add_sandbox_connections, ws, sb.manifest())
    await login_sandbox_connections(ws, names)
    return ws




async def sandbox_audit_demo(sb: Sandbox, ws: Workspace, provider: str | None = None, *,
                             rate: float = 100.0) -> dict[str, str]:
    """Sandbox only: sync every connection, then change a few files of ``provider`` upstream so
    that each audit status shows: one download refused (failed), one new version (stale), one
    untagged (gone), one newly tagged (missing). Returns ``{status: asset name}``.

    ``provider`` defaults to the last of the workspace's providers in name order."""
    import re

    from .sync import sync_connection

    provider = provider or sorted(c["provider"] for c in ws.connections())[-1]

    for name in [c["name"] for c in ws.connections()]:
        await sync_connection(ws, name, rate=rate)
    conn = next(c["name"] for c in ws.connections() if c["provider"] == provider)
    tag = str(ws.load_settings(conn, require_secrets=False).import_tag)
    broken = await asyncio.to_thread(sb.control, "POST", f"{provider}/assets",
                                     json={"name": "broken download.png", "tags": [tag]})
    await asyncio.to_thread(sb.set_faults, provider, fault_rate=1.0, fault_statuses=[400],
                            match=f"{re.escape(broken['key'])}/download")
    try:
        await sync_connection(ws, conn, rate=rate)
    finally:
        await asyncio.to_thread(sb.set_faults, provider)
    listed = await asyncio.to_thread(sb.control, "GET", f"{provider}/assets",
                                     params={"tag": tag, "state": "live", "limit": 3})
    stale, gone = listed["assets"][0], listed["assets"][1]
    await asyncio.to_thread(sb.control, "POST", f"{provider}/assets/{stale['key']}/modify",
                            json={"size": 4321})
    await asyncio.to_thread(sb.control, "POST", f"{provider}/assets/{gone['key']}/untag",
                            json={"tag": tag})
    new = await asyncio.to_thread(sb.control, "POST", f"{provider}/assets",
                                  json={"name": "new poster.png", "tags": [tag]})
    return {"failed": broken["name"], "stale": stale["name"], "gone": gone["name"],
            "missing": new["name"]}


__all__ = ["AUDIT_COLUMNS", "ConnectionForm", "SecretInput", "SyncPanel", "audit", "audit_async",
           "breakdown", "check_panel", "check_report_html", "connection_form",
           "connections_summary", "near_misses", "plot_overview", "plot_runs", "plot_sizes",
           "plot_status", "plot_types", "run_blocking", "runs", "sandbox_audit_demo",
           "sandbox_workspace", "spawn",
           "sync_panel", "sync_report_html"]
