"""``damkit connections ...``: add (guided on a terminal, or by --set/--secret), list, show,
edit and remove connections."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Any

import typer

from .common import (
    JsonOption,
    cmd,
    err,
    group,
    guarded,
    interactive,
    out,
    parse_sets,
    print_table,
    read_secrets,
    refuse_secret_sets,
    say,
    workspace,
)

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


def save_connection(set_: list[str], secret: list[str], as_json: bool, save: Any,
                    done: Any, *, provider: str | None = None, name: str = "") -> None:
    """--set values and --secret prompts → ``save(ws, values)``; print the saved connection and
    ``done(ws, view)``'s lines. ``provider`` None: the connection ``name`` exists (an edit)."""
    from ..errors import SettingsError
    from ..providers import settings_model

    with guarded(as_json):
        values = parse_sets(set_)
        ws = workspace()
        model = settings_model(provider or ws.connection(name)["provider"])
        refuse_secret_sets(model, values, name)
        for field in secret:
            model.resolve_field_name(field)  # an unknown --secret field fails before any prompt
        values.update(read_secrets(secret))
        hint = missing_secret_hint(ws, model, name, values) if provider is not None else None
        try:
            doc = save(ws, values)
        except SettingsError as exc:
            if hint is not None and exc.hint is None:
                exc.hint = hint
            raise
        view = connection_view(ws, doc)
        lines = done(ws, view)
    if as_json:
        out(view)
    else:
        for line in lines:
            say(line)


def missing_secret_hint(ws: Workspace, model: Any, name: str,
                        values: dict[str, str]) -> str | None:
    """How to give the required secrets neither given with --secret nor set in the environment
    (both ways named), or None when none is missing."""
    from ..workspace import env_name

    given = {model.resolve_field_name(k) for k in values}
    missing = [f for f in model.secret_fields() if model.model_fields[f].is_required()
               and f not in given and ws.secrets.env_get(name, f) is None]
    if not missing:
        return None
    flags = " ".join(f"--secret {f}" for f in missing)
    env = ", ".join(env_name(name, f) for f in missing)
    return (f"give {flags} (read hidden on a terminal, else one line of standard input each), "
            f"or set {env} in the environment; nothing was saved")


def next_lines(ws: Workspace, name: str) -> list[str]:
    """What to do next for a connection, as the setup flow says (a login first where the
    provider declares one, with the Redirect URL to register)."""
    from ..errors import DamkitError
    from ..setup_flow import connection_state, setup_flow
    from ..workspace import run_sync

    doc = ws.connection(name)
    flow = setup_flow(doc["provider"])
    action = flow.next_action(connection_state(ws, name))
    commands = {"auth": f"{cmd()} auth {name}  (add --no-browser over SSH)",
                "check": f"{cmd()} check {name}", "sync": f"{cmd()} sync {name}"}
    if action not in commands:
        return []
    lines = [f"next: {commands[action]}"]
    if action == "auth":
        async def redirect() -> str:
            async with ws.login(name) as login:
                return str(login.start().redirect_uri)

        try:
            uri = run_sync(redirect())
        except (DamkitError, OSError, ValueError):  # a courtesy: a saved connection stays saved
            uri = None
        title = flow.spec.title
        if uri:
            lines.append(f"  Register this Redirect URL on the {title} API key first: {uri}")
        lines.append(f"  then: {cmd()} check {name}")
    return lines


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
                    lambda ws, view: [f"saved {name} ({view['provider']}); secrets: "
                                      + secrets_line(ws, view), *next_lines(ws, name)],
                    provider=provider, name=name)


def secrets_line(ws: Workspace, view: dict[str, Any]) -> str:
    """Where each secret of a saved connection is read from (never a value)."""
    refs = view.get("secrets") or {}
    if not refs:
        return "none"
    where = {f: ("environment" if r.startswith("secret:env:") else f"{ws.secrets.kind} store")
             for f, r in refs.items()}
    return ", ".join(f"{f} from the {w}" for f, w in where.items())


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
            return lambda: say(f"   run: {command}")

        walk(ws, provider, name, ask=ask, ask_secret=getpass.getpass,
             echo=say,
             actions={"auth": login, "check": check, "sync": hint(f"{cmd()} sync {name}"),
                      "events-request": hint(f"{cmd()} events request {name}")})
    say(f"added {name}")
    for line in next_lines(ws, name):
        say(line)


