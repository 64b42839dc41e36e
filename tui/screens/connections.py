"""Connections: every connection with provider, tag, last check, eligible count and last sync."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from damkit.providers import get as provider_spec
from damkit.providers import settings_model
from damkit.units import human_bytes

from .common import ConfirmScreen, damkit_app, deliver

if TYPE_CHECKING:
    from damkit.workspace import Workspace


def tag_of(doc: dict[str, Any]) -> str:
    """The connection's import tag/keyword, through the settings model's ``tag_field``."""
    try:
        field = settings_model(doc["provider"]).tag_field
    except Exception:  # noqa: BLE001 - an unknown provider still lists
        field = "tag"
    return str(doc.get("settings", {}).get(field, ""))


def check_cell(doc: dict[str, Any]) -> str:
    check = doc.get("last_check") or {}
    if not check:
        return "-"
    return "ok" if check.get("ok") else "failed"


def sync_cell(doc: dict[str, Any]) -> str:
    sync = doc.get("last_sync") or {}
    if not sync:
        return "-"
    size = human_bytes(sync.get("bytes"))
    return f"{sync.get('status', '?')} {sync.get('synced', 0)}" + (f" {size}" if size else "")


def login_line(ws: Workspace, doc: dict[str, Any]) -> str | None:
    """The browser-login state of a connection whose DAM has one, with the part of the DAM the
    user said they selected (None for the others). Reads the secret store: call off the UI."""
    from damkit.errors import DamkitError
    from damkit.setup_flow import connection_state

    spec = provider_spec(doc["provider"])
    if not spec.capabilities.browser_login:
        return None
    title = escape(spec.title)
    try:
        logged_in = connection_state(ws, doc["name"]).logged_in
    except DamkitError:
        logged_in = None
    if not logged_in:
        return f"Not logged in to {title}: press [b]o[/] to log in."
    note = ws.login_note(doc["name"]) or {}
    part = f" to {escape(str(note['library']))}" if note.get("library") else ""
    when = f" on {escape(str(note['at']))}" if note.get("at") else ""
    return f"Logged in{part} ({title}){when}."


class ConnectionsScreen(Screen[None]):
    """The home screen: the table of connections and the actions on the selected one."""

    BINDINGS = [
        Binding("a", "add", "Add", id="connections.add"),
        Binding("e", "edit", "Edit", id="connections.edit"),
        Binding("c", "check", "Test", id="connections.check"),
        Binding("s", "sync", "Sync", id="connections.sync"),
        Binding("l", "library", "Library", id="connections.library"),
        Binding("h", "history", "Sync history", show=False, id="connections.history"),
        Binding("o", "login", "Canto login", show=False, id="connections.login"),
        Binding("v", "events", "Bynder events", show=False, id="connections.events"),
        Binding("delete,x", "remove", "Remove", id="connections.remove"),
        Binding("r", "refresh", "Refresh", show=False, id="connections.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._wanted: str | None = None
        self._logins: dict[str, str | None] = {}  # read off the UI thread with the rows

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Connections", classes="title")
        yield DataTable(id="connections", cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail", classes="detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("name", "provider", "tag", "check", "eligible", "last sync")

    def on_screen_resume(self) -> None:
        self.action_refresh()

    @work(thread=True, exclusive=True, group="connections")
    def action_refresh(self) -> None:
        ws = damkit_app(self).workspace
        rows = ws.connections()
        self._logins = {doc["name"]: login_line(ws, doc) for doc in rows}
        deliver(self, self._fill, rows)

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one(DataTable)
        selected = self._wanted or self.selected_name()
        self._wanted = None
        table.clear()
        damkit_app(self).connection_names = [doc["name"] for doc in rows]  # for the command palette
        for doc in rows:
            eligible = (doc.get("last_check") or {}).get("eligible")
            table.add_row(doc["name"], doc["provider"], Text(repr(tag_of(doc))), check_cell(doc),
                          "-" if eligible is None else str(eligible), sync_cell(doc),
                          key=doc["name"])
        names = [d["name"] for d in rows]
        if selected in names:
            table.move_cursor(row=names.index(selected))
        self._describe(rows[names.index(selected)] if selected in names else
                       (rows[0] if rows else None))
        table.focus()

    def _describe(self, doc: dict[str, Any] | None) -> None:
        detail = self.query_one("#detail", Static)
        if doc is None:
            detail.update("No connection yet. Press [b]a[/] to add one and follow its setup "
                          "guide.")
            return
        check = doc.get("last_check") or {}
        lines = []
        if check.get("failure"):
            lines.append(f"[b]Last check:[/] {escape(str(check['failure']))}")
        elif not check:
            lines.append("Not tested yet: press [b]c[/] for Test Connection.")
        caps = provider_spec(doc["provider"]).capabilities
        title = escape(provider_spec(doc["provider"]).title)
        login = self._logins.get(doc["name"])
        if login:
            lines.append(login)
        extra = f"  [b]o[/] log in to {title}" if caps.browser_login else ""
        if caps.change_notifications or caps.backlink:
            extra += "  [b]v[/] events & backlink"
        lines.append("[b]c[/] test  [b]s[/] sync  [b]e[/] edit  [b]l[/] library" + extra)
        detail.update("\n".join(lines))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            name = str(event.row_key.value)
            # the rows' documents are not kept: read the one (small, local) on demand
            self._describe_later(name)

    @work(thread=True, exclusive=True, group="describe")
    def _describe_later(self, name: str) -> None:
        ws = damkit_app(self).workspace
        doc = ws.index.get_connection(name)
        if doc is not None:
            self._logins[name] = login_line(ws, doc)
            deliver(self, self._describe, doc)

    def select(self, name: str) -> None:
        """Put the cursor on ``name`` (now if the row is there, else after the next refresh)."""
        table = self.query_one(DataTable)
        self._wanted = name  # the next refresh (a resume, a save) keeps it
        if name in [str(k.value) for k in table.rows]:
            table.move_cursor(row=table.get_row_index(name))

    def selected_name(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - no row under the cursor
            return None
        return str(key.value) if key is not None else None

    def _need_selection(self) -> str | None:
        name = self.selected_name()
        if name is None:
            self.notify("Add a connection first (a).", severity="warning")
        return name

    def _provider_of(self, name: str) -> str:
        table = self.query_one(DataTable)
        return str(table.get_row(name)[1])

    def action_add(self) -> None:
        from .edit import ProviderPickScreen

        self.app.push_screen(ProviderPickScreen())

    def action_edit(self) -> None:
        if name := self._need_selection():
            from .edit import ConnectionFormScreen

            self.app.push_screen(ConnectionFormScreen(self._provider_of(name), existing=name))

    def action_check(self) -> None:
        if name := self._need_selection():
            from .check import CheckScreen

            self.app.push_screen(CheckScreen(name))

    def action_sync(self) -> None:
        if name := self._need_selection():
            from .sync import open_sync

            open_sync(self.app, name)

    def action_library(self) -> None:
        from .library import LibraryScreen

        self.app.push_screen(LibraryScreen(connection=self.selected_name()))

    def action_history(self) -> None:
        if name := self._need_selection():
            from .history import HistoryScreen

            self.app.push_screen(HistoryScreen(name))

    def action_login(self) -> None:
        if name := self._need_selection():
            spec = provider_spec(self._provider_of(name))
            if not spec.capabilities.browser_login:
                self.notify(f"{spec.title} connections need no browser login.", severity="warning")
                return
            from .login import LoginScreen

            self.app.push_screen(LoginScreen(name))

    def action_events(self) -> None:
        if name := self._need_selection():
            caps = provider_spec(self._provider_of(name)).capabilities
            if not (caps.change_notifications or caps.backlink):
                self.notify("This DAM sends no change notifications and has no backlink.",
                            severity="warning")
                return
            from .events import EventsScreen

            self.app.push_screen(EventsScreen(name))

    def action_remove(self) -> None:
        if not (name := self._need_selection()):
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.remove_connection(name)

        self.app.push_screen(ConfirmScreen(
            f"Remove the connection [b]{name}[/] and its secrets?\n"
            "Its files and index entries stay in the library."), done)

    @work(thread=True, exclusive=True, group="remove")
    def remove_connection(self, name: str) -> None:
        damkit_app(self).workspace.remove_connection(name)
        deliver(self, self.notify, f"Removed {name}. Its files stay in DAM Import.")
        deliver(self, self.action_refresh)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_check()
