"""What a sync returns: :class:`SyncReport` (pydantic, JSON-ready for ``--json``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

RunStatus = Literal["ok", "partial", "failed", "cancelled", "dry_run"]
AssetStatus = Literal["synced", "failed", "gone"]

#: plan categories, in display order
PLAN_CATEGORIES = ("listed", "new", "changed", "retry", "unchanged", "gone")


class PlanSummary(BaseModel):
    """How the listed assets compare with the index.

    ``retry``: known assets whose last download failed, or whose local file is missing or has the
    wrong size (they are downloaded again). ``gone``: records of this connection that the
    listing no longer has (untagged, deleted or archived upstream), marked in this run.
    """

    listed: int = 0
    new: int = 0
    changed: int = 0
    retry: int = 0
    unchanged: int = 0
    gone: int = 0

    @property
    def to_download(self) -> int:
        return self.new + self.changed + self.retry


class FileError(BaseModel):
    asset_id: str
    name: str
    error: str


class PlannedFile(BaseModel):
    """One file a run would download (listed by a dry run)."""

    asset_id: str
    name: str
    action: str  # "new" | "changed" | "retry"
    size: int | None = None
    path: str  # relative to the workspace root


class SyncReport(BaseModel):
    """Outcome of one run of :func:`damkit.sync.sync_connection`."""

    connection: str
    provider: str
    run_id: str | None = None
    status: RunStatus = "ok"
    dry_run: bool = False
    plan: PlanSummary = Field(default_factory=PlanSummary)
    downloaded: int = 0  # files fetched and put in place
    adopted: int = 0  # already whole on disk (verified by checksum), recorded without download
    failed: int = 0
    unchanged: int = 0
    gone: int = 0  # marked gone in this run (each confirmed by the DAM)
    not_gone: int = 0  # missing from the listing but still tagged when asked: left as they are
    pruned: int = 0  # files of gone assets removed (prune=True)
    backlinks: int = 0  # backlink URLs written (Bynder)
    backlink_failed: int = 0
    bytes: int = 0  # bytes downloaded
    seconds: float = 0.0
    requests: int = 0  # download attempts started (not counting HTTP-level retries)
    http_429: int = 0  # 429 answers the provider gave during the run
    throttled_s: float = 0.0  # seconds the run was held by 429s (the union of the holds)
    min_concurrency: int = 0  # lowest download concurrency the adaptive gate went down to
    errors: list[FileError] = Field(default_factory=list)
    planned: list[PlannedFile] = Field(default_factory=list)  # dry run: the files it would fetch
    error: str | None = None  # run-level failure (listing failed, disk full, ...)

    @property
    def synced(self) -> int:
        """Files whole in the library after this run that are eligible now."""
        return self.downloaded + self.adopted + self.unchanged

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "dry_run")

    def counts(self) -> dict[str, int]:
        return {"downloaded": self.downloaded, "adopted": self.adopted, "failed": self.failed,
                "unchanged": self.unchanged, "gone": self.gone, "pruned": self.pruned,
                "backlinks": self.backlinks, "backlink_failed": self.backlink_failed}


__all__ = [
    "PLAN_CATEGORIES",
    "AssetStatus",
    "FileError",
    "PlanSummary",
    "PlannedFile",
    "RunStatus",
    "SyncReport",
]
