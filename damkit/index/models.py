"""Typed records the index hands out: connections, assets, sync runs, and library counts.

The index stores JSON documents and keeps every field it is given (``extra="allow"``: a field
added by a newer damkit survives an older one's read-modify-write). These models are the typed
view at the public surface (``LibraryIndex.connection_record``, ``asset_record``,
``run_records``...): the named fields are checked, the rest stays reachable through
``model_extra``. Writes still take dicts (``put_connection``, ``upsert_assets``); a record goes
back with ``record.to_doc()``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    def to_doc(self) -> dict[str, Any]:
        """The JSON document as the index stores it (unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_unset=True)


class LastCheck(_Record):
    """The outcome of the connection's latest Test Connection."""

    at: str
    ok: bool
    eligible: int | None = None
    failure: str | None = None
    permissions: dict[str, Any] | None = None


class LastSync(_Record):
    """A summary of the connection's latest sync run."""

    at: str
    run_id: str | None = None
    status: str
    synced: int = 0
    failed: int = 0
    gone: int = 0
    bytes: int = 0


class ConnectionRecord(_Record):
    """A connection's settings as stored (secret values never: ``secrets`` holds references)."""

    name: str
    provider: str
    settings: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)  # field -> "secret:<store>:<conn>/<field>"
    created: str | None = None
    updated: str | None = None
    last_check: LastCheck | None = None
    last_sync: LastSync | None = None


class AssetRecord(_Record):
    """One asset of a connection as the library knows it.

    ``status``: ``synced`` | ``failed`` | ``gone`` (or another word a sync wrote); ``local_path``
    is relative to the workspace root; ``fingerprint`` decides "changed" (see the sync planner).
    """

    connection: str
    provider_id: str
    provider: str | None = None
    name: str | None = None
    type: str | None = None
    size: int | None = None
    checksum: str | None = None
    tags: list[str] = Field(default_factory=list)
    modified: str | None = None
    version: str | int | None = None
    local_path: str | None = None
    status: str | None = None
    fingerprint: str | None = None
    last_synced: str | None = None
    last_attempt: str | None = None
    last_error: str | None = None
    failures: int = 0
    gone_since: str | None = None
    gone_reason: str | None = None
    pruned: str | bool | None = None


class FileError(_Record):
    """One file that failed in a run."""

    asset_id: str | None = None
    name: str | None = None
    error: str | None = None


class RunRecord(_Record):
    """One sync run: what was planned, what happened, how long it took."""

    id: str
    connection: str | None = None
    provider: str | None = None
    status: str | None = None  # running | ok | partial | failed | dry_run | cancelled
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    bytes: int | None = None
    trigger: str | None = None
    prune: bool | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    plan: dict[str, Any] = Field(default_factory=dict)
    errors: list[FileError] = Field(default_factory=list)
    error: str | None = None


class StatusCounts(BaseModel):
    """Assets and bytes, with the number of assets per status."""

    model_config = ConfigDict(frozen=True)

    assets: int = 0
    bytes: int = 0
    by_status: dict[str, int] = Field(default_factory=dict)


class LibraryStats(StatusCounts):
    """:class:`StatusCounts` for the whole library (or one connection), and per connection."""

    by_connection: dict[str, StatusCounts] = Field(default_factory=dict)


__all__ = ["AssetRecord", "ConnectionRecord", "FileError", "LastCheck", "LastSync",
           "LibraryStats", "RunRecord", "StatusCounts"]
