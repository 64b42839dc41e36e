"""What a queue job does, with no queue in sight: run a sync or re-read one changed asset, record
the job in the index, and say whether (and when) the work must be tried again.

The per-asset steps are idempotent (docs/sync.md), so a job that is run again after its worker
was killed loses nothing and duplicates nothing: the journal replays what was in flight, ``.part``
files are swept, and each asset lands under the same name with the same record.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import DamkitError, NotFoundError, SettingsError
from ..redact import redact

if TYPE_CHECKING:
    from ..workspace import Workspace

log = logging.getLogger("damkit.jobs")

#: Tries of one piece of work (the first run and its follow-ups) before the job is left failed;
#: a schedule or the next notification brings the work back anyway.
MAX_ATTEMPTS = 6
RETRY_BASE = 5.0  # seconds before the 2nd try; doubled for each further one
RETRY_MAX = 300.0


@dataclass
class Outcome:
    """How a job ended: ``result`` for the job's record, ``retry_in`` seconds when the work must
    be tried again (as a new job, after that wait), else None."""

    result: dict[str, Any]
    retry_in: float | None = None


def backoff(attempt: int) -> float:
    """Seconds before try ``attempt + 1`` (jittered)."""
    delay = min(RETRY_MAX, RETRY_BASE * 2 ** (max(1, attempt) - 1))
    return round(float(delay) * (0.75 + random.random() / 2), 1)


async def _event(ws: Workspace, doc: dict[str, Any]) -> None:
    try:
        await asyncio.to_thread(ws.index.add_event, doc)
    except Exception as exc:  # noqa: BLE001 - a full index must not fail the job
        log.warning("could not record a queue event: %s", redact(str(exc)))


async def recorded(ws: Workspace, kind: str, job: dict[str, Any], work: Any) -> Outcome:
    """Run ``work`` (a coroutine giving an Outcome) between two index events,
    ``queue.started`` and ``queue.finished``, which carry the job id, the worker and exact
    times: what ran where and when, and the proof that runs of one connection never overlap."""
    started = time.time()
    await _event(ws, {"kind": "queue.started", "task": kind, **job, "started": started})
    outcome: Outcome = await work
    finished = time.time()
    status = outcome.result.get("status")
    await _event(ws, {"kind": "queue.finished", "task": kind, **job, "started": started,
                      "finished": finished, "outcome": status, "retry_in": outcome.retry_in})
    what = f"{kind} of {job['connection']}" + (f" asset {job['asset']}" if "asset" in job else "")
    log.info("%s: %s (job %s, try %s, %.1f s)", what, status, job.get("job_id"),
             job.get("attempt"), finished - started)
    return outcome


def _retry_or_fail(result: dict[str, Any], attempt: int) -> Outcome:
    if attempt >= MAX_ATTEMPTS:
        result["gave_up"] = True
        return Outcome(result)
    return Outcome(result, retry_in=backoff(attempt))


async def sync_work(ws: Workspace, connection: str, *, attempt: int, rate: float | None = None,
                    concurrency: int | None = None, prune: bool = False,
                    max_delete: int | None = None) -> Outcome:
    """One sync of ``connection``. Tried again later: a run that failed (the DAM down, throttled
    past its patience), one refused because another sync of the connection holds its lock, and
    one cancelled by the worker's shutdown (after its grace time; queued again at once). Not
    tried again: bad settings (a person must fix them), a connection that no longer exists."""
    from ..sync import sync_connection

    try:
        report = await sync_connection(ws, connection, prune=prune, max_delete=max_delete,
                                       rate=rate, concurrency=concurrency)
    except NotFoundError as exc:
        return Outcome({"status": "dropped", "error": exc.message})
    except SettingsError as exc:
        return Outcome({"status": "failed", "error": exc.message, "hint": exc.hint})
    except asyncio.CancelledError:  # the worker is stopping: what finished is recorded
        return Outcome({"status": "cancelled"}, retry_in=1.0)
    except DamkitError as exc:  # e.g. another sync holds the connection's lock
        return _retry_or_fail({"status": "failed", "error": exc.message}, attempt)
    result = {"status": report.status, "run_id": report.run_id, "synced": report.synced,
              "downloaded": report.downloaded, "failed": report.failed, "gone": report.gone,
              "error": report.error}
    if report.status in ("failed", "cancelled"):
        return _retry_or_fail(result, attempt)
    return Outcome(result)


async def change_work(ws: Workspace, connection: str, asset_id: str, *, attempt: int) -> Outcome:
    """Re-read one changed asset (a change notification) and bring it in line."""
    from ..sync import sync_one

    try:
        status = await sync_one(ws, connection, asset_id)
    except NotFoundError as exc:
        if ws.index.get_connection(connection) is None:
            return Outcome({"status": "dropped", "error": exc.message})
        return _retry_or_fail({"status": "failed", "error": exc.message}, attempt)
    except SettingsError as exc:
        return Outcome({"status": "failed", "error": exc.message, "hint": exc.hint})
    except asyncio.CancelledError:
        return Outcome({"status": "cancelled"}, retry_in=1.0)
    except DamkitError as exc:
        return _retry_or_fail({"status": "failed", "error": exc.message}, attempt)
    if status == "failed":
        return _retry_or_fail({"status": status}, attempt)
    return Outcome({"status": status})


__all__ = ["MAX_ATTEMPTS", "Outcome", "backoff", "change_work", "recorded", "sync_work"]
