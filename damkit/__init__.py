"""damkit: connect a DAM (Bynder, Canto, Percolate) to an asset library.

The public API is small: open a :class:`Workspace`, add connections, check them, sync them; every
failure is one of the errors below (a typed tree rooted at :class:`DamkitError`), so callers
branch on the class, never on message text.

>>> import damkit
>>> ws = damkit.open_workspace("/tmp/lib")            # doctest: +SKIP
>>> report = await ws.check("acme-bynder")            # doctest: +SKIP

``import damkit`` stays light (no HTTP client, no console, no notebook libraries): the workspace
is imported on first use of ``damkit.Workspace`` or ``damkit.open_workspace``.
tests/test_public_api.py holds the list below to what is intended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The one version source: pyproject.toml reads it ([tool.setuptools.dynamic]).
__version__ = "0.1.0"

from .errors import (
    AuthError,
    BadAnswer,
    BodyCut,
    CircuitOpen,
    CredentialsRefused,
    DamkitError,
    Forbidden,
    HttpError,
    IndexCorruptError,
    IndexLockedError,
    IndexUnavailableError,
    LocalStorageError,
    NotFoundError,
    RateLimited,
    RemoteNotFound,
    SecretStoreError,
    SettingsError,
    SyncError,
    Unavailable,
    Unreachable,
)

if TYPE_CHECKING:
    from .workspace import Workspace, open_workspace

__all__ = [
    "AuthError",
    "BadAnswer",
    "BodyCut",
    "CircuitOpen",
    "CredentialsRefused",
    "DamkitError",
    "Forbidden",
    "HttpError",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexUnavailableError",
    "LocalStorageError",
    "NotFoundError",
    "RateLimited",
    "RemoteNotFound",
    "SecretStoreError",
    "SettingsError",
    "SyncError",
    "Unavailable",
    "Unreachable",
    "Workspace",
    "open_workspace",
]

_LAZY = ("Workspace", "open_workspace")


def __getattr__(name: str) -> Any:
    # Imported on first use so that `import damkit` (and `damkit --help`) stays light.
    if name in _LAZY:
        from . import workspace

        return getattr(workspace, name)
    raise AttributeError(f"module 'damkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
