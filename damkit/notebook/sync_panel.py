"""The sync panel: a sync from a button, with a progress bar, counts and Cancel."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..errors import DamkitError
from ..progress import ProgressEvent
from ..units import human_bytes
from .common import RENDER_EVERY, error_html, esc, start_task

if TYPE_CHECKING:

    from ..sync import SyncReport
    from ..workspace import Workspace



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
        self.task = start_task(self._sync())
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
        from ..sync import sync_connection

        try:
            self.report = await sync_connection(
                self.ws, self.connection.value, dry_run=self.dry_run.value,
                prune=self.prune.value, progress=self.on_event, cancel=self._cancel,
                concurrency=self.concurrency, rate=self.rate)
        except DamkitError as exc:
            hint = f"<br>→ {esc(exc.hint)}" if exc.hint else ""
            self.result.value = f"{error_html('Sync not started: ' + exc.message)}{hint}"
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
            line = f"plan: {esc(plan)}<br>{line}"
        if event.kind == "file_failed" and event.error:
            line += f'<br><span style="color:#cf222e">{esc(event.asset)}: {esc(event.error)}</span>'
        if event.kind == "finished":
            self.bar.bar_style = {"ok": "success", "dry_run": "info", "partial": "warning",
                                  "cancelled": "warning"}.get(event.status or "", "danger")
            if total == 0:
                self.bar.value = self.bar.max
            line += f"<br>finished: <b>{esc(event.status)}</b>"
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
    head = (f'<b style="color:{color}">{esc(report.status)}</b> in {report.seconds:.1f} s — '
            f"{esc(counts or 'nothing to do')}; {human_bytes(report.bytes)}<br>"
            f'<span style="color:#6e7781">plan: {esc(plan)}</span>')
    if report.error:
        head += f"<br>{error_html(report.error)}"
    if report.errors:
        rows = "".join(f"<tr><td>{esc(e.name)}</td><td>{esc(e.error)}</td></tr>"
                       for e in report.errors[:10])
        more = f"<br>… and {len(report.errors) - 10} more" if len(report.errors) > 10 else ""
        head += f"<table><tr><th>file</th><th>error</th></tr>{rows}</table>{more}"
    return f"<div>{head}</div>"


def sync_panel(ws: Workspace, connection: str | None = None, *,
               rate: float | None = None) -> SyncPanel:
    """A :class:`SyncPanel` for ``connection`` (default: the first)."""
    return SyncPanel(ws, connection, rate=rate)