@app.command("add-sandbox")
def connections_add_sandbox(
    url: str = typer.Argument(..., help="The sandbox's URL or its /_sandbox/manifest URL"),
    prefix: str = typer.Option("sandbox-", "--prefix", help="Name prefix of the connections"),
    as_json: bool = JsonOption,
) -> None:
    """Add the three sandbox connections from its manifest."""
    with guarded(as_json):
        from ..demo import add_and_login_sandbox

        ws = workspace()
        names = add_and_login_sandbox(ws, url, prefix=prefix)  # Canto: plays the user
    if as_json:
        out({"added": names})
    else:
        for n in names:
            say(f"added {n}")
        if names:
            say(f"next: {cmd()} check {names[0]}")


@app.command("list")
def connections_list(as_json: bool = JsonOption) -> None:
    """Every connection with provider, tag, last check and last sync."""
    with guarded(as_json):
        ws = workspace()
        views = [connection_view(ws, d) for d in ws.connections()]
    if as_json:
        out(views)
        return
    rows = []
    for v in views:
        check = v.get("last_check") or {}
        sync = v.get("last_sync") or {}
        rows.append([v["name"], v["provider"], "-" if v["tag"] is None else v["tag"],
                     ("ok" if check.get("ok") else "failed") if check else "-",
                     str(check.get("eligible", "-")) if check else "-",
                     f"{sync.get('status', '')} {sync.get('at', '')}".strip() or "-"])
    if not rows:
        say(f"no connections yet: {cmd()} connections add PROVIDER NAME ({cmd()} providers list)")
        return
    print_table(["name", "provider", "tag", "last check", "eligible", "last sync"], rows)


@app.command("show")
def connections_show(name: str, as_json: bool = JsonOption) -> None:
    """One connection's settings (secrets masked) and status."""
    with guarded(as_json):
        ws = workspace()
        view = connection_view(ws, ws.connection(name))
    if as_json:
        out(view)
        return
    from ..display import clean
    from ..providers import settings_model

    model = settings_model(view["provider"])
    say(f"{view['name']} ({view['provider']})")
    for spec in model.fields():
        value = view["settings"].get(spec.name)
        if value is None and spec.advanced:
            continue
        if spec.secret:
            ref = view["secrets"].get(spec.name, "")
            text = ("(not set)" if not value else
                    "******** (from the environment)" if ref.startswith("secret:env:")
                    else "********")
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = "(not set)" if value in (None, "") else clean(value)
        say(f"  {spec.label}: {text}")
    if "event_consumer_url" in view:
        say("  Event consumer URL: " + (view["event_consumer_url"] or "(set the public URL: "
                                         "damkit config set public_url https://...)"))
    for key in ("created", "updated"):
        if view.get(key):
            say(f"  {key}: {view[key]}")
    check = view.get("last_check")
    if check:
        state = "ok" if check.get("ok") else "failed"
        say(f"  last check: {state}, {check.get('eligible', '-')} eligible, at {check.get('at', '-')}")
    sync = view.get("last_sync")
    if sync:
        extra = ", ".join(f"{k} {v}" for k, v in sync.items() if k not in ("status", "at")
                          and isinstance(v, (int, float, str)))
        say(f"  last sync: {sync.get('status', '?')} at {sync.get('at', '-')}"
            + (f" ({clean(extra)})" if extra else ""))


@app.command("edit")
def connections_edit(
    name: str,
    set_: list[str] = typer.Option([], "--set", help="FIELD=VALUE"),
    secret: list[str] = typer.Option([], "--secret", help="FIELD to read hidden (repeatable)"),
    as_json: bool = JsonOption,
) -> None:
    """Change some fields of a connection."""
    save_connection(set_, secret, as_json, lambda ws, values: ws.edit_connection(name, values),
                    lambda ws, view: [f"saved {name}"], name=name)


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
        say(f"removed {name}")
