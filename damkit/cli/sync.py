"""``damkit sync``: every file carrying the tag into DAM Import/NAME/, with progress."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from ..display import clean
from .common import JsonOption, app, cmd, err, guarded, out, say, shown, workspace
from .paint import human_size
from .record import RecordOption, recorded

#: Files a dry run lists (and errors a report lists) before summarising the rest with a count.
LIST_LIMIT = 20


class ProgressRenderer:
    """Renders sync progress events: a bar on a terminal (files done of the total, bytes and
    speed in decimal units), else only the plan line: a script's log gets the summary at the end,
    not one line per file."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.live = enabled and sys.stderr.isatty()
        self.progress: Any = None
        self.task: Any = None
        self.started = time.monotonic()

    def __enter__(self) -> ProgressRenderer:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TextColumn("files"),
                                     TextColumn("{task.fields[size]}"),
                                     TextColumn("{task.fields[speed]}"),
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
            if event.kind in ("planned", "throttled"):
                err(clean(event.line()))
            return
        if event.kind == "planned":
            parts = ", ".join(f"{k} {v}" for k, v in event.plan.items())
            self.progress.console.print(f"plan: {parts}", highlight=False, markup=False)
            self.started = time.monotonic()
            self.task = self.progress.add_task(markup_safe(event.connection), total=event.total or None,
                                               size=human_size(0), speed="")
        elif self.task is not None and event.kind in ("file_done", "file_failed"):
            elapsed = max(time.monotonic() - self.started, 1e-3)
            self.progress.update(self.task, completed=event.done + event.failed,
                                 size=human_size(event.bytes),
                                 speed=f"{human_size(int(event.bytes / elapsed))}/s")
            if event.kind == "file_failed":
                self.progress.console.print(f"[red]failed[/] {markup_safe(event.asset)}: "
                                            f"{markup_safe(event.error)}", highlight=False)
        elif event.kind == "throttled":
            self.progress.console.print(f"[yellow]{markup_safe(event.line())}[/]", highlight=False)


def markup_safe(value: Any) -> str:
    """A value from outside, safe inside the progress bar's rich markup (a DAM's file name in
    square brackets prints as it is)."""
    from rich.markup import escape

    return escape(shown(value))


def print_sync_report(report: Any, status: str | None = None) -> None:
    plan = report.plan
    say(f"{status or report.status} {report.connection}: {plan.listed} tagged; new {plan.new}, changed "
        f"{plan.changed}, retry {plan.retry}, unchanged {plan.unchanged}, gone {plan.gone}")
    if report.dry_run:
        if report.planned:
            say(f"would download {len(report.planned)} file(s):")
            for f in report.planned[:LIST_LIMIT]:
                say(f"  {f.action:<7} {human_size(f.size):>9}  {clean(f.name)}")
            more = len(report.planned) - LIST_LIMIT
            if more > 0:
                say(f"  … and {more} more (--json lists them all)")
        else:
            say("nothing to download")
    else:
        say(f"downloaded {report.downloaded} ({human_size(report.bytes)}), failed {report.failed}, "
            f"marked gone {report.gone}, pruned {report.pruned}"
            + (f", backlinks {report.backlinks}" if report.backlinks else "")
            + f" in {report.seconds:.2f}s")
    for e in report.errors[:LIST_LIMIT]:
        say(f"  ✗ {clean(e.name)}: {clean(e.error)}")
    more = report.failed - min(len(report.errors), LIST_LIMIT)
    if more > 0:
        say(f"  … and {more} more failed file(s) (`{cmd()} library ls --status failed`)")
    if report.error:
        say(clean(report.error))


def report_json(report: Any) -> dict[str, Any]:
    """The report for scripts, saying when its error list is cut (the engine keeps the first
    ones only): ``errors_total`` and ``errors_truncated``."""
    data: dict[str, Any] = report.model_dump(mode="json")
    data["ok"] = report.ok
    data["errors_total"] = max(report.failed, len(report.errors))
    data["errors_truncated"] = len(report.errors) < data["errors_total"]
    return data


