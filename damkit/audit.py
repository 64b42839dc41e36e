"""The audit: what carries the tag in the DAM, what reached the library, and how they differ.

One :class:`AuditRow` per asset, from either side:

``current``   in the DAM with the tag and in the library, unchanged since it was synced
``missing``   carries the tag in the DAM, but the library has no whole copy (never synced, or
              the file was removed from the library folder)
``failed``    the last download failed (``error`` says why)
``stale``     the DAM's file changed since the library's copy (a new version, checksum or name)
``gone``      in the library, but no longer carries the tag upstream (untagged, deleted or
              archived); the file is kept unless the sync pruned it

Near misses (files carrying the tag in another case or with stray spaces) are counts per
spelling from the provider's check, not rows: the providers list only exact-tag assets.

``live=True`` lists the DAM side through the provider; ``live=False`` reads the index only (no
network: ``stale`` cannot be told apart, a record's last known state is used). The rules of what
counts as changed are the sync planner's (:func:`damkit.sync.plan.classify`), so the audit and
the next sync agree. Plain pydantic data here; the notebook turns it into DataFrames and plots.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from .errors import DamkitError
from .providers.base import NearMiss, RemoteAsset
from .redact import redact
from .sync.plan import classify

if TYPE_CHECKING:
    from .workspace import Workspace

AuditStatus = Literal["current", "missing", "failed", "stale", "gone"]

#: statuses in display order, with what they mean to an analyst
STATUS_LABELS: dict[str, str] = {
    "current": "in both, current",
    "missing": "tagged, missing from the library",
    "failed": "failed",
    "stale": "stale (changed in the DAM)",
    "gone": "gone upstream",
}
STATUSES: tuple[str, ...] = tuple(STATUS_LABELS)


class AuditRow(BaseModel):
    """One asset, seen from the DAM side and the library side."""

    connection: str
    provider: str
    asset_id: str
    name: str
    type: str = ""
    status: AuditStatus
    detail: str = ""  # why: the error of a failed download, what changed, where it went
    in_dam: bool | None = None  # carries the tag now (None: not known, live=False)
    in_library: bool = False  # the index has a record
    file_present: bool = False  # the library file is on disk
    dam_size: int | None = None
    dam_modified: str | None = None
    dam_version: str | None = None
    library_status: str | None = None  # the index record's status: synced | failed | gone
    library_size: int | None = None
    library_path: str | None = None  # relative to the workspace root
    last_synced: str | None = None
    gone_since: str | None = None
    error: str | None = None

    @property
    def size(self) -> int | None:
        return self.dam_size if self.dam_size is not None else self.library_size


class ConnectionAudit(BaseModel):
    """One connection's part of the audit."""

    connection: str
    provider: str
    tag: str = ""
    live: bool = True
    eligible: int | None = None  # assets listed with the tag (live); None when not listed
    library: int = 0  # index records of the connection
    near_misses: list[NearMiss] = Field(default_factory=list)
    error: str | None = None  # the DAM could not be listed: rows fall back to the index
    rows: list[AuditRow] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return _count(self.rows)


class AuditReport(BaseModel):
    """The audit of one or all connections."""

    live: bool
    connections: list[ConnectionAudit] = Field(default_factory=list)

    @property
    def rows(self) -> list[AuditRow]:
        return [row for conn in self.connections for row in conn.rows]

    def counts(self) -> dict[str, int]:
        """Assets per status, every status present (zeros included), in display order."""
        return _count(self.rows)

    def near_misses(self) -> list[dict[str, Any]]:
        """``{"connection", "tag", "spelling", "count"}`` per near-miss spelling."""
        return [{"connection": c.connection, "tag": c.tag, "spelling": m.spelling,
                 "count": m.count} for c in self.connections for m in c.near_misses]


def _count(rows: Iterable[AuditRow]) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for row in rows:
        out[row.status] += 1
    return out


# --- comparing (pure, apart from stat calls) --------------------------------------------------


def _file_present(root: Path, rel: str | None) -> bool:
    if not rel:
        return False
    try:
        return os.path.isfile(root / rel)
    except (OSError, ValueError):
        return False


def _library_side(row: dict[str, Any], record: dict[str, Any] | None, root: Path) -> None:
    if record is None:
        return
    error = record.get("last_error")
    row.update(in_library=True, library_status=record.get("status"),
               library_size=record.get("size"), library_path=record.get("local_path"),
               last_synced=record.get("last_synced"), gone_since=record.get("gone_since"),
               error=redact(str(error)) if error else None,
               file_present=_file_present(root, record.get("local_path")))


def _row_from_record(connection: str, provider: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"connection": connection, "provider": provider,
            "asset_id": str(record.get("provider_id")), "name": str(record.get("name") or ""),
            "type": str(record.get("type") or "")}


def classify_listed(asset: RemoteAsset, record: dict[str, Any] | None,
                    root: Path) -> tuple[AuditStatus, str]:
    """Status and reason of an asset the DAM lists with the tag."""
    if record is not None and record.get("status") == "failed":
        return "failed", redact(str(record.get("last_error") or "the last download failed"))
    kind = classify(asset, record, root)  # the sync planner's rule: the next sync agrees
    if kind == "unchanged":
        return "current", ""
    if kind == "changed":
        if record is not None and record.get("name") != asset.name:
            return "stale", f"renamed in the DAM (library copy: {record.get('name')!r})"
        return "stale", "a newer version in the DAM than the library's copy"
    if record is None:
        return "missing", "never synced"
    if record.get("status") == "gone" and not record.get("local_path"):
        return "missing", "tagged again after it was pruned"
    return "missing", "the library file is missing or incomplete"


