"""The library: the "DAM Import" folder, filtered by connection, tag, status and name."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static

from damkit.sync import AssetStatus
from damkit.units import human_bytes

from .common import damkit_app, deliver

STATUSES: tuple[str, ...] = AssetStatus.__args__  # type: ignore[attr-defined]
MAX_ROWS = 2000
#: (label, width): fits 80 columns; long names are cut here and shown whole in the details
COLUMNS = (("connection", 14), ("name", 32), ("status", 7), ("size", 9), ("type", 5))


class LibraryScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back", id="library.back"),
        Binding("slash", "focus_filter", "Filter", id="library.filter"),
        Binding("ctrl+r", "reload", "Reload", id="library.reload"),
    ]

    def __init__(self, connection: str | None = None) -> None:
        super().__init__()
        self.connection = connection
        self.rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Library: DAM Import", classes="title")
        with Horizontal(id="filters"):
            yield Select([], prompt="connection", id="f-connection")
            yield Select([(s, s) for s in STATUSES], prompt="status", id="f-status")
            yield Input(placeholder="tag", id="f-tag")
            yield Input(placeholder="name contains", id="f-name")
        yield DataTable(id="assets", cursor_type="row", zebra_stripes=True)
        yield Static("", id="summary", classes="detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#assets", DataTable)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        self.load_connections()

    @work(thread=True)
    def load_connections(self) -> None:
        names = [c["name"] for c in damkit_app(self).workspace.connections()]
        deliver(self, self._set_connections, names)

    def _set_connections(self, names: list[str]) -> None:
        select = self.query_one("#f-connection", Select)
        select.set_options([(n, n) for n in names])
        if self.connection in names:
            select.value = self.connection
        self.action_reload()
        self.query_one("#assets", DataTable).focus()

    def filters(self) -> dict[str, Any]:
        conn = self.query_one("#f-connection", Select).value
        status = self.query_one("#f-status", Select).value
        return {
            "connection": None if conn is Select.NULL else conn,
            "status": None if status is Select.NULL else status,
            "tag": self.query_one("#f-tag", Input).value or None,
            "name_contains": self.query_one("#f-name", Input).value or None,
        }

    @on(Select.Changed)
    @on(Input.Changed)
    def _filter_changed(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load(self.filters())

    @work(thread=True, exclusive=True, group="library")
    def load(self, filters: dict[str, Any]) -> None:
        rows = sorted(damkit_app(self).workspace.assets(**filters),
                      key=lambda r: (str(r.get("connection", "")), str(r.get("name", "")),
                                     str(r.get("provider_id", ""))))
        deliver(self, self._fill, rows)

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        table = self.query_one("#assets", DataTable)
        table.clear()
        for i, r in enumerate(rows[:MAX_ROWS]):
            table.add_row(Text(str(r.get("connection", ""))), Text(str(r.get("name", ""))),
                          Text(str(r.get("status", ""))), human_bytes(r.get("size")),
                          Text(str(r.get("type", ""))), key=str(i))
        total = sum(r.get("size") or 0 for r in rows)
        more = f" (showing {MAX_ROWS})" if len(rows) > MAX_ROWS else ""
        self.query_one("#summary", Static).update(
            f"{len(rows)} asset(s), {human_bytes(total) or '0 B'}{more}. Enter: details.")

    def action_focus_filter(self) -> None:
        self.query_one("#f-name", Input).focus()

    def action_back(self) -> None:
        """Escape: from a filter back to the table, from the table back to the last screen."""
        table = self.query_one("#assets", DataTable)
        if self.focused is not table:
            table.focus()
        else:
            self.app.pop_screen()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#assets", DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        index = int(str(event.row_key.value))
        self.app.push_screen(AssetDetails(self.rows[index]))


#: the asset record's fields shown in the details, in this order (the rest follow)
DETAIL_ORDER = ("connection", "provider", "provider_id", "status", "local_path", "size", "type",
                "tags", "checksum", "modified", "synced", "error", "backlink")


class AssetDetails(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "app.pop_screen", "Close", id="asset.close")]

    def __init__(self, asset: dict[str, Any]) -> None:
        super().__init__()
        self.asset = asset

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(Text(str(self.asset.get("name", "")), style="bold"))
            keys = [k for k in DETAIL_ORDER if k in self.asset]
            keys += sorted(k for k in self.asset if k not in keys and k != "name")
            text = Text()
            for key in keys:
                value = self.asset[key]
                if isinstance(value, list):
                    value = ", ".join(repr(v) for v in value)
                text.append(f"{key}: ", style="dim").append(f"{value}\n")
            yield Static(text)
            yield Static("[dim]Escape to close[/]")
