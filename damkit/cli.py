"""The ``damkit`` command line: scripts, quick checks over SSH, and the demo.

Exit codes: 0 success, 1 the operation or check failed, 2 bad usage or bad settings.
Every command whose output is data takes ``--json``. Heavy modules (the sandbox, the sync engine,
the TUI) are imported inside the commands that need them, so ``damkit --help`` starts fast.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import typer

if TYPE_CHECKING:
    from .providers.base import CheckReport
    from .workspace import Workspace

app = typer.Typer(
    name="damkit",
    help="Connect a DAM (Bynder, Canto, Percolate) to your asset library: settings, Test "
    "Connection, and sync of every file carrying the tag into \"DAM Import\".",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a traceback must never print locals (secrets)
)
connections_app = typer.Typer(help="Add, list, show, edit and remove connections.",
                              no_args_is_help=True)
library_app = typer.Typer(help="Read the library index.", no_args_is_help=True)
config_app = typer.Typer(help="Workspace settings (public URL, library URL template).",
                         no_args_is_help=True)
app.add_typer(connections_app, name="connections")
app.add_typer(library_app, name="library")
events_app = typer.Typer(help="Bynder change notifications: the Event consumer URL and the "
                          "SNS consumer.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(events_app, name="events")

HomeOption = typer.Option(None, "--home", envvar="DAMKIT_HOME",
                          help="Workspace folder (default: $DAMKIT_HOME, else the user data dir).")
JsonOption = typer.Option(False, "--json", help="Print JSON (for scripts).")


# --- plumbing ---------------------------------------------------------------------------------


class State:
    home: Optional[Path] = None


state = State()


@app.callback()
def main_callback(home: Optional[Path] = HomeOption) -> None:
    state.home = home


def workspace() -> Workspace:
    from .workspace import open_workspace

    return open_workspace(state.home, interactive=True)


def out(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def err(text: str) -> None:
    from .redact import redact

    sys.stderr.write(redact(text) + "\n")


def fail(exc: BaseException, *, as_json: bool = False) -> NoReturn:
    from .errors import DamkitError

    if isinstance(exc, DamkitError):
        if as_json:
            out({"ok": False, "error": exc.message, "hint": exc.hint,
                 "field": getattr(exc, "field", None)})
        else:
            err(f"error: {exc.message}")
            if exc.hint:
                err(f"  hint: {exc.hint}")
        raise typer.Exit(exc.exit_code)
    raise exc


def finish(report: Any, as_json: bool, render: Any) -> NoReturn:
    """Print a check or sync report (JSON or for people); exit 0 when it is ok, else 1."""
    if as_json:
        out(report.model_dump(mode="json"))
    else:
        render(report)
    raise typer.Exit(0 if report.ok else 1)


def console() -> Any:
    from rich.console import Console

    return Console()


def guarded(as_json: bool = False) -> Any:
    """Context manager turning DamkitError into a clean message and its exit code."""
    from contextlib import contextmanager

    from .errors import DamkitError

    @contextmanager
    def _guard() -> Any:
        try:
            yield
        except DamkitError as exc:
            fail(exc, as_json=as_json)

    return _guard()


def parse_sets(pairs: list[str]) -> dict[str, str]:
    from .errors import SettingsError

    values: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SettingsError(f"--set '{pair}': write FIELD=VALUE", field=pair)
        key, _, value = pair.partition("=")
        values[key.strip()] = value
    return values


def read_secrets(fields: list[str]) -> dict[str, str]:
    """Each ``--secret FIELD``: a hidden prompt on a terminal, else one line of standard input."""
    values: dict[str, str] = {}
    tty = sys.stdin.isatty()
    for field in fields:
        if tty:
            value = getpass.getpass(f"{field}: ")
        else:
            line = sys.stdin.readline()
            if not line:
                from .errors import SettingsError

                raise SettingsError(f"--secret {field}: no line left on standard input",
                                    field=field, hint="give one line per --secret, in order")
            value = line.rstrip("\r\n")
        values[field] = value
    return values


# --- connections --------------------------------------------------------------------------------


def connection_view(ws: Workspace, doc: dict[str, Any]) -> dict[str, Any]:
    """A connection as shown to people and scripts: settings, secret sources (never values)."""
    from .providers import settings_model

    model = settings_model(doc["provider"])
    settings = dict(doc.get("settings", {}))
    for field in model.secret_fields():
        settings[field] = "********" if field in doc.get("secrets", {}) else None
    view = {
        "name": doc["name"],
        "provider": doc["provider"],
        "tag": settings.get(model.tag_field),
        "settings": settings,
        "secrets": {f: ref for f, ref in doc.get("secrets", {}).items()},
        "created": doc.get("created"),
        "updated": doc.get("updated"),
        "last_check": doc.get("last_check"),
        "last_sync": doc.get("last_sync"),
    }
    if doc["provider"] == "bynder":
        view["event_consumer_url"] = ws.event_consumer_url(doc["name"])
    return view


def save_connection(set_: list[str], secret: list[str], as_json: bool,
                    save: Any, done: str) -> None:
    """--set values and --secret prompts → ``save(ws, values)``; print the saved connection."""
    with guarded(as_json):
        values = parse_sets(set_)
        values.update(read_secrets(secret))
        ws = workspace()
        view = connection_view(ws, save(ws, values))
    if as_json:
        out(view)
    else:
        console().print(done)


@connections_app.command("add")
def connections_add(
    provider: str = typer.Argument(..., help="bynder, canto or percolate"),
    name: str = typer.Argument(..., help="A unique slug, e.g. acme-bynder"),
    set_: list[str] = typer.Option([], "--set", help="FIELD=VALUE (field name or label)"),
    secret: list[str] = typer.Option([], "--secret", help="FIELD to read hidden (repeatable)"),
    as_json: bool = JsonOption,
) -> None:
    """Add a connection. Secrets go to the secret store, never to the index."""
    save_connection(set_, secret, as_json,
                    lambda ws, values: ws.add_connection(provider, name, values),
                    f"[green]saved[/] {name} ({provider}); next: damkit check {name}")


@connections_app.command("add-sandbox")
def connections_add_sandbox(
    url: str = typer.Argument(..., help="The sandbox's URL or its /_sandbox/manifest URL"),
    prefix: str = typer.Option("sandbox-", "--prefix", help="Name prefix of the connections"),
    as_json: bool = JsonOption,
) -> None:
    """Add the three sandbox connections from its manifest."""
    with guarded(as_json):
        from .demo import add_sandbox_connections, login_sandbox_connections
        from .workspace import run_sync

        ws = workspace()
        names = add_sandbox_connections(ws, url, prefix=prefix)
        run_sync(login_sandbox_connections(ws, names))  # Canto: play the user on the sandbox
    if as_json:
        out({"added": names})
    else:
        for n in names:
            console().print(f"[green]added[/] {n}")


@connections_app.command("list")
def connections_list(as_json: bool = JsonOption) -> None:
    """Every connection with provider, tag, last check and last sync."""
    with guarded(as_json):
        ws = workspace()
        views = [connection_view(ws, d) for d in ws.connections()]
    if as_json:
        out(views)
        return
    from rich.table import Table

    table = Table("name", "provider", "tag", "last check", "eligible", "last sync")
    for v in views:
        check = v.get("last_check") or {}
        sync = v.get("last_sync") or {}
        table.add_row(v["name"], v["provider"], repr(v["tag"]),
                      ("ok" if check.get("ok") else "failed") if check else "-",
                      str(check.get("eligible", "-")) if check else "-",
                      f"{sync.get('status', '')} {sync.get('at', '')}".strip() or "-")
    console().print(table)


@connections_app.command("show")
def connections_show(name: str, as_json: bool = JsonOption) -> None:
    """One connection's settings (secrets masked) and status."""
    with guarded(as_json):
        ws = workspace()
        view = connection_view(ws, ws.connection(name))
    if as_json:
        out(view)
        return
    from .providers import settings_model

    model = settings_model(view["provider"])
    c = console()
    c.print(f"[bold]{view['name']}[/] ({view['provider']})")
    for spec in model.fields():
        value = view["settings"].get(spec.name)
        if value is None and spec.advanced:
            continue
        c.print(f"  {spec.label}: {value!r}" if not spec.secret else
                f"  {spec.label}: {'********' if value else '(not set)'}")
    if "event_consumer_url" in view:
        c.print(f"  Event consumer URL: {view['event_consumer_url'] or '(set the public URL: damkit config set public_url https://...)'}")
    for key in ("last_check", "last_sync"):
        if view.get(key):
            c.print(f"  {key.replace('_', ' ')}: {view[key]}")


