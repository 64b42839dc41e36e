"""Add or edit a connection by following the provider's setup guide, step by step.

The steps, their fields and actions, labels, help texts and validation all come from the core's
setup flow (:mod:`damkit.setup_flow`), the same model the notebook and the command line render.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Collapsible,
    Footer,
    Header,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    Switch,
)
from textual.widgets.option_list import Option

from damkit.errors import DamkitError, SettingsError
from damkit.providers import all as all_providers
from damkit.providers import get as provider_spec
from damkit.settings import FieldSpec, clean_connection_name
from damkit.setup_flow import ACTION_LABELS, connection_state, setup_flow

from .common import damkit_app, deliver

#: What each guide action is, on this screen.
ACTION_HELP = {
    "save": "ctrl+s (the Save button below)",
    "auth": "the login opens right after the first save",
    "check": "runs right after saving (c on the connection)",
    "sync": "s on the connection",
    "events-request": "v on the connection",
}


def sandbox_values(sandbox: Any, provider: str) -> dict[str, Any]:
    """The values a running sandbox expects for ``provider``'s fields (empty without one)."""
    if sandbox is None:
        return {}
    fields = sandbox.manifest().get("providers", {}).get(provider) or {}
    return {k: v for k, v in fields.items() if k != "eligible" and v not in (None, "")}


