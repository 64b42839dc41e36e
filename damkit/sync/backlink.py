"""The backlink: the library URL of each synced file, written into a field of the DAM's asset
(providers whose capabilities declare ``backlink``; the settings say whether it is on).

The rule "the backlink needs the workspace's library URL template" is the workspace's
(:meth:`Workspace.backlink_problem`, used by Test Connection); the sync refuses to run on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from ..errors import SyncError
from ..workspace import BACKLINK_HINT as CONFIG_HINT

if TYPE_CHECKING:
    from ..settings import ConnectionSettings
    from ..workspace import Workspace


def backlink_wanted(settings: ConnectionSettings) -> bool:
    """The settings turn the backlink on (only providers that declare one can)."""
    return settings.backlink_property_label() is not None


def backlink_problem(ws: Workspace, settings: ConnectionSettings) -> str | None:
    """Why a backlink cannot be written for these settings (None when it can, or is off)."""
    return ws.backlink_problem(settings)


def require_backlink_ready(ws: Workspace, settings: ConnectionSettings) -> None:
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