@connections_app.command("edit")
def connections_edit(
    name: str,
    set_: list[str] = typer.Option([], "--set", help="FIELD=VALUE"),
    secret: list[str] = typer.Option([], "--secret", help="FIELD to read hidden (repeatable)"),
    as_json: bool = JsonOption,
) -> None:
    """Change some fields of a connection."""
    save_connection(set_, secret, as_json, lambda ws, values: ws.edit_connection(name, values),
                    f"[green]saved[/] {name}")


@connections_app.command("remove")
def connections_remove(
    name: str,
    delete_files: bool = typer.Option(False, "--delete-files",
                                      help="Also delete its files and index entries"),
    as_json: bool = JsonOption,
) -> None:
    """Remove a connection and its secrets (files and index entries are kept by default)."""
    with guarded(as_json):
        ws = workspace()
        ws.remove_connection(name, delete_files=delete_files)
    if as_json:
        out({"removed": name})
    else:
        console().print(f"removed {name}")


# --- check and auth -----------------------------------------------------------------------------


def render_report(report: CheckReport) -> None:
    c = console()
    marks = {"ok": "[green]✓[/]", "failed": "[red]✗[/]", "warning": "[yellow]![/]",
             "skipped": "[dim]-[/]"}
    for step in report.steps:
        c.print(f" {marks.get(step.status, '?')} {step.name} [dim]({step.seconds:.2f}s)[/] "
                f"{step.detail}", highlight=False)
        if step.hint and step.status != "ok":
            c.print(f"     [cyan]→ {step.hint}[/]", highlight=False)
    for warning in report.warnings:
        c.print(f"   [yellow]warning:[/] {warning}", highlight=False)
    if report.ok:
        c.print(f"[green bold]Connection OK[/]: {report.eligible} eligible file(s)")
    else:
        c.print("[red bold]Connection failed[/]")


