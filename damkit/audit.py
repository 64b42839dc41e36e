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
network: ``stale`` cannot be told apart, a record's last known state is used). Whether a file is
present is asked of the workspace's library store (:mod:`damkit.storage`): the local folder, or
the bucket, listed once per connection. The rules of what
counts as changed are the sync planner's (:func:`damkit.sync.plan.classify`), so the audit and
the next sync agree. Plain pydantic data here; the notebook turns it into DataFrames and plots.

Flat in memory at any library size: the DAM listing is compared page by page with the index
records of that page, then the index records the DAM did not list are walked in chunks; nothing
holds every asset twice. :func:`audit` returns a summary (counts and bytes per status, per
connection) with at most ``limit`` rows; :func:`stream_rows` yields every row for callers that
want them all (a DataFrame built in chunks, a JSON Lines export).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from .errors import DamkitError
from .providers.base import NearMiss, RemoteAsset
from .redact import redact
from .sync.plan import Files, classify

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
    file_present: bool = False  # the library file is there (the folder, or the bucket)
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




#: rows an audit keeps by default; the counts always cover every asset
DEFAULT_LIMIT = 1000
#: index records compared per step of the stream
CHUNK = 500


def _zeros() -> dict[str, int]:
    return dict.fromkeys(STATUSES, 0)


class ConnectionAudit(BaseModel):
    """One connection's part of the audit: counts of every asset, and at most ``limit`` rows."""

    connection: str
    provider: str
    tag: str = ""
    live: bool = True
    eligible: int | None = None  # assets listed with the tag (live); None when not listed
    library: int = 0  # index records of the connection
    near_misses: list[NearMiss] = Field(default_factory=list)
    error: str | None = None  # the DAM could not be listed: rows fall back to the index
    status_counts: dict[str, int] = Field(default_factory=_zeros)  # every asset, per status
    status_bytes: dict[str, int] = Field(default_factory=_zeros)  # their sizes, per status
    rows: list[AuditRow] = Field(default_factory=list)  # the first `limit` rows asked for
    rows_omitted: int = 0  # rows asked for but left out by the limit

    def counts(self) -> dict[str, int]:
        """Assets per status (every asset, whatever the row limit), in display order."""
        return dict(self.status_counts)

    def _take(self, row: AuditRow, status: str | None, limit: int | None) -> None:
        self.status_counts[row.status] += 1
        self.status_bytes[row.status] += row.size or 0
        if status is not None and row.status != status:
            return
        if limit is None or len(self.rows) < limit:
            self.rows.append(row)
        else:
            self.rows_omitted += 1


