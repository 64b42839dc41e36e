"""Sync history: the past runs of one connection, newest first; Enter shows a run's details."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Static

from damkit.sync import PLAN_CATEGORIES
from damkit.units import human_bytes

from .common import damkit_app, deliver

#: (label, width): 19+9+7+10+6+4+9 plus cell padding fits 80 columns with a scrollbar
COLUMNS = (("started", 19), ("status", 9), ("seconds", 7), ("downloaded", 10), ("failed", 6),
           ("gone", 4), ("bytes", 9))
#: the run's counts shown in the details, in this order (others the engine adds follow)
COUNT_ORDER = ("downloaded", "adopted", "failed", "unchanged", "gone", "pruned", "backlinks",
               "backlink_failed")


def when(stamp: Any) -> str:
    """``"2026-11-23T12:08:09Z"`` → ``"2026-11-23 12:08:09"`` (UTC, as recorded)."""
    if not stamp:
        return "-"
    return str(stamp).replace("T", " ").removesuffix("Z")[:19]


def count(run: dict[str, Any], key: str) -> str:
    value = (run.get("counts") or {}).get(key)
    return "-" if value is None else str(value)


def seconds_cell(run: dict[str, Any], *, timings: bool) -> str:
    seconds = run.get("seconds")
    if not timings or seconds is None:
        return "-"
    return f"{float(seconds):.1f}"


class HistoryScreen(Screen[None]):
    """The table of a connection's sync runs (``ws.index.runs``), read in a thread worker."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="history.back"),
        Binding("r", "reload", "Reload", id="history.reload"),
    ]

    def __init__(self, connection: str) -> None:
        super().__init__()
        self.connection = connection
        self.runs: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(f"Sync history: {self.connection}"), classes="title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static("Loading…", id="history-summary", classes="detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.load(self.connection)

    @work(thread=True, exclusive=True, group="history")
    def load(self, connection: str) -> None:
        runs = damkit_app(self).workspace.index.runs(connection=connection)
        deliver(self, self._fill, runs)

    def _fill(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs
        table = self.query_one("#runs", DataTable)
        table.clear()
        timings = damkit_app(self).timings
        for i, run in enumerate(runs):
            size = human_bytes(run.get("bytes"))
            table.add_row(when(run.get("started")), Text(str(run.get("status", "?"))),
                          seconds_cell(run, timings=timings), count(run, "downloaded"),
                          count(run, "failed"), count(run, "gone"), size or "-", key=str(i))
        summary = self.query_one("#history-summary", Static)
        if runs:
            summary.update(f"{len(runs)} run(s), newest first, times in UTC. "
                           "Enter: details. Escape: back.")
        else:
            summary.update("No sync yet for this connection. Escape: back.")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        self.app.push_screen(RunDetails(self.runs[int(event.row_key.value)],
                                        timings=damkit_app(self).timings))


def run_text(run: dict[str, Any], *, timings: bool = True) -> Text:
    """A run's details as plain text (names and errors come from the DAM: never markup)."""
    text = Text()

    def line(label: str, value: Any) -> None:
        text.append(f"{label}: ", style="dim").append(f"{value}\n")

    line("status", run.get("status", "?"))
    line("trigger", run.get("trigger", "-"))
    line("started", when(run.get("started")))
    line("finished", when(run.get("finished")))
    if timings:
        line("seconds", seconds_cell(run, timings=True))
    line("bytes", human_bytes(run.get("bytes")) or "-")
    if run.get("prune"):
        line("prune", "yes")
    plan = run.get("plan") or {}
    keys = [k for k in PLAN_CATEGORIES if k in plan] + sorted(
        k for k in plan if k not in PLAN_CATEGORIES)
    text.append("\nPlan  ", style="bold")
    text.append("  ".join(f"{k} {plan[k]}" for k in keys) or "-").append("\n")
    counts = run.get("counts") or {}
    keys = [k for k in COUNT_ORDER if k in counts] + sorted(
        k for k in counts if k not in COUNT_ORDER)
    text.append("Done  ", style="bold")
    text.append("  ".join(f"{k} {counts[k]}" for k in keys) or "-").append("\n")
    if run.get("error"):
        text.append("\nError: ", style="bold red").append(str(run["error"])).append("\n")
    errors = run.get("errors") or []
    if errors:
        text.append(f"\nFile errors ({len(errors)})\n", style="bold")
        for err in errors:
            text.append(f"{err.get('name', '?')}", style="bold")
            text.append(f" [{err.get('asset_id', '?')}]", style="dim")
            text.append(f": {err.get('error', '')}\n")
    text.rstrip()
    return text


class RunDetails(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "app.pop_screen", "Close", id="run.close")]

    def __init__(self, run: dict[str, Any], *, timings: bool = True) -> None:
        super().__init__()
        self.record = run
        self.timings = timings

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="run-details"):
            title = f"Sync run of {self.record.get('connection', '?')}"
            yield Static(Text(title, style="bold"))
            yield Static(run_text(self.record, timings=self.timings), id="run-text")
            yield Static(Text("Escape to close", style="dim"))