@app.command("check")
def check(name: str, as_json: bool = JsonOption) -> None:
    """Test Connection: does it work, and how many files are eligible?"""
    from .workspace import run_sync

    with guarded(as_json):
        ws = workspace()
        report = run_sync(ws.check(name))
    finish(report, as_json, render_report)


@app.command("auth")
def auth(
    name: str,
    no_browser: bool = typer.Option(False, "--no-browser",
                                    help="Print the login URL and read the pasted redirect URL"),
) -> None:
    """Log in to Canto (OAuth): in a local browser, or over SSH by pasting the redirect URL."""
    from .workspace import run_sync

    with guarded():
        ws = workspace()
        doc = ws.connection(name)
        if doc["provider"] != "canto":
            from .errors import SettingsError

            raise SettingsError(f"{name} is a {doc['provider']} connection: only Canto needs "
                                "a browser login")
        from .providers.canto.auth import login_for_cli

        run_sync(login_for_cli(ws, name, open_browser=not no_browser,
                               read_line=lambda prompt: input(prompt), echo=err))
    console().print(f"[green]logged in[/]: {name}; next: damkit check {name}")


# --- sync and library ---------------------------------------------------------------------------


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
) -> None:
    """Sync every file carrying the tag into DAM Import/NAME/."""
    from .sync import sync_connection
    from .workspace import run_sync

    with guarded(as_json):
        ws = workspace()
        ws.connection(name)
        with ProgressRenderer(enabled=not as_json) as render:
            report = run_sync(sync_connection(ws, name, dry_run=dry_run, prune=prune,
                                              max_delete=max_delete, progress=render,
                                              rate=rate, concurrency=concurrency))
    finish(report, as_json, print_sync_report)


