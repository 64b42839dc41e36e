"""Sync jobs on a task queue: procrastinate on PostgreSQL (docs/scale-out.md).

A queue is configured by ``DAMKIT_QUEUE_URL`` (or the workspace setting ``queue_url``). Then
``damkit worker`` processes, on any number of machines, run the syncs and change notifications
that ``damkit sync --enqueue``, the event consumer and the schedules (``sync_every``) put in the
queue; one run per connection at a time across all of them.

This module imports no queue library: :mod:`damkit.jobs.app` (procrastinate, psycopg) is loaded
on first use, and a missing install is a :class:`~damkit.errors.SettingsError` naming
``pip install 'damkit[server]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from .config import QUEUE_ENV, cron_for, queue_url, require_url, schedules, server_parts, shown_url

if TYPE_CHECKING:
    from ..workspace import Workspace


class Enqueued(BaseModel):
    """A job put in the queue (or the one already waiting for the same work)."""

    connection: str
    task: Literal["sync", "change"]
    job_id: int
    already_queued: bool
    asset_id: str | None = None


async def enqueue_sync(ws: Workspace, names: list[str], *, rate: float | None = None,
                       concurrency: int | None = None, prune: bool = False,
                       max_delete: int | None = None) -> list[Enqueued]:
    """Queue a sync of each connection (each name must exist); a sync already waiting for a
    connection is reported instead of queued twice (it keeps the options it was queued with)."""
    from . import config as qc

    url = require_url(ws)
    for name in names:
        ws.connection(name)  # NotFoundError before anything is queued
    server_parts()
    from .app import defer, opened

    out: list[Enqueued] = []
    async with opened(url) as app:
        for name in names:
            kwargs = {"connection": name, "rate": rate, "concurrency": concurrency,
                      "prune": prune, "max_delete": max_delete}
            job_id, waiting = await defer(app, "sync", kwargs, qc.connection_lock(name),
                                          qc.sync_queueing_lock(name))
            out.append(Enqueued(connection=name, task="sync", job_id=job_id,
                                already_queued=waiting))
    return out


async def enqueue_change(ws: Workspace, name: str, asset_id: str) -> str:
    """Queue the re-read of one changed asset (the event consumer's work when a queue is
    configured); ``"queued"``. One app stays open per event loop."""
    from . import config as qc

    url = require_url(ws)
    server_parts()
    from .app import defer, shared

    app = await shared(url)
    await defer(app, "change", {"connection": name, "asset_id": asset_id},
                qc.connection_lock(name), qc.change_queueing_lock(name, asset_id))
    return "queued"


def run_worker(ws: Workspace, *, concurrency: int = 4, stalled_after: float = 30.0,
               grace: float | None = 60.0, sweep_seconds: int | None = None) -> None:
    """Run a worker in the foreground until SIGTERM or SIGINT (blocking)."""
    import asyncio

    url = require_url(ws)
    server_parts()
    from .app import run_worker as run

    asyncio.run(run(ws, url, concurrency=concurrency, stalled_after=stalled_after, grace=grace,
                    sweep_seconds=sweep_seconds))


__all__ = ["QUEUE_ENV", "Enqueued", "cron_for", "enqueue_change", "enqueue_sync", "queue_url",
           "require_url", "run_worker", "schedules", "shown_url"]
