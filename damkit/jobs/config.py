"""Where the queue is, what is scheduled, and the names of the queue's locks (no queue import).

The queue's database: ``DAMKIT_QUEUE_URL`` (may hold a password; it is registered with the
redactor), else the workspace setting ``queue_url`` (never a password). Schedules: the workspace
setting ``sync_every`` (``NAME=MINUTES``, ``*=MINUTES`` for every other connection).
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import SettingsError
from ..settings import check_queue_url, parse_sync_every

if TYPE_CHECKING:
    from ..workspace import Workspace, WorkspaceConfig

QUEUE_ENV = "DAMKIT_QUEUE_URL"
INSTALL_HINT = "install the server parts: pip install 'damkit[server]'"


def queue_url(ws: Workspace, config: WorkspaceConfig | None = None) -> str | None:
    """The queue's PostgreSQL URL, or None when no queue is configured (syncs run in-process)."""
    env = os.environ.get(QUEUE_ENV, "").strip()
    if env:
        try:
            url = check_queue_url(env, stored=False)
        except ValueError as exc:
            raise SettingsError(f"{QUEUE_ENV}: {exc}", field=QUEUE_ENV) from None
        from ..redact import register_secret

        register_secret(urlsplit(url).password)
        return url
    return (config or ws.config()).queue_url


def require_url(ws: Workspace) -> str:
    url = queue_url(ws)
    if url is None:
        raise SettingsError(
            "no task queue is configured", field="queue_url",
            hint=f"set {QUEUE_ENV}=postgresql://USER@HOST:PORT/DATABASE, or `damkit config set "
                 "queue_url postgresql://USER@HOST:PORT/DATABASE` (docs/scale-out.md)")
    return url


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def server_parts() -> Any:
    """The queue library, or a SettingsError saying how to install it."""
    try:
        import procrastinate
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise SettingsError(f"the task queue needs {exc.name}, which is not installed",
                            hint=INSTALL_HINT) from None
    return procrastinate


def schedules(ws: Workspace, names: list[str] | None = None) -> dict[str, int]:
    """Minutes between scheduled syncs, per connection (only connections that exist)."""
    every = parse_sync_every(ws.config().sync_every)
    if names is None:
        names = [c["name"] for c in ws.connections()]
    default = every.get("*")
    out = {name: every.get(name, default) for name in names}
    return {name: minutes for name, minutes in out.items() if minutes}


def cron_for(name: str, minutes: int) -> str:
    """A cron line running every ``minutes``, offset per connection so that a thousand
    connections on one schedule do not all start on the same minute."""
    offset = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    if minutes <= 60:
        first = offset % minutes
        return f"{first}-59/{minutes} * * * *" if minutes < 60 else f"{first} * * * *"
    hours = minutes // 60
    return f"{offset % 60} {(offset // 60) % hours}-23/{hours} * * *"


# --- lock names: one run per connection at a time, across every worker ------------------------

def connection_lock(name: str) -> str:
    """procrastinate ``lock``: jobs sharing it run one at a time, in order."""
    return f"damkit:connection:{name}"


def sync_queueing_lock(name: str) -> str:
    """At most one sync of a connection waiting: a second enqueue joins the waiting one."""
    return f"damkit:sync:{name}"


def change_queueing_lock(name: str, asset_id: str) -> str:
    """At most one waiting job per changed asset (it re-reads the asset when it runs)."""
    return f"damkit:change:{name}:{asset_id}"


__all__ = ["INSTALL_HINT", "QUEUE_ENV", "change_queueing_lock", "connection_lock", "cron_for",
           "queue_url", "require_url", "schedules", "server_parts", "shown_url",
           "sync_queueing_lock"]
