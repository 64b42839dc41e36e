"""Which index a workspace opens: the file index in a folder (the default) or a PostgreSQL
database, from ``DAMKIT_INDEX_URL`` or the workspace's ``index_url`` setting."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SettingsError

if TYPE_CHECKING:
    from .api import Index

ENV_INDEX_URL = "DAMKIT_INDEX_URL"
"""Environment variable naming the index database (``postgresql://user@host:port/db``)."""

URL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(target: object) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a folder."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def index_location(default: Path, *, env: Mapping[str, str] | None = None,
                   configured: str | None = None) -> str | Path:
    """Where to open the index: ``DAMKIT_INDEX_URL`` (from ``env``, else the process
    environment), else the workspace's ``index_url`` setting, else the folder ``default``."""
    environ = os.environ if env is None else {**os.environ, **env}
    url = (environ.get(ENV_INDEX_URL) or "").strip()
    if url:
        if not is_database_url(url):
            raise SettingsError(f"{ENV_INDEX_URL} must be a postgresql:// URL, got {url[:20]!r}...",
                                field=ENV_INDEX_URL,
                                hint="e.g. postgresql://damkit@db.example.com:5432/damkit, or "
                                     "unset it for the index in the workspace folder")
        return url
    return configured or default


def open_index(target: str | os.PathLike[str], *, lock_timeout: float = 30.0) -> Index:
    """Open the library index at ``target``: a ``postgresql://`` URL (the server backend,
    ``pip install 'damkit[server]'``) or a folder (the file index, created if missing)."""
    if is_database_url(target):
        assert isinstance(target, str)
        try:
            import psycopg  # noqa: F401  (the server extra)
        except ImportError:
            raise SettingsError(
                "the index is a PostgreSQL database but psycopg is not installed",
                field=ENV_INDEX_URL,
                hint="pip install 'damkit[server]'") from None
        from .postgres import PgIndex

        return PgIndex.open(target, lock_timeout=lock_timeout)
    from .repository import LibraryIndex

    return LibraryIndex.open(Path(target), lock_timeout=lock_timeout)


__all__ = ["ENV_INDEX_URL", "index_location", "is_database_url", "open_index"]