class AuditReport(BaseModel):
    """The audit of one or all connections: a summary, and the rows kept (see ``limit``)."""

    live: bool
    limit: int | None = DEFAULT_LIMIT
    status: str | None = None  # rows kept only of this status (None: any)
    connections: list[ConnectionAudit] = Field(default_factory=list)

    @property
    def rows(self) -> list[AuditRow]:
        """The rows kept, connection by connection (``truncated`` says whether some were left out)."""
        return [row for conn in self.connections for row in conn.rows]

    @property
    def truncated(self) -> bool:
        return any(c.rows_omitted for c in self.connections)

    def counts(self) -> dict[str, int]:
        """Assets per status, every status present (zeros included), in display order."""
        out = _zeros()
        for conn in self.connections:
            for status, n in conn.status_counts.items():
                out[status] += n
        return out

    def bytes_by_status(self) -> dict[str, int]:
        """Bytes per status (the DAM's size where known, else the library's)."""
        out = _zeros()
        for conn in self.connections:
            for status, n in conn.status_bytes.items():
                out[status] += n
        return out

    def near_misses(self) -> list[dict[str, Any]]:
        """``{"connection", "tag", "spelling", "count"}`` per near-miss spelling."""
        return [{"connection": c.connection, "tag": c.tag, "spelling": m.spelling,
                 "count": m.count} for c in self.connections for m in c.near_misses]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: counts and bytes per status, overall and per connection."""
        return {"live": self.live, "counts": self.counts(), "bytes": self.bytes_by_status(),
                "near_misses": self.near_misses(),
                "connections": [c.model_dump(mode="json", exclude={"rows"})
                                for c in self.connections],
                "rows_kept": sum(len(c.rows) for c in self.connections),
                "rows_omitted": sum(c.rows_omitted for c in self.connections)}


# --- comparing (pure, apart from asking for files' sizes) -------------------------------------
#
# ``files`` is where the library files are: the workspace root (a folder, for tests and small
# callers) or a size lookup of the library store (``LibraryStore.size_lookup``: the folder, or
# a bucket listed once per connection), the same argument the sync planner takes.


def _file_present(files: Files, rel: str | None) -> bool:
    if not rel:
        return False
    if not isinstance(files, Path):
        return files(rel) is not None
    try:
        return os.path.isfile(files / rel)
    except (OSError, ValueError):
        return False


def _library_side(row: dict[str, Any], record: dict[str, Any] | None, files: Files) -> None:
    if record is None:
        return
    error = record.get("last_error")
    row.update(in_library=True, library_status=record.get("status"),
               library_size=record.get("size"), library_path=record.get("local_path"),
               last_synced=record.get("last_synced"), gone_since=record.get("gone_since"),
               error=redact(str(error)) if error else None,
               file_present=_file_present(files, record.get("local_path")))


def classify_listed(asset: RemoteAsset, record: dict[str, Any] | None,
                    files: Files) -> tuple[AuditStatus, str]:
    """Status and reason of an asset the DAM lists with the tag."""
    if record is not None and record.get("status") == "failed":
        return "failed", redact(str(record.get("last_error") or "the last download failed"))
    kind = classify(asset, record, files)  # the sync planner's rule: the next sync agrees
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


def classify_record(record: dict[str, Any], files: Files, *,
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
    if not _file_present(files, record.get("local_path")):
        return "missing", "the library file is missing"
    return "current", ""


def listed_rows(connection: str, provider: str, assets: Iterable[RemoteAsset],
                records: dict[str, dict[str, Any]], files: Files) -> list[AuditRow]:
    """Rows for assets the DAM lists with the tag, against their index records (by id)."""
    rows: list[AuditRow] = []
    for asset in assets:
        record = records.get(asset.id)
        status, detail = classify_listed(asset, record, files)
        row: dict[str, Any] = {
            "connection": connection, "provider": provider, "asset_id": asset.id,
            "name": asset.name, "type": asset.type, "in_dam": True,
            "dam_size": asset.size, "dam_modified": asset.modified,
            "dam_version": asset.version}
        _library_side(row, record, files)
        rows.append(AuditRow(status=status, detail=detail, **row))
    return rows


def record_rows(connection: str, provider: str, records: Iterable[dict[str, Any]], files: Files,
                *, listed: bool | None) -> list[AuditRow]:
    """Rows for index records the DAM did not list (``listed=False``) or, index only
    (``listed=None``), for records whose DAM side is not known."""
    rows: list[AuditRow] = []
    for record in records:
        status, detail = classify_record(record, files, listed=listed)
        row: dict[str, Any] = {
            "connection": connection, "provider": provider,
            "asset_id": str(record.get("provider_id")), "name": str(record.get("name") or ""),
            "type": str(record.get("type") or ""), "in_dam": listed}
        _library_side(row, record, files)
        rows.append(AuditRow(status=status, detail=detail, **row))
    return rows


def compare(connection: str, provider: str, listed: Iterable[RemoteAsset] | None,
            records: Iterable[dict[str, Any]], files: Files) -> list[AuditRow]:
    """Rows for one connection, all at once: the DAM listing (``None``: not known) against index
    records. Small inputs and tests; :func:`stream_rows` is the same comparison, streamed."""
    by_id = {str(r["provider_id"]): r for r in records}
    rows: list[AuditRow] = []
    seen: set[str] = set()
    if listed is not None:
        fresh = [a for a in listed if not (a.id in seen or seen.add(a.id))]  # type: ignore[func-returns-value]
        rows += listed_rows(connection, provider, fresh, by_id, files)
    rest = [r for pid, r in by_id.items() if pid not in seen]
    rows += record_rows(connection, provider, rest, files,
                        listed=None if listed is None else False)
    return rows


# --- streaming ----------------------------------------------------------------------------------


class _ListingFailed(Exception):
    """The DAM could not be listed (wraps the DamkitError): the audit falls back to the index."""

    def __init__(self, error: DamkitError) -> None:
        super().__init__(error.message)
        self.error = error


async def _listing(ws: Workspace, name: str, result: ConnectionAudit, *, near_misses: bool,
                   rate: float | None) -> AsyncIterator[list[RemoteAsset]]:
    """The DAM's pages of tagged assets; near misses into ``result``; failures as _ListingFailed."""
    try:
        async with ws.provider(name, rate=rate) as provider:
            if near_misses:
                report = await provider.check()  # reads counts; does not record a check
                result.near_misses = list(report.near_misses)
            pages = provider.list_assets().__aiter__()
            while True:
                try:
                    page = await pages.__anext__()
                except StopAsyncIteration:
                    break
                yield list(page)
    except DamkitError as exc:
        raise _ListingFailed(exc) from exc


async def _index_rows(ws: Workspace, name: str, provider: str, skip: set[str],
                      listed: bool | None, files: Files) -> AsyncIterator[list[AuditRow]]:
    """Rows of the connection's index records whose id is not in ``skip``, a chunk at a time."""
    stream = ws.index.iter_assets(name)

    def next_chunk() -> list[AuditRow]:
        chunk = []
        for record in stream:
            if str(record.get("provider_id")) not in skip:
                chunk.append(record)
                if len(chunk) >= CHUNK:
                    break
        return record_rows(name, provider, chunk, files, listed=listed)

    while rows := await asyncio.to_thread(next_chunk):
        yield rows


