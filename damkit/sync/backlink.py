"""The backlink: the library URL of each synced file, written into a Bynder text metaproperty."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import SyncError

if TYPE_CHECKING:
    from ..workspace import Workspace

CONFIG_HINT = ("set it with `damkit config set library_url_template "
               "'https://library.example.com/assets/{id}'` ({id}, {connection} and {path} are "
               "filled in), or turn the backlink off")


def backlink_wanted(settings: Any) -> bool:
    return bool(getattr(settings, "backlink", False))


def backlink_problem(ws: Workspace, settings: Any) -> str | None:
    """Why a backlink cannot be written for these settings (None when it can, or is off).

    Shared by the sync (which refuses to run) and the check (which reports it).
    """
    if not backlink_wanted(settings):
        return None
    if not ws.config().library_url_template:
        return ("the backlink is on but the workspace has no library URL template, so there is "
                "no address to write into Bynder")
    return None


def require_backlink_ready(ws: Workspace, settings: Any) -> None:
    problem = backlink_problem(ws, settings)
    if problem:
        raise SyncError(problem, hint=CONFIG_HINT)


def library_url(template: str, *, asset_id: str, connection: str, path: str) -> str:
    """Fill ``{id}``, ``{connection}`` and ``{path}`` (URL-quoted; ``path`` keeps its slashes).

    ``path`` is the file's path inside ``DAM Import/`` (``<connection>/<file>``).
    """
    return (template.replace("{id}", quote(asset_id, safe=""))
            .replace("{connection}", quote(connection, safe=""))
            .replace("{path}", quote(path, safe="/")))


__all__ = ["backlink_problem", "backlink_wanted", "library_url", "require_backlink_ready"]
