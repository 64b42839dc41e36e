"""Plan, before acting: sort every listed asset against the index and the library's files.

Pure apart from reading file sizes (``stat``, or one listing of a bucket): nothing is written
here. ``dry_run`` stops after this step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..library import LIBRARY_FOLDER, library_name
from ..providers.base import RemoteAsset
from .models import PlanSummary

Category = Literal["new", "changed", "retry"]


@dataclass
class Job:
    """One file to fetch."""

    asset: RemoteAsset
    category: Category
    rel_path: str  # relative to the workspace root, "/"-separated: "DAM Import/<conn>/<file>"
    old_path: str | None = None  # the record's previous file, removed once the new one is in place
    try_adopt: bool = False  # a file is already at rel_path: keep it if its checksum matches


@dataclass
class Plan:
    connection: str
    jobs: list[Job] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refresh: dict[str, dict[str, Any]] = field(default_factory=dict)  # metadata-only updates
    gone: list[str] = field(default_factory=list)
    listed: dict[str, RemoteAsset] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "changed": 0, "retry": 0})

    def summary(self) -> PlanSummary:
        return PlanSummary(listed=len(self.listed), new=self.counts["new"],
                           changed=self.counts["changed"], retry=self.counts["retry"],
                           unchanged=len(self.unchanged), gone=len(self.gone))


def metadata(asset: RemoteAsset) -> dict[str, Any]:
    """The provider's facts about an asset, as the index records them."""
    return {"name": asset.name, "type": asset.type, "size": asset.size,
            "checksum": asset.checksum, "tags": list(asset.tags), "modified": asset.modified,
            "version": asset.version}


#: the library's files: a workspace folder (stat under it), or a record path -> size lookup
#: (``LibraryStore.size_lookup``; None when the file is absent)
Files = Path | Callable[[str], int | None]


def _size(files: Files, rel: str) -> int | None:
    if not isinstance(files, Path):
        return files(rel)
    try:
        return os.stat(files / rel).st_size
    except OSError:
        return None


def _file_ok(files: Files, rel: str | None, size: int | None) -> bool:
    if not rel:
        return False
    found = _size(files, rel)
    return found is not None and (size is None or found == size)


class PathBook:
    """Local paths in use by a connection (case-folded: libraries get copied to macOS/Windows)."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self._owner: dict[str, str] = {}
        for rec in records:
            if rec.get("local_path"):
                self._owner.setdefault(rec["local_path"].casefold(), rec["provider_id"])

    def claim(self, rel: str, provider_id: str) -> bool:
        owner = self._owner.setdefault(rel.casefold(), provider_id)
        return owner == provider_id

    def release(self, rel: str, provider_id: str) -> None:
        if self._owner.get(rel.casefold()) == provider_id:
            del self._owner[rel.casefold()]


def local_path(connection: str, asset: RemoteAsset, book: PathBook) -> str:
    """The asset's path relative to the workspace; a longer id only on a (rare) clash."""
    for length in (8, 16, 52):
        name = library_name(asset.name, asset.id, asset.type, id_length=length)
        rel = f"{LIBRARY_FOLDER}/{connection}/{name}"
        if book.claim(rel, asset.id):
            return rel
    raise RuntimeError(f"no free local name for asset {asset.id!r}")  # 256-bit clash: unreachable


def target_path(connection: str, asset: RemoteAsset, record: dict[str, Any] | None,
                book: PathBook) -> str:
    """Reuse the recorded path while the name is the same (stable across runs)."""
    if record and record.get("local_path") and record.get("name") == asset.name:
        return str(record["local_path"])
    return local_path(connection, asset, book)


def classify(asset: RemoteAsset, record: dict[str, Any] | None, files: Files) -> str:
    """``new`` | ``changed`` | ``retry`` | ``unchanged`` for one listed asset."""
    if record is None or (record.get("status") == "gone" and not record.get("local_path")):
        return "new"
    known = record.get("fingerprint")
    if known and (known != asset.fingerprint or record.get("name") != asset.name):
        return "changed"
    if record.get("status") == "failed" or not known:
        return "retry"
    if not _file_ok(files, record.get("local_path"), record.get("size")):
        return "retry"
    return "unchanged"


def make_plan(connection: str, listed: Iterable[RemoteAsset], records: dict[str, dict[str, Any]],
              files: Files) -> Plan:
    """Compare the listing with the index records (``provider_id -> record``) and the files."""
    plan = Plan(connection)
    for asset in listed:
        plan.listed.setdefault(asset.id, asset)  # a page boundary may repeat an asset
    book = PathBook(records.values())
    for asset in plan.listed.values():
        record = records.get(asset.id)
        kind = classify(asset, record, files)
        if kind == "unchanged" and record is not None:
            plan.unchanged.append(asset.id)
            fresh = metadata(asset)
            delta = {k: v for k, v in fresh.items() if record.get(k) != v}
            if record.get("status") != "synced":
                delta["status"] = "synced"
                delta["gone_since"] = None
            if delta:
                plan.refresh[asset.id] = delta
            continue
        rel = target_path(connection, asset, record, book)
        old = record.get("local_path") if record else None
        try_adopt = bool(asset.checksum) and asset.size is not None \
            and _file_ok(files, rel, asset.size)
        previous = old if old and old != rel else None
        plan.jobs.append(Job(asset, kind, rel, previous, try_adopt))  # type: ignore[arg-type]
        plan.counts[kind] += 1
    for pid, record in records.items():
        if pid not in plan.listed and record.get("status") in ("synced", "failed"):
            plan.gone.append(pid)
    return plan


__all__ = ["Job", "PathBook", "Plan", "classify", "make_plan", "metadata", "target_path"]
