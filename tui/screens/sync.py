"""Sync: the plan, then a progress bar with counts, bytes and rate, and a log of failures.

The sync runs as an async worker on the app's event loop (the core is async); its progress
events land in a small mailbox that the screen drains at most ten times a second, so a
10,000-file sync costs the UI ten updates a second, not one per event. Cancelling sets the sync's
``asyncio.Event``: new downloads stop, what finished stays.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, ProgressBar, RichLog, Static

from damkit.errors import DamkitError
from damkit.progress import ProgressEvent
from damkit.redact import redact
from damkit.sync import PLAN_CATEGORIES, SyncReport
from damkit.units import human_bytes

from .common import damkit_app

UI_UPDATES_PER_SECOND = 10


@dataclass
class Mailbox:
    """What the sync hands the UI: the latest counts, the plan, new failures."""

    latest: ProgressEvent | None = None
    planned: ProgressEvent | None = None
    failures: list[ProgressEvent] = field(default_factory=list)
    events: int = 0

    def put(self, event: ProgressEvent) -> None:
        self.events += 1
        self.latest = event
        if event.kind == "planned":
            self.planned = event
        elif event.kind == "file_failed":
            self.failures.append(event)

    def take(self) -> tuple[ProgressEvent | None, ProgressEvent | None, list[ProgressEvent]]:
        latest, planned, failures = self.latest, self.planned, self.failures
        self.planned, self.failures = None, []
        return latest, planned, failures


def time_left(finished: int, total: int, elapsed: float) -> str:
    """"about 2 min left", from the pace so far (empty before the first file, or when done)."""
    if finished <= 0 or total <= finished:
        return ""
    seconds = elapsed / finished * (total - finished)
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def plan_line(plan: dict[str, int], total: int) -> str:
    parts = [f"{k} [b]{plan[k]}[/]" for k in PLAN_CATEGORIES if k in plan]
    return " · ".join(parts) + f" → [b]{total}[/] to download"


def open_sync(app: App[Any], name: str, *, switch: bool = False) -> None:
    """Show the sync of ``name``: the one running (gone back from with Escape), else a new one.

    Each sync screen is installed under ``sync:<name>`` so that going back keeps it (and its
    worker) alive; a finished one is replaced by a new run."""
    key = f"sync:{name}"
    if app.is_screen_installed(key):
        screen = app.get_screen(key)
        if screen in app.screen_stack:
            return
        if not (isinstance(screen, SyncScreen) and screen.running):
            app.uninstall_screen(key)
    if not app.is_screen_installed(key):
        app.install_screen(SyncScreen(name), key)
    if switch:
        app.switch_screen(key)
    else:
        app.push_screen(key)


def running_syncs(app: App[Any], names: list[str]) -> list[SyncScreen]:
    """Sync screens whose sync runs (shown, or gone back from), of connections ``names``."""
    screens = [app.get_screen(f"sync:{n}") for n in names if app.is_screen_installed(f"sync:{n}")]
    screens += [s for s in app.screen_stack if isinstance(s, SyncScreen)]
    return [s for s in dict.fromkeys(screens) if isinstance(s, SyncScreen) and s.running]


class SyncScreen(Screen[None]):
    """Plan, progress, failures, time left; ``x`` cancels cleanly; Escape goes back while
    the sync carries on."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="sync.back"),
        Binding("x", "cancel", "Cancel sync", id="sync.cancel"),
        Binding("l", "library", "Library", id="sync.library"),
        Binding("r", "again", "Sync again", id="sync.again"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.connection = name
        self.mailbox = Mailbox()
        self.running = False
        self.report: SyncReport | None = None
        self.updates = 0  # UI refreshes done (tests check the throttle)
        self._cancel = asyncio.Event()
        self._cancel_wanted = False
        self._started = 0.0
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Sync: {self.connection}", classes="title")
        yield Static("Listing the tagged files…", id="plan", classes="plan")
        yield Static(self.pace_line(), id="pace", classes="help pace")
        yield ProgressBar(id="bar", show_eta=False)
        yield Static("", id="counts", classes="counts")
        yield RichLog(id="log", markup=True, wrap=True, max_lines=500)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#log", RichLog).border_title = "Failures"
        self.start()

    def start(self) -> None:
        self.mailbox = Mailbox()
        self.report = None
        self._cancel_wanted = False
        self._cancel = asyncio.Event()
        self.running = True
        self._started = time.monotonic()
        bar = self.query_one("#bar", ProgressBar)
        bar.update(total=None, progress=0)
        self.query_one("#plan", Static).update("Listing the tagged files…")
        self.query_one("#counts", Static).update("")
        self._timer = self.set_interval(1 / UI_UPDATES_PER_SECOND, self.drain)
        self.sync()

    @work(exclusive=True, group="sync", exit_on_error=False)
    async def sync(self) -> None:
        from damkit.sync import sync_connection

        try:
            report = await sync_connection(damkit_app(self).workspace, self.connection,
                                           progress=self.mailbox.put, cancel=self._cancel,
                                           rate=damkit_app(self).sync_rate)
        except DamkitError as exc:
            self._failed(exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bug in one sync must not close the console
            self._failed(DamkitError(redact(f"unexpected {type(exc).__name__}: {exc}")))
            return
        self._finished(report)

    # --- rendering --------------------------------------------------------------------------------

    def drain(self) -> None:
        """Render what arrived since the last tick (at most UI_UPDATES_PER_SECOND a second)."""
        latest, planned, failures = self.mailbox.take()
        if latest is None and not failures:
            return
        self.updates += 1
        bar = self.query_one("#bar", ProgressBar)
        log = self.query_one("#log", RichLog)
        if planned is not None:
            self.query_one("#plan", Static).update(plan_line(planned.plan, planned.total))
            bar.update(total=max(planned.total, 1))
            if planned.total == 0:
                log.write("Nothing to download: every tagged file is already in the library.")
        for event in failures:
            log.write(f"[red]failed[/] {escape(event.asset or event.asset_id or '?')}: "
                      f"{escape(event.error or '')}")
        if latest is not None:
            if latest.total:
                bar.update(total=latest.total, progress=latest.done + latest.failed)
            self.query_one("#counts", Static).update(self.counts_line(latest))

    def pace_line(self) -> str:
        """Why a sync takes the time it takes: the request rate it keeps to, and whose it is."""
        app = damkit_app(self)
        try:
            spec = app.workspace.spec(self.connection)
        except DamkitError:
            return ""
        caps = spec.capabilities
        if app.sync_rate is not None:
            return f"Requests paced at {app.sync_rate:g}/s (set for this console)."
        if caps.rate is None:
            return ""
        whose = "its documented limit" if caps.rate_documented else "a polite default"
        burst = f", bursts of {caps.burst}" if caps.burst else ""
        return (f"Requests to {spec.title} paced at {caps.rate:g}/s{burst} ({whose}): a large "
                "first sync takes minutes.")

    def counts_line(self, event: ProgressEvent) -> str:
        line = (f"done [b]{event.done}[/]/{event.total}  failed [b]{event.failed}[/]  "
                f"{human_bytes(event.bytes) or '0 B'}")
        if damkit_app(self).timings:
            elapsed = max(time.monotonic() - self._started, 1e-3)
            line += f"  {human_bytes(event.bytes / elapsed) or '0 B'}/s"
            left = time_left(event.done + event.failed, event.total, elapsed)
            if left:
                line += f"  {left}"
        return line

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.drain()

    def _failed(self, exc: DamkitError) -> None:
        self.running = False
        self._stop_timer()
        log = self.query_one("#log", RichLog)
        log.write(f"[red b]Sync could not run:[/] {escape(exc.message)}")
        if exc.hint:
            log.write(f"[cyan]→ {escape(exc.hint)}[/]")
        self.query_one("#plan", Static).update("[red]Not synced.[/]")

    def _finished(self, report: SyncReport) -> None:
        self.running = False
        self.report = report
        self._stop_timer()
        bar = self.query_one("#bar", ProgressBar)
        total = report.plan.to_download
        bar.update(total=max(total, 1), progress=(report.downloaded + report.adopted
                                                 + report.failed) if total else 1)
        colour = {"ok": "green", "partial": "yellow", "cancelled": "yellow"}.get(report.status,
                                                                              "red")
        line = (f"[{colour} b]{report.status}[/]: {report.downloaded} downloaded, "
                f"{report.unchanged} unchanged, {report.failed} failed, {report.gone} gone, "
                f"{human_bytes(report.bytes) or '0 B'}")
        if damkit_app(self).timings:
            line += f" in {report.seconds:.1f} s"
        log = self.query_one("#log", RichLog)
        if report.error:
            log.write(f"[red]{escape(report.error)}[/]")
        if not report.errors and not report.error:
            log.write("[green]No failures.[/]")
        if report.status == "cancelled":
            log.write("[yellow]Cancelled: the files that finished stay in the library.[/]")
        self.query_one("#plan", Static).update(
            plan_line(report.plan.model_dump(), total) + f"\nFinished {line}")
        self.app.notify(f"{report.status}: {report.synced} file(s) in the library",
                    title=f"Sync {self.connection}",
                    severity="information" if report.ok else "warning")

    # --- actions ----------------------------------------------------------------------------------

    @property
    def cancelling(self) -> bool:
        """A cancel was asked for this run (it ends as soon as files in flight stop)."""
        return self._cancel_wanted

    def action_cancel(self) -> None:
        if not self.running:
            return
        self._cancel_wanted = True
        self._cancel.set()
        self.query_one("#log", RichLog).write(
            "[yellow]Cancelling: files in flight stop, finished files stay.[/]")

    def action_again(self) -> None:
        if self.running:
            self.notify("A sync is running: x cancels it.", severity="warning")
            return
        self.query_one("#log", RichLog).clear()
        self.start()

    def action_back(self) -> None:
        """Back to the list; a running sync carries on (s on the connection shows it again)."""
        if self.running:
            self.notify(f"The sync of {self.connection} carries on; s on the connection shows "
                        "it again, x there cancels it.", title="Sync")
        self.app.pop_screen()

    def action_library(self) -> None:
        from .library import LibraryScreen

        self.app.push_screen(LibraryScreen(connection=self.connection))