def classify_record(record: dict[str, Any], root: Path, *,
                    listed: bool | None) -> tuple[AuditStatus, str]:
    """Status and reason of an index record the DAM does not list (``listed=False``), or of
    any record when the DAM side is not known (``listed=None``, index only)."""
    status = record.get("status")
    kept = "file kept" if record.get("local_path") else "file pruned"
    if listed is False:
        reason = record.get("gone_reason") or "untagged, deleted or archived"
        return "gone", f"{reason} upstream ({kept})"
    if status == "failed":
        return "failed", redact(str(record.get("last_error") or "the last download failed"))
    if status == "gone":
        reason = record.get("gone_reason") or "untagged, deleted or archived"
        return "gone", f"{reason} upstream since {record.get('gone_since') or '?'} ({kept})"
    if not _file_present(root, record.get("local_path")):
        return "missing", "the library file is missing"
    return "current", ""


def compare(connection: str, provider: str, listed: Iterable[RemoteAsset] | None,
            records: Iterable[dict[str, Any]], root: Path) -> list[AuditRow]:
    """Rows for one connection: the DAM listing (``None``: not known) against index records."""
    by_id = {str(r["provider_id"]): r for r in records}
    rows: list[AuditRow] = []
    seen: set[str] = set()
    if listed is not None:
        for asset in listed:
            if asset.id in seen:  # a page boundary may repeat an asset
                continue
            seen.add(asset.id)
            record = by_id.get(asset.id)
            status, detail = classify_listed(asset, record, root)
            row: dict[str, Any] = {
                "connection": connection, "provider": provider, "asset_id": asset.id,
                "name": asset.name, "type": asset.type, "in_dam": True,
                "dam_size": asset.size, "dam_modified": asset.modified,
                "dam_version": asset.version}
            _library_side(row, record, root)
            rows.append(AuditRow(status=status, detail=detail, **row))
    for pid, record in by_id.items():
        if pid in seen:
            continue
        status, detail = classify_record(record, root,
                                         listed=None if listed is None else False)
        row = _row_from_record(connection, provider, record)
        row["in_dam"] = None if listed is None else False
        _library_side(row, record, root)
        rows.append(AuditRow(status=status, detail=detail, **row))
    return rows


# --- gathering --------------------------------------------------------------------------------


async def _list_dam(ws: Workspace, name: str, *, near_misses: bool,
                    rate: float | None) -> tuple[list[RemoteAsset], list[NearMiss]]:
    async with ws.provider(name, rate=rate) as provider:
        misses: list[NearMiss] = []
        if near_misses:
            report = await provider.check()  # reads counts; does not record a check
            misses = list(report.near_misses)
        listed: list[RemoteAsset] = []
        async for page in provider.list_assets():
            listed.extend(page)
        return listed, misses


async def audit_connection(ws: Workspace, name: str, *, live: bool = True,
                           near_misses: bool = True, rate: float | None = None) -> ConnectionAudit:
    """Audit one connection. A DAM that cannot be listed is reported in ``error`` and the rows
    fall back to the index (nothing is written either way)."""
    doc = ws.connection(name)
    settings = ws.load_settings(name, require_secrets=False)
    tag = str(getattr(settings, type(settings).tag_field, "") or "")
    result = ConnectionAudit(connection=name, provider=doc["provider"], tag=tag, live=live)
    listed: list[RemoteAsset] | None = None
    if live:
        try:
            listed, result.near_misses = await _list_dam(ws, name, near_misses=near_misses,
                                                         rate=rate)
            result.eligible = len({a.id for a in listed})
        except DamkitError as exc:
            result.error = redact(exc.message + (f" ({exc.hint})" if exc.hint else ""))
    records = await asyncio.to_thread(ws.index.assets, connection=name)
    result.library = len(records)
    result.rows = await asyncio.to_thread(compare, name, doc["provider"], listed, records,
                                          ws.root)
    return result


async def audit(ws: Workspace, connection: str | None = None, *, live: bool = True,
                near_misses: bool = True, rate: float | None = None) -> AuditReport:
    """Audit one connection, or every connection of the workspace (concurrently)."""
    names = [connection] if connection is not None else [c["name"] for c in ws.connections()]
    parts = await asyncio.gather(*(audit_connection(ws, n, live=live, near_misses=near_misses,
                                                    rate=rate) for n in names))
    return AuditReport(live=live, connections=list(parts))


def run_history(ws: Workspace, connection: str | None = None) -> list[dict[str, Any]]:
    """Sync runs, oldest first, flattened: one dict per run with its counts and plan."""
    out: list[dict[str, Any]] = []
    for run in reversed(ws.index.runs(connection)):
        row: dict[str, Any] = {k: run.get(k) for k in ("id", "connection", "provider", "status",
                                                       "started", "finished", "seconds",
                                                       "bytes", "trigger", "error")}
        for key, value in (run.get("counts") or {}).items():
            row[key] = value
        for key, value in (run.get("plan") or {}).items():
            row[f"plan_{key}"] = value
        row["file_errors"] = len(run.get("errors") or [])
        if row.get("error"):
            row["error"] = redact(str(row["error"]))
        out.append(row)
    return out


__all__ = ["AuditReport", "AuditRow", "AuditStatus", "ConnectionAudit", "STATUSES",
           "STATUS_LABELS", "audit", "audit_connection", "classify_listed", "classify_record",
           "compare", "run_history"]