class ProviderPickScreen(Screen[None]):
    """Step 0: pick the DAM."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="pick.back")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Add a connection: which DAM?", classes="title")
        yield OptionList(*[Option(spec.title, id=spec.name) for spec in all_providers()],
                         id="providers")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        provider = str(event.option.id)
        self.app.switch_screen(ConnectionFormScreen(provider))


class ConnectionFormScreen(Screen[None]):
    """The guide's steps with their fields; validation as you type; Save."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="form.back"),
        Binding("ctrl+s", "save", "Save", id="form.save"),
        Binding("f2", "pick_tag", "Pick from the DAM", id="form.pick-tag"),
        Binding("ctrl+f", "sandbox_values", "Sandbox values", id="form.sandbox-values"),
        # q must never lose a form (focus on a switch or a button would hand it to the app)
        Binding("q", "quit_form", "Quit", show=False, id="form.quit"),
    ]

    def __init__(self, provider: str, existing: str | None = None) -> None:
        super().__init__()
        self.provider = provider
        self.existing = existing
        self.flow = setup_flow(provider)
        self.model = self.flow.spec.settings_model()
        self.specs = {s.name: s for s in self.flow.fields}
        self.current: dict[str, Any] = {}
        self.secret_set: set[str] = set()
        self.tag_field = self.model.tag_field
        self.noun = self.flow.spec.tag_noun
        self._clean: dict[str, Any] | None = None  # the values as loaded (unsaved input differs)
        self.rehearsal: dict[str, Any] = {}  # the sandbox's values for this DAM (tui --sandbox)

    # --- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        title = provider_spec(self.provider).title
        self.rehearsal = sandbox_values(damkit_app(self).sandbox, self.provider)
        yield Header()
        heading = f"Edit {self.existing}" if self.existing else f"Add a {title} connection"
        yield Static(heading, classes="title")
        with VerticalScroll(id="form"):
            if self.rehearsal:
                yield Static("Rehearsing on the sandbox: [b]ctrl+f[/] fills in its values "
                             "(each field also shows the one it expects).", classes="sandbox-note")
            with Vertical(classes="field"):
                yield Label("Connection name", classes="label")
                yield Input(value=self.existing or "", id="field-name",
                            placeholder=f"e.g. acme-{self.provider}", disabled=bool(self.existing),
                            select_on_focus=False)
                yield Static("A short unique name: lower-case letters, digits, - or _.",
                             classes="help")
                yield Static("", id="error-name", classes="error", markup=False)
            for step in self.flow.steps:
                with Vertical(classes="step", id=f"step-{step.number}"):
                    yield Static(f"{step.number}. {escape(step.title)}", classes="step-title")
                    yield Static(f"[i]{escape(step.where)}[/]\n{escape(step.what)}",
                                 classes="step-text")
                    for warning in step.warnings:
                        yield Static(f"⚠ {escape(warning)}", classes="warning")
                    for spec in step.fields:
                        yield from self._field(spec)
                    if step.action:
                        yield Static(f"→ [b]{escape(ACTION_LABELS.get(step.action, step.action))}"
                                     f"[/]: {escape(ACTION_HELP.get(step.action, ''))}",
                                     classes="step-action")
            if self.flow.advanced:
                with Collapsible(title="Advanced", collapsed=True):
                    for spec in self.flow.advanced:
                        yield from self._field(spec)
            yield Static("", id="form-error", classes="error", markup=False)
            yield Button("Save (ctrl+s)", id="save", variant="primary")
        yield Footer()

    def _field(self, spec: FieldSpec) -> ComposeResult:
        with Vertical(classes="field"):
            required = " *" if spec.required else ""
            yield Label(f"{spec.label}{required}", classes="label")
            if spec.kind == "bool":
                yield Switch(value=bool(spec.default), id=f"field-{spec.name}")
            elif spec.kind == "choice" and spec.choices:
                yield Select([(c, c) for c in spec.choices], value=spec.default or spec.choices[0],
                             allow_blank=False, id=f"field-{spec.name}")
            else:
                placeholder = spec.placeholder or ""
                if spec.secret and self.existing:
                    placeholder = "unchanged (type to replace)"
                value = "" if spec.secret or spec.default is None else str(spec.default)
                if spec.advanced and not spec.secret and spec.name in self.rehearsal:
                    value = str(self.rehearsal[spec.name])  # the sandbox's own address
                yield Input(
                    value=value,
                    password=spec.secret,
                    placeholder=placeholder,
                    id=f"field-{spec.name}",
                    select_on_focus=False,  # tabbing in must not make the next key wipe it
                )
            if spec.name == self.tag_field:
                yield Button(f"Pick the {self.noun} from the DAM (F2)", id="pick-tag",
                             classes="pick")
            yield Static(spec.help, classes="help", markup=False)
            if spec.name in self.rehearsal and not spec.secret:
                yield Static(f"sandbox: {self.rehearsal[spec.name]}", classes="help sandbox-value",
                             markup=False)
            yield Static("", id=f"error-{spec.name}", classes="error", markup=False)

    def on_mount(self) -> None:
        if self.existing:
            self.load_existing()
        else:
            self._clean = self.values()
            self.query_one("#field-name", Input).focus()

    @work(thread=True)
    def load_existing(self) -> None:
        if self.existing is None:
            return
        doc = damkit_app(self).workspace.connection(self.existing)
        deliver(self, self._fill, doc)

    def _fill(self, doc: dict[str, Any]) -> None:
        for name, value in doc.get("settings", {}).items():
            if name not in self.specs or value is None:
                continue
            widget = self.query_one(f"#field-{name}")
            if isinstance(widget, Switch):
                widget.value = bool(value)
            elif isinstance(widget, Select):
                widget.value = value
            elif isinstance(widget, Input):
                widget.value = str(value)
        self.secret_set = set(doc.get("secrets", {}))
        self._clean = self.values()
        first = next((w for w in self.query(Input) if not w.disabled), None)
        if first is not None:
            first.focus()

    # --- validation as you type -------------------------------------------------------------------

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        field = (event.input.id or "").removeprefix("field-")
        if field == "name":
            message = ""
            if event.value:
                try:
                    clean_connection_name(event.value)
                except SettingsError as exc:
                    message = exc.message
            self._error("name", message)
            return
        if field not in self.specs or (self.specs[field].secret and not event.value):
            self._error(field, "")
            return
        problem = self.model.check_field(field, event.value) if event.value else None
        self._error(field, problem or "")

    def _error(self, field: str, message: str) -> None:
        error = self.query_one(f"#error-{field}", Static)
        error.update(message)
        if message:  # keep the message in view while typing (it sits below the field)
            error.scroll_visible(animate=False)

    # --- unsaved input: Back and q ask before losing it ---------------------------------------

    def dirty(self) -> bool:
        """The form holds input that is not saved."""
        name = self.query_one("#field-name", Input).value
        return (self._clean is not None and self.values() != self._clean) or (
            not self.existing and bool(name))

    def _confirm_leave(self, question: str, then: Any) -> None:
        if not self.dirty():
            then()
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                then()

        from .common import ConfirmScreen

        self.app.push_screen(ConfirmScreen(question), done)

    def action_back(self) -> None:
        self._confirm_leave("Leave this form? Its unsaved input is lost.", self.app.pop_screen)

    async def action_quit_form(self) -> None:
        self._confirm_leave("Quit damkit? This form's unsaved input is lost.", self.app.exit)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sandbox_values":
            return bool(self.rehearsal)
        return True

    def action_sandbox_values(self) -> None:
        """Fill every field the sandbox has a value for (its throwaway keys included)."""
        for name, value in self.rehearsal.items():
            if name not in self.specs:
                continue
            widget = self.query_one(f"#field-{name}")
            if isinstance(widget, Switch):
                widget.value = bool(value)
            elif isinstance(widget, Select):
                widget.value = value
            elif isinstance(widget, Input):
                widget.value = str(value)
        self.notify("Filled in with the sandbox's values.", title="Sandbox")

    # --- the tag picker -------------------------------------------------------------------------

    @on(Button.Pressed, "#pick-tag")
    def _pick_pressed(self) -> None:
        self.action_pick_tag()

    def action_pick_tag(self) -> None:
        """The DAM's tags with counts (near spellings of what is typed first); the pick fills
        the field. An unsaved form is read as a draft: nothing is saved."""
        from .tags import TagPickerScreen

        field = self.query_one(f"#field-{self.tag_field}", Input)
        name = self.existing or self.query_one("#field-name", Input).value
        draft = None if self.existing and self.values() == self._clean else (
            self.provider, self.values())

        def picked(tag: str | None) -> None:
            if tag is not None:
                field.value = tag
                field.focus()

        self.app.push_screen(TagPickerScreen(name, noun=self.noun, near=field.value or None,
                                             draft=draft), picked)

    # --- save -------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in self.specs.items():
            widget = self.query_one(f"#field-{name}")
            if isinstance(widget, (Switch, Select)):
                values[name] = widget.value
            elif isinstance(widget, Input):
                if spec.secret and not widget.value:
                    continue  # unchanged (edit) or not given (optional alternative auth)
                if not widget.value and not spec.required:
                    continue
                values[name] = widget.value
        return values

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        name = self.existing or self.query_one("#field-name", Input).value
        self.save(name, self.values())

    @work(thread=True, exclusive=True, group="save")
    def save(self, name: str, values: dict[str, Any]) -> None:
        ws = damkit_app(self).workspace
        try:
            if self.existing:
                ws.edit_connection(name, values)
            else:
                ws.add_connection(self.provider, name, values)
            next_action = self.flow.next_action(connection_state(ws, name))
        except DamkitError as exc:
            deliver(self, self._save_failed, exc)
            return
        deliver(self, self._saved, name, next_action)

    def _save_failed(self, exc: DamkitError) -> None:
        field = getattr(exc, "field", None)
        text = exc.message + (f"\n{exc.hint}" if exc.hint else "")
        self.query_one("#form-error", Static).update(text)
        if field and field in self.specs:
            self._error(field, exc.message)
            self.query_one(f"#field-{field}").focus()
        elif field == "name":
            self._error("name", exc.message)
            self.query_one("#field-name").focus()
        self.notify(exc.message, severity="error", title="Not saved")

    def _saved(self, name: str, next_action: str | None) -> None:
        for widget in self.query(Input):
            if widget.password:
                widget.value = ""  # a saved secret is never shown again
        self.notify(f"Saved {name}. Next: Test Connection.", title="Saved")
        self._clean = self.values()
        self.app.pop_screen()
        damkit_app(self).follow(name)  # actions on the list now act on this connection
        if next_action == "auth":  # the core's flow: a login before the test
            from .login import LoginScreen

            self.app.push_screen(LoginScreen(name, then_check=True))
        else:
            from .check import CheckScreen

            self.app.push_screen(CheckScreen(name))
