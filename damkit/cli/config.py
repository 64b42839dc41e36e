"""``damkit config ...`` (workspace settings) and ``damkit doctor``."""

from __future__ import annotations

from typing import Any

from .common import JsonOption, app, console, group, guarded, out, workspace

config_app = group("Workspace settings (public URL, library URL template).")


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
        from ..errors import SettingsError
        from ..workspace import WorkspaceConfig

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
