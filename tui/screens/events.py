"""Change notifications and backlink (providers whose capabilities declare them, e.g. Bynder):
the Event consumer URL and the request text for the account manager (copyable), and the backlink
switch with the permissions it needs and whether the last check found them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static, Switch

from damkit.errors import DamkitError

from .common import copy_honestly, damkit_app, deliver, show_plain

if TYPE_CHECKING:
    from damkit.providers import ProviderSpec


def permission_lines(found: dict[str, bool | None] | None, backlink: bool,
                     permissions: tuple[str, ...]) -> list[str]:
    """One line per permission the backlink needs, marked from the last check's results."""
    lines = []
    for perm in permissions:
        state = (found or {}).get(perm, "unknown")
        if state is True:
            mark = "[green]✓ found[/]"
        elif state is False:
            mark = "[red]✗ missing[/]"
        elif state is None:
            mark = "[yellow]? not verified[/]"
        else:
            mark = ("[dim]? press c to Test Connection[/]" if backlink
                    else "[dim]- checked once the backlink is on[/]")
        lines.append(f"  {escape(perm)}: {mark}")
    return lines


class EventsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="events.back"),
        Binding("ctrl+y", "copy_url", "Copy URL", id="events.copy_url"),
        Binding("ctrl+r", "copy_request", "Copy request", id="events.copy_request"),
        Binding("f3", "plain", "Show plain", id="events.plain"),
        Binding("c", "check", "Test Connection", id="events.check"),
        Binding("ctrl+s", "save_config", "Save workspace settings", id="events.save-config"),
    ]

    #: the workspace settings this screen edits (``damkit config``), in this order
    CONFIG_FIELDS = ("public_url", "library_url_template", "sns_topics")

    def __init__(self, name: str) -> None:
        super().__init__()
        self.connection = name
        self.url = ""
        self.request = ""
        self.backlink: bool | None = None
        self.spec: ProviderSpec | None = None
        self._loaded: dict[str, str] | None = None  # the workspace settings as shown

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Events and backlink: {self.connection}", classes="title", id="title")
        with VerticalScroll(id="events"):
            yield Static("[b]Event consumer URL[/] (generated, never typed) [dim]ctrl+y copies[/]")
            yield Static("", id="url", classes="url")
            yield Static("", id="notes", classes="help")
            with Horizontal(classes="switch-row"):
                yield Switch(id="backlink")
                yield Label("Enable backlink (library URL written into a metaproperty)")
            yield Static("", id="permissions")
            yield Static("[b]Request for your Bynder account manager[/] [dim]ctrl+r copies[/]")
            yield Static("", id="request", classes="request", markup=False)
            yield Static("[b]Workspace settings[/] (every connection of this workspace; "
                         "ctrl+s saves)", classes="step-title")
            from damkit.workspace import WorkspaceConfig

            for name in self.CONFIG_FIELDS:
                info = WorkspaceConfig.model_fields[name]
                yield Label(info.title or name, classes="label")
                yield Input(id=f"config-{name}", select_on_focus=False,
                            placeholder="comma-separated" if name == "sns_topics" else "")
                yield Static(info.description or "", classes="help", markup=False)
            yield Static("", id="config-error", classes="error", markup=False)
            yield Button("Save workspace settings (ctrl+s)", id="save-config")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#backlink", Switch).focus()
        self.load()

    def on_screen_resume(self) -> None:
        if self.backlink is not None:
            self.load()  # back from Test Connection: show what it found

    @work(thread=True, exclusive=True, group="events")
    def load(self) -> None:
        ws = damkit_app(self).workspace
        doc = ws.connection(self.connection)
        self.spec = ws.spec(self.connection)
        info: dict[str, Any] = {"url": None, "notes": []}
        try:
            from damkit.events import event_url_info, request_text
        except ImportError:  # the events package is optional in a trimmed install
            request = "The request text is not available in this damkit version."
        else:
            info = event_url_info(ws, self.connection)
            try:
                request = request_text(ws, self.connection)
            except DamkitError as exc:
                request = exc.message + (f"\n→ {exc.hint}" if exc.hint else "")
        deliver(self, self._show, doc, info, request)
        deliver(self, self._show_config, ws.config().model_dump())

    def _show_config(self, config: dict[str, Any]) -> None:
        for name in self.CONFIG_FIELDS:
            value = config.get(name)
            text = ", ".join(value) if isinstance(value, list) else (value or "")
            self.query_one(f"#config-{name}", Input).value = str(text)
        self._loaded = self._config_texts()

    def _config_texts(self) -> dict[str, str]:
        return {n: self.query_one(f"#config-{n}", Input).value for n in self.CONFIG_FIELDS}

    def dirty(self) -> bool:
        """The workspace settings hold input that is not saved (q then asks before quitting)."""
        return self._loaded is not None and self._config_texts() != self._loaded

    @on(Button.Pressed, "#save-config")
    def _save_config_pressed(self) -> None:
        self.action_save_config()

    def action_save_config(self) -> None:
        values: dict[str, Any] = {}
        for name in self.CONFIG_FIELDS:
            text = self.query_one(f"#config-{name}", Input).value.strip()
            values[name] = ([t for t in (p.strip() for p in text.split(",")) if t]
                            if name == "sns_topics" else (text or None))
        self.save_config(values)

    @work(thread=True, exclusive=True, group="config")
    def save_config(self, values: dict[str, Any]) -> None:
        try:
            config = damkit_app(self).workspace.set_config(**values)
        except DamkitError as exc:
            deliver(self, self._config_failed, exc)
            return
        deliver(self, self._config_saved, config.model_dump())

    def _config_failed(self, exc: DamkitError) -> None:
        error = self.query_one("#config-error", Static)
        error.update(exc.message + (f"\n→ {exc.hint}" if exc.hint else ""))
        error.scroll_visible(animate=False)
        self.notify(exc.message, severity="error", title="Not saved")

    def _config_saved(self, config: dict[str, Any]) -> None:
        self.query_one("#config-error", Static).update("")
        self._show_config(config)
        self.notify("Workspace settings saved.", title="Saved")
        self.load()  # the Event consumer URL and the request follow the public URL

    def _show(self, doc: dict[str, Any], info: dict[str, Any], request: str) -> None:
        self.url = info.get("url") or ""
        self.request = request if request.startswith("Subject:") else ""
        self.query_one("#url", Static).update(
            escape(self.url) if self.url else
            "[yellow]Set the workspace's public URL first: "
            "damkit config set public_url https://your-host[/]")
        self.query_one("#notes", Static).update(
            Text("\n".join(f"• {n}" for n in info.get("notes", []))))
        self.query_one("#request", Static).update(request)
        spec = self.spec
        if spec is not None:
            self.query_one("#title", Static).update(f"{escape(spec.title)}: {escape(self.connection)}")
        self.backlink = bool(doc["settings"].get("backlink"))
        self.query_one("#backlink", Switch).value = self.backlink
        found = (doc.get("last_check") or {}).get("permissions")
        self.query_one("#permissions", Static).update(
            "The backlink needs these permissions for the keys' portal user:\n"
            + "\n".join(permission_lines(found, self.backlink,
                                         spec.capabilities.backlink_permissions if spec else ()))
            + "\n[yellow]Tag files only after enabling the backlink.[/]")

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if self.backlink is None or event.value == self.backlink:
            return  # the value loaded from the settings, not a change
        self.backlink = event.value
        self.save_backlink(event.value)

    @work(thread=True, exclusive=True, group="backlink")
    def save_backlink(self, value: bool) -> None:
        try:
            damkit_app(self).workspace.edit_connection(self.connection, {"backlink": value})
        except DamkitError as exc:
            deliver(self, self.notify, exc.message, severity="error")
            return
        deliver(self, self.notify, f"Backlink {'on' if value else 'off'}; "
                                  "press c to Test Connection and check its permissions.")

    def action_check(self) -> None:
        from .check import CheckScreen

        self.app.push_screen(CheckScreen(self.connection))

    def action_copy_url(self) -> None:
        if self.url:
            copy_honestly(self, self.url, "The Event consumer URL was")
        else:
            self.notify("No URL yet: set the workspace's public URL.", severity="warning")

    def action_plain(self) -> None:
        """The URL and the request whole, on the terminal itself, to select and copy."""
        text = "\n\n".join(t for t in (self.url, self.request) if t)
        if text:
            show_plain(self, text, "The Event consumer URL and the request text")

    def action_copy_request(self) -> None:
        if self.request:
            copy_honestly(self, self.request, "The request text was")
        else:
            self.notify("No request yet: it needs an https public URL.", severity="warning")