def empty_error(ws: Any, name: str, gone: int) -> Any:
    """A sync that found no tagged file fails like Test Connection does: the guides require at
    least one tagged file, and an empty result is more often a wrong tag than an empty DAM."""
    from ..errors import SyncError

    spec = ws.spec(name)
    noun = spec.tag_noun
    tag = ws.load_settings(name, require_secrets=False).import_tag
    marked = f"; {gone} file(s) of earlier runs marked gone" if gone else ""
    return SyncError(f"{name}: no file carries the {noun} {clean(tag)!r} in {spec.title}; "
                     f"nothing to sync{marked}",
                     hint=f"add the {noun} to at least one file (the setup guide requires it), "
                     f"check its spelling with `{cmd()} check {name}`, or pass --allow-empty")


@app.command("sync")
def sync(
    name: str | None = typer.Argument(None, metavar="NAME",
                                      help="The connection (omit with --enqueue --all)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing"),
    prune: bool = typer.Option(False, "--prune", help="Delete files of assets gone upstream"),
    max_delete: int | None = typer.Option(
        None, "--max-delete", min=0,
        help="With --prune: delete nothing if more than this many files would go"),
    rate: float | None = typer.Option(None, "--rate", min=0.1,
                                         help="Requests/s to the DAM (default: adapts)"),
    concurrency: int | None = typer.Option(None, "--concurrency", min=1,
                                              help="Most downloads at once (default 8)"),
    allow_empty: bool = typer.Option(False, "--allow-empty",
                                     help="Succeed even when no file carries the tag"),
    enqueue: bool = typer.Option(False, "--enqueue",
                                 help="Put the sync in the task queue for `damkit worker`"),
    every: bool = typer.Option(False, "--all", help="With --enqueue: every connection"),
    as_json: bool = JsonOption,
    record: Path | None = RecordOption,
) -> None:
    """Sync every file carrying the tag into DAM Import/NAME/. Exit 1 when it failed, or found
    no tagged file (unless --allow-empty). With --enqueue: queue it (prints the job ids)."""
    from ..sync import sync_connection
    from ..workspace import run_sync

    if enqueue or every:
        enqueue_syncs(name, every=every, enqueue=enqueue, prune=prune, max_delete=max_delete,
                      rate=rate, concurrency=concurrency, as_json=as_json,
                      unsupported=dry_run or allow_empty or record is not None)
        return
    with guarded(as_json):
        if name is None:
            from ..errors import SettingsError

            raise SettingsError("which connection? give its name (or --enqueue --all)",
                                field="name", hint=f"`{cmd()} connections list` shows them")
        ws = workspace()
        ws.connection(name)
        with ProgressRenderer(enabled=not as_json) as render, recorded(ws, name, record):
            report = run_sync(sync_connection(ws, name, dry_run=dry_run, prune=prune,
                                              max_delete=max_delete, progress=render,
                                              rate=rate, concurrency=concurrency))
        empty = (report.ok and report.plan.listed == 0 and not allow_empty)
        problem = empty_error(ws, name, report.gone) if empty else None
    if as_json:
        data = report_json(report)
        if problem is not None:
            data.update(ok=False, error=problem.message, hint=problem.hint)
        out(data)
    else:
        print_sync_report(report, "failed" if problem is not None else None)
        if problem is not None:
            err(f"error: {problem.message}")
            err(f"  hint: {problem.hint}")
    raise typer.Exit(0 if report.ok and problem is None else 1)


def enqueue_syncs(name: str | None, *, every: bool, enqueue: bool, as_json: bool,
                  unsupported: bool, **options: Any) -> None:
    """``damkit sync --enqueue NAME|--all``: queue the syncs, print the job ids."""
    from ..errors import SettingsError
    from ..jobs import enqueue_sync
    from ..workspace import run_sync

    with guarded(as_json):
        if not enqueue:
            raise SettingsError("--all queues every connection's sync: add --enqueue",
                                field="all", hint="run one connection in this process with "
                                f"`{cmd()} sync NAME`")
        if unsupported:
            raise SettingsError("--dry-run, --allow-empty and --record run in this process: "
                                "they do not go with --enqueue", field="enqueue")
        if (name is None) == (not every):
            raise SettingsError("--enqueue takes a connection name or --all (one of them)",
                                field="name")
        ws = workspace()
        names = [c["name"] for c in ws.connections()] if every else [str(name)]
        jobs = run_sync(enqueue_sync(ws, names, **options))
    if as_json:
        out({"ok": True, "jobs": [j.model_dump() for j in jobs]})
        return
    for j in jobs:
        say(f"{j.connection}: " + (f"a sync is already queued (job {j.job_id})" if j.already_queued
                                   else f"sync queued (job {j.job_id})"))
    if not jobs:
        say("no connection to queue")
