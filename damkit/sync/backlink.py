"""The backlink: the library URL of each synced file, written into a field of the DAM's asset
(providers whose capabilities declare ``backlink``; the settings say whether it is on).

These functions take what they need (the settings, the workspace's library URL template) as
arguments, so the workspace can use them without this module importing it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from ..errors import SyncError

if TYPE_CHECKING:
    from ..settings import ConnectionSettings

CONFIG_HINT = ("set it with `damkit config set library_url_template "
               "'https://library.example.com/assets/{id}'` ({id}, {connection} and {path} are "
               "filled in), or turn the backlink off")


def backlink_wanted(settings: ConnectionSettings) -> bool:
    from ..providers import find

    spec = find(settings.provider)
    return (spec is not None and spec.capabilities.backlink
            and settings.backlink_property_label() is not None)


def backlink_problem(template: str | None, settings: ConnectionSettings) -> str | None:
    """Why a backlink cannot be written for these settings, given the workspace's library URL
    ``template`` (None when it can, or is off).

    Shared by the sync (which refuses to run) and the check (which reports it).
    """
    if not backlink_wanted(settings):
        return None
    if not template:
        return ("the backlink is on but the workspace has no library URL template, so there is "
                "no address to write into the DAM")
    return None


def require_backlink_ready(template: str | None, settings: ConnectionSettings) -> None:
    problem = backlink_problem(template, settings)
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
