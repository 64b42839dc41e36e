"""``damkit config ...`` (workspace settings) and ``damkit doctor``."""

from __future__ import annotations

from typing import Any

from .common import JsonOption, app, cmd, group, guarded, out, say, workspace

config_app = group("Workspace settings (public URL, library URL template).")


@config_app.command("show")
def config_show(as_json: bool = JsonOption) -> None:
    """Show the workspace settings."""
    from ..display import clean

    with guarded(as_json):
        cfg = workspace().config()
    if as_json:
        out(cfg.model_dump())
    else:
        for k, v in cfg.model_dump().items():
            shown = ", ".join(v) if isinstance(v, list) else ("(not set)" if v is None else v)
            say(f"{k}: {clean(shown)}")


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
    say(f"{key} saved")


@app.command("doctor")
def doctor(as_json: bool = JsonOption) -> None:
    """Where the workspace is, which secret store is in use and why, and each connection's state."""
    from ..workspace import env_name as env_var_name

    with guarded(as_json):
        report = workspace().doctor()
    if as_json:
        out(report)
        return
    for k in ("version", "python", "workspace", "library", "secret_store", "assets"):
        say(f"{k}: {report[k]}")
    for line in report["secret_store_why"]:
        say(f"  - {line}")
    for w in report["warnings"]:
        say(f"warning: {w}")
    for conn in report["connections"]:
        check = conn.get("last_check") or {}
        sync = conn.get("last_sync") or {}
        state = ("check ok" if check.get("ok") else "check failed") if check else "never checked"
        if sync:
            state += f", last sync {sync.get('status', '?')}"
        if conn.get("logged_in") is False:
            state += f", not logged in ({cmd()} auth {conn['name']})"
        say(f"connection {conn['name']} ({conn['provider']}): {state}")
        for field in conn["missing_secrets"]:
            say(f"  missing secret {field}: set it with `{cmd()} connections edit {conn['name']} "
                f"--secret {field}`, or set {env_var_name(conn['name'], field)}")
