"""The connection form: the core's setup flow as widgets, Save, the browser login, Test
Connection and its report."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..errors import DamkitError, SettingsError
from ..providers import CheckReport, settings_model
from ..providers import all as all_providers
from ..providers import get as provider_spec
from ..redact import register_secret
from ..settings import MASK, FieldSpec, clean_connection_name
from ..setup_flow import (
    ACTION_LABELS,
    GuideStep,
    better_spelling_lines,
    connection_state,
    setup_flow,
    step_hint,
)
from .common import MARKS, error_html, esc, start_task

if TYPE_CHECKING:

    from ..workspace import Workspace



def check_report_html(report: CheckReport) -> str:
    """The check report as HTML: verdict, eligible count, steps (status, time, detail, hint),
    near misses and warnings."""
    if report.ok:
        verdict = (f'<b style="color:#1a7f37">✓ Connection OK</b>: <b>{report.eligible}</b> '
                   f"file(s) eligible (tag <code>{esc(report.tag)}</code>)")
    else:
        failure = report.first_failure
        why = f": {esc(failure.name)}" if failure else ""
        eligible = ("" if report.eligible is None else
                    f" — {report.eligible} file(s) carry the tag <code>{esc(report.tag)}</code>")
        verdict = f'<b style="color:#cf222e">✗ Connection failed</b>{why}{eligible}'
    rows = []
    for step in report.steps:
        mark, color = MARKS.get(step.status, ("?", "#000"))
        rows.append(
            f'<tr><td style="text-align:left">{esc(step.name)}</td>'
            f'<td style="color:{color};text-align:left">{mark} {esc(step.status)}</td>'
            f'<td style="text-align:right">{step.seconds:.2f} s</td>'
            f'<td style="text-align:left">{esc(step.detail)}</td></tr>')
        title = provider_spec(report.provider).title
        actions = {"auth": f"click “Log in to {title}” in the form above"}
        hint = step_hint(step, report.provider, actions) if step.status != "ok" else None
        if hint:
            rows.append(f'<tr><td></td><td colspan="3" style="text-align:left;color:#0969da">'
                        f"→ {esc(hint)}</td></tr>")
    table = ('<table><thead><tr><th style="text-align:left">step</th><th style="text-align:left">'
             'status</th><th>time</th><th style="text-align:left">detail</th></tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>")
    extra = []
    better = better_spelling_lines(report)
    if better:  # the setting first, retagging second (the button below the form applies it)
        items = "".join(f"<li>{esc(line.strip())}</li>" for line in better[1:])
        extra.append(f'<div style="color:#9a6700"><b>{esc(better[0])}</b><ul>{items}</ul></div>')
    if report.near_misses:
        items = "".join(f"<li>{m.count} file(s) carry <code>{esc(repr(m.spelling))}</code>, "
                        f"not <code>{esc(repr(report.tag))}</code></li>"
                        for m in report.near_misses)
        extra.append(f"<div><b>Near misses</b> (other case or stray spaces: not synced)"
                     f"<ul>{items}</ul></div>")
    if report.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in report.warnings)
        extra.append(f'<div style="color:#9a6700"><b>Warnings</b><ul>{items}</ul></div>')
    took = f' <span style="color:#6e7781">({report.seconds:.2f} s)</span>'
    first = extra.pop(0) if better else ""
    return (f'<div class="damkit-check"><div>{verdict}{took}</div>{first}{table}'
            f'{"".join(extra)}</div>')


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


def step_html(step: GuideStep) -> str:
    warn = "".join(f'<div style="color:#9a6700">⚠ {esc(w)}</div>' for w in step.warnings)
    action = ""
    if step.action:
        label = ACTION_LABELS.get(step.action, step.action)
        action = (f'<div style="color:#0969da">→ <b>{esc(label)}</b>: '
                  f"{esc(ACTION_HELP.get(step.action, ''))}</div>")
    return (f"<div><b>{step.number}. {esc(step.title)}</b><br>"
            f'<span style="color:#6e7781"><i>{esc(step.where)}</i></span><br>{esc(step.what)}'
            f"{warn}{action}</div>")


# --- the connection form ------------------------------------------------------------------------


class SecretInput(W.Password):  # type: ignore[misc]  # ipywidgets is untyped
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
        self.login_library = W.Text(value="Main Library", description="Part selected",
                                    style={"description_width": "initial"})
        self.login_complete = W.Button(description="Complete login")
        self.login_status = W.HTML()
        #: the DAM's tags with their counts, to pick the spelling (filled by ``pick_tags``)
        self.tag_picker = W.Dropdown(options=[], description="In the DAM",
                                     layout=W.Layout(width="60%", display="none"))
        self.tag_button = W.Button(description="Pick from the DAM", icon="tags")
        self.tag_status = W.HTML()
        #: shown when the check finds a spelling carrying more files than the one set
        self.better_button = W.Button(description="", button_style="warning",
                                      layout=W.Layout(display="none"))
        self.widget = W.VBox([
            W.HTML("<h3>DAM connection</h3>"), self.provider,
            W.VBox([self.name, self.name_error]), self.guide,
            W.HBox([self.save_button, self.test_button]), self.message, self.better_button,
            self.report_panel])
        self.tag_button.on_click(lambda _b: self._run(self.pick_tags()))
        self.tag_picker.observe(self._tag_picked, "value")
        self.better_button.on_click(lambda _b: self._run(self.use_better_spelling()))
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
            parts: list[W.Widget] = [W.HTML(step_html(step))]
            parts.extend(self._field(spec) for spec in step.fields)
            if step.action == "auth":
                self.login_button.description = f"Log in to {self.title}"
                parts.append(W.VBox([self.login_button, self.login_link, self.login_paste,
                                     self.login_library, self.login_complete,
                                     self.login_status]))
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
        label = W.HTML(f"<b>{esc(spec.label)}</b>{star}")
        helptext = W.HTML(f'<span style="color:#6e7781">{esc(spec.help)}</span>')
        parts: list[W.Widget] = [label, widget]
        if spec.name == self.model.tag_field:
            parts += [W.HBox([self.tag_button, self.tag_picker]), self.tag_status]
        return W.VBox([*parts, helptext, self.errors[spec.name]])

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
            self.name_error.value = error_html(exc.message)

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
        self.errors[name].value = error_html(message or "")
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
            hint = f"<br>→ {esc(exc.hint)}" if exc.hint else ""
            self.message.value = f"{error_html('Not saved: ' + exc.message)}{hint}"
            if field == "name":
                self.name_error.value = error_html(exc.message)
            elif field in self.errors:
                self.errors[field].value = error_html(exc.message)
            return False
        self._clear_secrets()
        self.existing = name
        self.name.disabled = self.provider.disabled = True
        flow = setup_flow(self.provider.value)
        login_step = flow.step_of("auth")
        if flow.next_action(connection_state(self.ws, name)) == "auth" and login_step is not None:
            nxt = (f"Next: log in to {self.title} (step “{login_step.title}”), then Test "
                   "Connection.")
        else:
            nxt = "Next: Test Connection."
        self.message.value = (f'<span style="color:#1a7f37">✓ Saved <b>{esc(name)}</b></span> '
                              f"(secrets in the {esc(self.ws.secrets.kind)} secret store). "
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
        self.task = start_task(coro)

    async def check(self) -> CheckReport | None:
        """Test Connection on the saved connection; renders the report panel and returns it."""
        if not self.existing:
            self.report_panel.value = error_html("Save the connection first.")
            return None
        self.test_button.disabled = True
        self.report_panel.value = "<i>Testing the connection…</i>"
        try:
            report = await self.ws.check(self.existing)
        except DamkitError as exc:
            hint = f"<br>→ {esc(exc.hint)}" if exc.hint else ""
            self.report_panel.value = f"{error_html('Cannot check: ' + exc.message)}{hint}"
            return None
        finally:
            self.test_button.disabled = False
        self.report = report
        self.report_panel.value = check_report_html(report)
        fix = report.better_spelling
        self.better_button.description = (f"Use {fix.value!r} (the spelling on "
                                          "the files)" if fix is not None else "")
        self.better_button.layout.display = None if fix is not None else "none"
        return report

    async def use_better_spelling(self) -> CheckReport | None:
        """The check's first fix: set the tag field to the spelling the files carry, save,
        and test again."""
        fix = self.report.better_spelling if self.report is not None else None
        if fix is None or fix.field is None or fix.value is None or not self.existing:
            return None
        self.inputs[fix.field].value = fix.value
        if not self.save():
            return None
        return await self.check()

    # --- tag discovery ----------------------------------------------------------------------------

    async def pick_tags(self) -> list[Any]:
        """The DAM's tags with their file counts in ``tag_picker`` (near spellings of what is
        typed first); picking one fills the tag field. An unsaved form is read as a draft."""
        field = self.model.tag_field
        typed = str(self.inputs[field].value or "") or None
        name = self.existing or self.name.value
        draft = None if self.existing else (self.provider.value, self.values())
        self.tag_status.value = "<i>Reading the DAM's tags…</i>"
        try:
            found = await self.ws.tags(name, near=typed, limit=200, draft=draft)
        except DamkitError as exc:
            hint = f"<br>→ {esc(exc.hint)}" if exc.hint else ""
            self.tag_status.value = f"{error_html('Cannot list them: ' + exc.message)}{hint}"
            return []
        self.tag_picker.unobserve(self._tag_picked, "value")
        self.tag_picker.options = [(f"{t.tag!r}: {t.count} files", t.tag) for t in found]
        self.tag_picker.value = None
        self.tag_picker.observe(self._tag_picked, "value")
        self.tag_picker.layout.display = None
        noun = provider_spec(self.provider.value).tag_noun
        self.tag_status.value = (f"{len(found)} {noun}(s) in use; pick one to fill the field"
                                 if found else f"no {noun} is in use in the DAM")
        return list(found)

    def _tag_picked(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.inputs[self.model.tag_field].value = change["new"]

    # --- browser login ----------------------------------------------------------------------------

    def start_login(self) -> str | None:
        """Show the DAM's login address to open; the answer is pasted into ``login_paste``."""
        if not self.existing:
            self.login_status.value = error_html("Save the connection first, then log in.")
            return None
        try:
            self._login = self.ws.login(self.existing)
            request = self._login.start()
        except DamkitError as exc:
            self.login_status.value = error_html(exc.message)
            return None
        self.login_url = str(request.authorize_url)
        url = html.escape(self.login_url, quote=True)
        self.login_link.value = (f'<a href="{url}" target="_blank" rel="noopener">Open '
                                 f"{esc(self.title)}'s login page</a>: sign in, select the "
                                 "part that holds the files (e.g. the Main Library) and click "
                                 "<b>Allow</b>. Then paste below the address the browser was "
                                 "sent to, say which part you selected, and click Complete "
                                 "login.")
        self.login_status.value = ""
        return self.login_url

    async def complete_login(self) -> bool:
        """Finish the browser login from the pasted address; the pasted code is cleared."""
        login, pasted = self._login, self.login_paste.value
        self.login_paste.value = ""
        if login is None:
            self.login_status.value = error_html(f"Click “Log in to {self.title}” first.")
            return False
        try:
            await login.complete(pasted)
        except DamkitError as exc:
            hint = f"<br>→ {esc(exc.hint)}" if exc.hint else ""
            self.login_status.value = f"{error_html('Login failed: ' + exc.message)}{hint}"
            return False
        await login.aclose()
        if self.existing:
            self.ws.record_login(self.existing, library=self.login_library.value)
        self._login = self.login_url = None
        self.login_link.value = ""
        part = f" ({esc(self.login_library.value)})" if self.login_library.value.strip() else ""
        done = f"✓ Logged in to {esc(self.title)}{part}."
        self.login_status.value = (f'<span style="color:#1a7f37">{done}</span> '
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

