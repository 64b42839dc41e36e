"""``damkit sync``: every file carrying the tag into DAM Import/NAME/, with progress."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .common import JsonOption, app, console, err, finish, guarded, workspace
from .record import RecordOption, recorded


class ProgressRenderer:
    """Renders sync progress events: a rich bar on a terminal, plain lines otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.live = enabled and sys.stderr.isatty()
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> ProgressRenderer:
        if self.live:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress,
                                       TextColumn, TimeRemainingColumn, TransferSpeedColumn)

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), DownloadColumn(), TransferSpeedColumn(),
                                     TimeRemainingColumn(), console=Console(stderr=True))
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, event: Any) -> None:
        if not self.enabled:
            return
        if not self.live:
            if event.kind != "started":
                err(event.line())
            return
        if event.kind == "planned":
            parts = ", ".join(f"{k} {v}" for k, v in event.plan.items())
            self.progress.console.print(f"plan: {parts}", highlight=False)
            self.task = self.progress.add_task(event.connection, total=event.total or None)
        elif self.task is not None and event.kind in ("file_done", "file_failed"):
            self.progress.update(self.task, completed=event.done + event.failed)
            if event.kind == "file_failed":
                self.progress.console.print(f"[red]failed[/] {event.asset}: {event.error}",
                                            highlight=False)
        elif event.kind == "throttled":
            self.progress.console.print(f"[yellow]{event.line()}[/]", highlight=False)


def print_sync_report(report: Any) -> None:
    c = console()
    colour = {"ok": "green", "dry_run": "cyan", "partial": "yellow"}.get(report.status, "red")
    plan = report.plan
    c.print(f"[{colour} b]{report.status}[/] {report.connection}: "
            f"{plan.listed} tagged; new {plan.new}, changed {plan.changed}, retry {plan.retry}, "
            f"unchanged {plan.unchanged}, gone {plan.gone}", highlight=False)
    if not report.dry_run:
        c.print(f"downloaded {report.downloaded} ({report.bytes:,} bytes), failed {report.failed}, "
                f"marked gone {report.gone}, pruned {report.pruned}"
                + (f", backlinks {report.backlinks}" if report.backlinks else "")
                + f" in {report.seconds:.2f}s", highlight=False)
    for e in report.errors[:20]:
        c.print(f"  [red]✗[/] {e.name}: {e.error}", highlight=False)
    if report.error:
        c.print(f"[red]{report.error}[/]", highlight=False)


@app.command("sync")
def sync(
    name: str,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing"),
    prune: bool = typer.Option(False, "--prune", help="Delete files of assets gone upstream"),
    max_delete: Optional[int] = typer.Option(
        None, "--max-delete", min=0,
        help="With --prune: delete nothing if more than this many files would go"),
    rate: Optional[float] = typer.Option(None, "--rate", min=0.1,
                                         help="Requests/s to the DAM (default: adapts)"),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1,
                                              help="Most downloads at once (default 8)"),
    as_json: bool = JsonOption,
    record: Optional[Path] = RecordOption,
) -> None:
    """Sync every file carrying the tag into DAM Import/NAME/."""
    from ..sync import sync_connection
    from ..workspace import run_sync

    with guarded(as_json):
        ws = workspace()
        ws.connection(name)
        with ProgressRenderer(enabled=not as_json) as render, recorded(ws, name, record):
            report = run_sync(sync_connection(ws, name, dry_run=dry_run, prune=prune,
                                              max_delete=max_delete, progress=render,
                                              rate=rate, concurrency=concurrency))
    finish(report, as_json, print_sync_report)
