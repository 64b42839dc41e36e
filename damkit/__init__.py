"""damkit: connect a DAM (Bynder, Canto, Percolate) to an asset library.

The public API is small: open a :class:`Workspace`, add connections, check them, sync them.

>>> import damkit
>>> ws = damkit.open_workspace("/tmp/lib")            # doctest: +SKIP
>>> report = await ws.check("acme-bynder")            # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .errors import (
    AuthError,
    DamkitError,
    HttpError,
    IndexCorruptError,
    NotFoundError,
    SecretStoreError,
    SettingsError,
    SyncError,
)

if TYPE_CHECKING:
    from .workspace import Workspace, open_workspace

__all__ = [
    "AuthError",
    "DamkitError",
    "HttpError",
    "IndexCorruptError",
    "NotFoundError",
    "SecretStoreError",
    "SettingsError",
    "SyncError",
    "Workspace",
    "__version__",
    "open_workspace",
]


def __getattr__(name: str) -> Any:
    # Imported on first use so that `import damkit` (and `damkit --help`) stays light.
    if name in ("Workspace", "open_workspace"):
        from . import workspace

        return getattr(workspace, name)
    raise AttributeError(f"module 'damkit' has no attribute {name!r}")