async def stream_rows(ws: Workspace, name: str, *, live: bool = True, near_misses: bool = True,
                      rate: float | None = None,
                      result: ConnectionAudit | None = None) -> AsyncIterator[list[AuditRow]]:
    """Every row of one connection's audit, in chunks (a DAM page, or 500 index records), each
    asset once: first the assets the DAM lists, then the index records it did not list.

    ``result`` (optional) receives the connection's facts as they become known: ``library``,
    ``eligible``, ``near_misses``, ``error``. When the DAM cannot be listed (at the start or
    partway), ``error`` says why, ``eligible`` stays None, and the index records not yet seen
    follow with ``in_dam`` None (not known); rows already yielded stay true.
    """
    record = ws.index.connection_record(name)
    provider = record.provider if record is not None else ws.connection(name)["provider"]
    facts = result if result is not None else ConnectionAudit(connection=name, provider=provider)
    facts.library = await asyncio.to_thread(ws.index.count_assets, name)
    # the library's files: stat in the folder, or one listing of the connection's prefix
    files = await asyncio.to_thread(ws.library_store().size_lookup, name)
    seen: set[str] = set()
    listed: bool | None = None
    if live:
        try:
            async for page in _listing(ws, name, facts, near_misses=near_misses, rate=rate):
                fresh: dict[str, RemoteAsset] = {}
                for asset in page:  # a page boundary may repeat an asset
                    if asset.id not in seen and asset.id not in fresh:
                        fresh[asset.id] = asset
                seen.update(fresh)
                if not fresh:
                    continue
                records = await asyncio.to_thread(ws.index.get_assets, name, list(fresh))
                yield await asyncio.to_thread(listed_rows, name, provider, fresh.values(),
                                              records, files)
            facts.eligible, listed = len(seen), False
        except _ListingFailed as failed:
            exc = failed.error
            facts.error = redact(exc.message + (f" ({exc.hint})" if exc.hint else ""))
    async for rows in _index_rows(ws, name, provider, seen, listed, files):
        yield rows


async def audit_connection(ws: Workspace, name: str, *, live: bool = True,
                           near_misses: bool = True, rate: float | None = None,
                           limit: int | None = DEFAULT_LIMIT,
                           status: str | None = None) -> ConnectionAudit:
    """Audit one connection: counts of every asset, and at most ``limit`` rows (None: all) of
    ``status`` (None: any). A DAM that cannot be listed is reported in ``error`` and the rows
    fall back to the index (nothing is written either way)."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    if limit is not None and limit < 0:
        raise ValueError("limit must be 0 or more (None: every row)")
    settings = ws.load_settings(name, require_secrets=False)
    tag = str(getattr(settings, type(settings).tag_field, "") or "")
    record = ws.index.connection_record(name)
    provider = record.provider if record is not None else ws.connection(name)["provider"]
    result = ConnectionAudit(connection=name, provider=provider, tag=tag, live=live)
    async for rows in stream_rows(ws, name, live=live, near_misses=near_misses, rate=rate,
                                  result=result):
        for row in rows:
            result._take(row, status, limit)
    return result


async def audit(ws: Workspace, connection: str | None = None, *, live: bool = True,
                near_misses: bool = True, rate: float | None = None,
                limit: int | None = DEFAULT_LIMIT, status: str | None = None) -> AuditReport:
    """Audit one connection, or every connection of the workspace (concurrently).

    The report counts every asset per status (``report.counts()``, ``bytes_by_status()``,
    ``summary()``); it keeps at most ``limit`` rows per connection (``None``: every row, which
    costs memory in proportion to the library) of ``status`` (``None``: any).
    """
    names = ([connection] if connection is not None
             else [c.name for c in ws.index.connection_records()])
    parts = await asyncio.gather(*(audit_connection(ws, n, live=live, near_misses=near_misses,
                                                    rate=rate, limit=limit, status=status)
                                   for n in names))
    return AuditReport(live=live, limit=limit, status=status, connections=list(parts))


def run_history(ws: Workspace, connection: str | None = None) -> list[dict[str, Any]]:
    """Sync runs, oldest first, flattened: one dict per run with its counts and plan."""
    out: list[dict[str, Any]] = []
    for run in reversed(ws.index.run_records(connection)):
        row: dict[str, Any] = {"id": run.id, "connection": run.connection,
                               "provider": run.provider, "status": run.status,
                               "started": run.started, "finished": run.finished,
                               "seconds": run.seconds, "bytes": run.bytes,
                               "trigger": run.trigger,
                               "error": redact(run.error) if run.error else None}
        row.update(run.counts)
        for key, value in run.plan.items():
            row[f"plan_{key}"] = value
        row["file_errors"] = len(run.errors)
        out.append(row)
    return out


__all__ = [
    "DEFAULT_LIMIT",
    "STATUSES",
    "STATUS_LABELS",
    "AuditReport",
    "AuditRow",
    "AuditStatus",
    "ConnectionAudit",
    "audit",
    "audit_connection",
    "classify_listed",
    "classify_record",
    "compare",
    "listed_rows",
    "record_rows",
    "run_history",
    "stream_rows",
]