@library_app.command("stats")
def library_stats(connection: Optional[str] = typer.Option(None, "--connection", "-c"),
                  as_json: bool = JsonOption) -> None:
    """Counts per status and bytes, per connection."""
    with guarded(as_json):
        stats = workspace().library_stats(connection)
    if as_json:
        out(stats)
    else:
        console().print_json(json.dumps(stats, default=str))


@library_app.command("ls")
def library_ls(
    connection: Optional[str] = typer.Option(None, "--connection", "-c"),
    status: Optional[str] = typer.Option(None, "--status"),
    tag: Optional[str] = typer.Option(None, "--tag"),
    name: Optional[str] = typer.Option(None, "--name", help="Name contains"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JsonOption,
) -> None:
    """List assets in the index."""
    with guarded(as_json):
        rows = workspace().assets(connection=connection, status=status, tag=tag,
                                  name_contains=name)
    if as_json:
        out(rows[:limit] if limit else rows)
        return
    from rich.table import Table

    table = Table("connection", "id", "name", "status", "size", "path")
    for r in rows[:limit]:
        table.add_row(r.get("connection", ""), str(r.get("provider_id", "")), r.get("name", ""),
                      r.get("status", ""), str(r.get("size", "")), r.get("local_path") or "")
    console().print(table)
    if limit and len(rows) > limit:
        console().print(f"[dim]{len(rows) - limit} more; use --limit 0 for all[/]")


@library_app.command("audit")
def library_audit(
    connection: Optional[str] = typer.Option(None, "--connection", "-c"),
    offline: bool = typer.Option(False, "--offline",
                                 help="Compare the index with the files only; do not ask the DAM"),
    show: Optional[str] = typer.Option(None, "--show", help="List the assets of one status "
                                       "(current, missing, failed, stale, gone)"),
    as_json: bool = JsonOption,
) -> None:
    """What is tagged in the DAM against what reached the library, per status."""
    from .audit import STATUSES, audit
    from .workspace import run_sync

    with guarded(as_json):
        report = run_sync(audit(workspace(), connection, live=not offline))
    problems = sum(n for status, n in report.counts().items() if status != "current")
    if as_json:
        out({"live": report.live, "counts": report.counts(), "near_misses": report.near_misses(),
             "connections": [{**c.model_dump(mode="json", exclude={"rows"}),
                              "counts": c.counts()} for c in report.connections],
             "rows": [r.model_dump(mode="json") for r in report.rows
                      if show is None or r.status == show]})
        raise typer.Exit(0 if problems == 0 else 1)
    from rich.table import Table

    table = Table("connection", "tagged", *STATUSES, title="damkit audit",
                  caption="current: in both; missing: tagged, not in the library; stale: changed "
                  "in the DAM; gone: no longer tagged upstream")
    for c in report.connections:
        counts = c.counts()
        table.add_row(c.connection, "-" if c.eligible is None else str(c.eligible),
                      *(str(counts[s]) for s in STATUSES))
    con = console()
    con.print(table)
    for c in report.connections:
        if c.error:
            con.print(f"[yellow]{c.connection}:[/] the DAM could not be listed ({c.error}); "
                      "index only", highlight=False)
        for miss in c.near_misses:
            con.print(f"[yellow]{c.connection}:[/] {miss.count} file(s) carry {miss.spelling!r}, "
                      f"not {c.tag!r} (not imported)", highlight=False)
    for row in report.rows:
        if show is not None and row.status == show:
            con.print(f"  {row.connection} {row.asset_id} {row.name!r}: {row.detail}",
                      highlight=False)
    raise typer.Exit(0 if problems == 0 else 1)


@library_app.command("restore")
def library_restore(
    backup: Optional[Path] = typer.Option(None, "--backup",
                                          help="A backup folder (default: the latest)"),
) -> None:
    """Put a backup of the index back after damage; the damaged files are kept aside."""
    from .index import LibraryIndex
    from .workspace import default_home

    with guarded():
        root = (state.home or default_home()).expanduser().resolve()
        aside = LibraryIndex.restore(root / "index", backup)
    console().print(f"restored the index of {root}; the damaged files are in {aside}",
                    highlight=False)


@library_app.command("show")
def library_show(connection: str, asset_id: str, as_json: bool = JsonOption) -> None:
    """One asset's record."""
    with guarded(as_json):
        doc = workspace().index.get_asset(connection, asset_id)
        if doc is None:
            from .errors import NotFoundError

            raise NotFoundError(f"no asset {asset_id!r} in connection {connection!r}")
    if as_json:
        out(doc)
    else:
        for k, v in doc.items():
            console().print(f"{k}: {v!r}", highlight=False)


# --- workspace config, doctor, demo, sandbox ----------------------------------------------------


@config_app.command("show")
def config_show(as_json: bool = JsonOption) -> None:
    """Show the workspace settings."""
    with guarded(as_json):
        cfg = workspace().config()
    if as_json:
        out(cfg.model_dump())
    else:
        for k, v in cfg.model_dump().items():
            console().print(f"{k}: {v!r}", highlight=False)


@config_app.command("set")
def config_set(key: str, value: str) -> None:
    """Set a workspace setting (public_url, library_url_template)."""
    with guarded():
        from .errors import SettingsError
        from .workspace import WorkspaceConfig

        if key not in WorkspaceConfig.model_fields:
            raise SettingsError(f"unknown setting '{key}'", field=key,
                                hint="settings: " + ", ".join(WorkspaceConfig.model_fields))
        field = WorkspaceConfig.model_fields[key]
        parsed: Any = value.split(",") if field.annotation == list[str] else value
        workspace().set_config(**{key: parsed})
    console().print(f"{key} saved")


@app.command("doctor")
def doctor(as_json: bool = JsonOption) -> None:
    """Where the workspace is, which secret store is in use and why, and each connection's state."""
    with guarded(as_json):
        report = workspace().doctor()
    if as_json:
        out(report)
        return
    c = console()
    for k in ("version", "python", "workspace", "library", "secret_store", "assets"):
        c.print(f"{k}: {report[k]}", highlight=False)
    for line in report["secret_store_why"]:
        c.print(f"  - {line}", highlight=False)
    for w in report["warnings"]:
        c.print(f"[yellow]warning:[/] {w}", highlight=False)
    for conn in report["connections"]:
        check = conn.get("last_check") or {}
        sync = conn.get("last_sync") or {}
        state = ("check ok" if check.get("ok") else "check failed") if check else "never checked"
        if sync:
            state += f", last sync {sync.get('status', '?')}"
        if conn.get("logged_in") is False:
            state += ", not logged in (damkit auth " + conn["name"] + ")"
        c.print(f"connection {conn['name']} ({conn['provider']}): {state}", highlight=False)
        for field in conn["missing_secrets"]:
            c.print(f"  [red]missing secret[/] {field}: set it with `damkit connections edit "
                    f"{conn['name']} --secret {field}`", highlight=False)


@app.command("demo")
def demo(
    assets: int = typer.Option(300, "--assets", help="Assets per provider in the sandbox"),
    as_json: bool = JsonOption,
) -> None:
    """Start a sandbox, connect all three providers, check and sync them, print a summary."""
    from .demo import run_demo
    from .workspace import run_sync

    with guarded(as_json):
        rows = run_sync(run_demo(state.home, assets=assets))
    if as_json:
        out([r.model_dump(mode="json") if hasattr(r, "model_dump") else r for r in rows])
    else:
        from rich.table import Table

        table = Table("connection", "check", "eligible", "synced", "bytes", "seconds",
                      title="damkit demo")
        for r in rows:
            d = r.model_dump() if hasattr(r, "model_dump") else dict(r)
            table.add_row(d["connection"], "ok" if d.get("check_ok") else "failed",
                          str(d.get("eligible")), str(d.get("synced")), f"{d.get('bytes', 0):,}",
                          f"{d.get('seconds', 0):.2f}")
        console().print(table)
        if state.home is not None:
            from .demo import demo_root

            root = demo_root(state.home)
            console().print(f"files: {root / 'DAM Import'}\n"
                            f"index: damkit --home {root} library audit --offline\n"
                            "console: damkit tui --sandbox", highlight=False)
    ok = all((r.model_dump() if hasattr(r, "model_dump") else r).get("check_ok") for r in rows)
    raise typer.Exit(0 if ok else 1)


@app.command("sandbox")
def sandbox(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: Optional[int] = typer.Option(None, "--port"),
    assets: int = typer.Option(300, "--assets"),
    seed: int = typer.Option(7, "--seed"),
    latency_ms: float = typer.Option(0.0, "--latency-ms"),
    fault_rate: float = typer.Option(0.0, "--fault-rate"),
    rate_limit: list[str] = typer.Option([], "--rate-limit", metavar="PROVIDER=R",
                                         help="A limit clients are not told, e.g. canto=20"),
    allow_remote: bool = typer.Option(False, "--allow-remote",
                                      help="Allow a non-loopback host (the manifest serves every "
                                      "sandbox secret to whoever asks)"),
) -> None:
    """Serve the Bynder, Canto and Percolate emulators on one loopback port."""
    from .errors import SettingsError
    from .sandbox import serve

    with guarded():
        from .sandbox.faults import parse_rate_limits
        try:
            faults = parse_rate_limits(rate_limit)
        except ValueError as exc:
            raise SettingsError(str(exc), field="rate_limit") from None
        try:
            serve(host=host, port=port, assets=assets, seed=seed, latency_ms=latency_ms,
                  fault_rate=fault_rate, allow_remote=allow_remote, faults=faults)
        except ValueError as exc:
            raise SettingsError(f"--host: {exc}", field="host") from None


@events_app.command("request")
def events_request(name: str, as_json: bool = JsonOption) -> None:
    """The Event consumer URL and the ready-to-send request for the Bynder account manager."""
    from .events import event_url_info, request_text

    with guarded(as_json):
        ws = workspace()
        info = event_url_info(ws, name)
        text = request_text(ws, name)
    if as_json:
        out({**info, "request": text})
        return
    c = console()
    c.print(f"[b]Event consumer URL[/]: {info['url']}", highlight=False)
    c.print("\n" + text + "\n", highlight=False)
    for note in info.get("notes") or []:
        c.print(f"[yellow]note:[/] {note}", highlight=False)


@events_app.command("serve")
def events_serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback by default; put HTTPS in front"),
    port: int = typer.Option(8787, "--port"),
) -> None:
    """Run the SNS consumer: verify, confirm, and sync each changed asset."""
    from .events import serve_events

    with guarded():
        serve_events(workspace(), host=host, port=port)


@app.command("tui")
def tui(
    sandbox: bool = typer.Option(False, "--sandbox",
                                 help="Open on a workspace wired to a fresh sandbox"),
    assets: int = typer.Option(300, "--assets", help="Sandbox assets per provider"),
) -> None:
    """Open the keyboard-driven console (connections, guided setup, check, sync, library)."""
    from damkit_tui import run

    with guarded():
        run(state.home, sandbox=sandbox, assets=assets)


@app.command("version")
def version() -> None:
    """Print damkit's version."""
    from . import __version__

    print(__version__)


def main() -> None:
    from .redact import install_log_redaction

    install_log_redaction()
    try:
        app()
    except KeyboardInterrupt:
        err("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
