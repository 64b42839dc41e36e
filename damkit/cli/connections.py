"""``damkit connections ...``: add (guided on a terminal, or by --set/--secret), list, show,
edit and remove connections."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Any

import typer

from .common import (JsonOption, console, err, group, guarded, interactive, out, parse_sets,
                     read_secrets, workspace)

if TYPE_CHECKING:
    from ..workspace import Workspace

app = group("Add, list, show, edit and remove connections.")


def connection_view(ws: Workspace, doc: dict[str, Any]) -> dict[str, Any]:
    """A connection as shown to people and scripts: settings, secret sources (never values)."""
    from ..providers import settings_model

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
    if ws.spec(doc["name"]).capabilities.change_notifications:
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


@app.command("add")
def connections_add(
    provider: str = typer.Argument(..., help="The DAM: see `damkit providers list`"),
    name: str = typer.Argument(..., help="A unique slug, e.g. acme-dam"),
    set_: list[str] = typer.Option([], "--set", help="FIELD=VALUE (field name or label)"),
    secret: list[str] = typer.Option([], "--secret", help="FIELD to read hidden (repeatable)"),
    as_json: bool = JsonOption,
) -> None:
    """Add a connection. On a terminal with no --set/--secret, walk the provider's setup guide
    step by step (secrets hidden); in scripts, give --set and --secret (never prompts).
    Secrets go to the secret store, never to the index."""
    if not (set_ or secret or as_json) and interactive():
        walk_add(provider, name)
        return
    save_connection(set_, secret, as_json,
                    lambda ws, values: ws.add_connection(provider, name, values),
                    f"[green]saved[/] {name} ({provider}); next: damkit check {name}")


def walk_add(provider: str, name: str) -> None:
    """``damkit connections add PROVIDER NAME`` on a terminal: the guided walk."""
    from ..workspace import run_sync
    from .check import login_flow, render_report
    from .guide import walk

    def ask(prompt: str) -> str:
        return input(prompt)

    with guarded():
        ws = workspace()

        def login() -> None:
            run_sync(login_flow(ws, name, open_browser=True, read_line=getpass.getpass, echo=err))

        def check() -> None:
            render_report(run_sync(ws.check(name)))

        def hint(command: str) -> Any:
            return lambda: console().print(f"   run: {command}", highlight=False)

        walk(ws, provider, name, ask=ask, ask_secret=getpass.getpass,
             echo=lambda text: console().print(text, highlight=False, markup=False),
             actions={"auth": login, "check": check, "sync": hint(f"damkit sync {name}"),
                      "events-request": hint(f"damkit events request {name}")})
    console().print(f"[green]added[/] {name}; next: damkit check {name}", highlight=False)


@app.command("add-sandbox")
def connections_add_sandbox(
    url: str = typer.Argument(..., help="The sandbox's URL or its /_sandbox/manifest URL"),
    prefix: str = typer.Option("sandbox-", "--prefix", help="Name prefix of the connections"),
    as_json: bool = JsonOption,
) -> None:
    """Add the three sandbox connections from its manifest."""
    with guarded(as_json):
        from ..demo import add_sandbox_connections, login_sandbox_connections
        from ..workspace import run_sync

        ws = workspace()
        names = add_sandbox_connections(ws, url, prefix=prefix)
        run_sync(login_sandbox_connections(ws, names))  # Canto: play the user on the sandbox
    if as_json:
        out({"added": names})
    else:
        for n in names:
            console().print(f"[green]added[/] {n}")


@app.command("list")
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


@app.command("show")
def connections_show(name: str, as_json: bool = JsonOption) -> None:
    """One connection's settings (secrets masked) and status."""
    with guarded(as_json):
        ws = workspace()
        view = connection_view(ws, ws.connection(name))
    if as_json:
        out(view)
        return
    from ..providers import settings_model

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


@app.command("edit")
def connections_edit(
    name: str,
    set_: list[str] = typer.Option([], "--set", help="FIELD=VALUE"),
    secret: list[str] = typer.Option([], "--secret", help="FIELD to read hidden (repeatable)"),
    as_json: bool = JsonOption,
) -> None:
    """Change some fields of a connection."""
    save_connection(set_, secret, as_json, lambda ws, values: ws.edit_connection(name, values),
                    f"[green]saved[/] {name}")


@app.command("remove")
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
