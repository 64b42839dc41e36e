"""The sync engine: tag-driven, idempotent, resumable sync of a connection into "DAM Import".

>>> report = await sync_connection(ws, "acme")            # doctest: +SKIP
>>> outcome = await sync_one(ws, "acme", "asset-id")        # doctest: +SKIP
"""

from ..progress import ProgressEvent, ProgressStream
from .backlink import backlink_problem, library_url
from .engine import DEFAULT_CONCURRENCY, sync_connection, sync_one
from .models import PLAN_CATEGORIES, AssetStatus, FileError, PlanSummary, SyncReport

__all__ = ["DEFAULT_CONCURRENCY", "PLAN_CATEGORIES", "AssetStatus", "FileError", "PlanSummary",
           "ProgressEvent", "ProgressStream",
           "SyncReport", "backlink_problem", "library_url", "sync_connection", "sync_one"]
