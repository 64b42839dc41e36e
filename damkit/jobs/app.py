"""The procrastinate app: damkit's tasks, the schedules, stalled-job recovery, enqueueing.

Imported only when the queue is used (it imports procrastinate and psycopg).

- ``damkit.sync`` (one connection) and ``damkit.change`` (one changed asset) carry the connection's
  ``lock``: procrastinate runs jobs that share a lock one at a time, in order, on whichever
  worker, so two runs of one connection never overlap. Their ``queueing_lock`` keeps at most
  one of each waiting: enqueueing again joins the waiting job.
- A job whose work must be tried again (the DAM down, the connection busy, a shutdown) defers
  its follow-up itself, with a backoff, instead of procrastinate's retry: a retry puts the same
  job back in ``todo`` and collides with a waiting job holding the same queueing lock.
- A worker killed mid-job leaves its job ``doing``: ``damkit.recover`` (periodic, and once at
  each worker's start) finds the jobs of workers whose heartbeat stopped and puts them back;
  when a job with the same queueing lock is already waiting, that one covers the work and the
  stalled one is closed as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

import procrastinate
import psycopg
from procrastinate import exceptions as pexc
from procrastinate.jobs import Status
from procrastinate.schema import SchemaManager

from ..errors import Unreachable
from ..redact import redact
from . import config as qc
from .tasks import Outcome, change_work, recorded, sync_work

if TYPE_CHECKING:
    from ..workspace import Workspace

log = logging.getLogger("damkit.jobs")

SYNC_TASK = "damkit.sync"
CHANGE_TASK = "damkit.change"
RECOVER_TASK = "damkit.recover"
SCHEMA_LOCK = 0x64616D6B  # an advisory lock id: one process applies the schema
STALLED_AFTER = 30.0  # seconds without a heartbeat before a worker's jobs are taken back


def ensure_schema(url: str) -> None:
    """Create procrastinate's tables once (several workers may start at the same moment).
    The first contact with the database: a server that does not answer or refuses is an
    :class:`~damkit.errors.Unreachable` naming it (without its password) and what to check."""
    try:
        with psycopg.connect(url, autocommit=False, connect_timeout=10) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
            if row is None or row[0] is None:
                conn.execute(SchemaManager.get_schema())
            conn.commit()
    except psycopg.OperationalError as exc:
        reason = redact(str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)
        raise Unreachable(f"the task queue's database at {qc.shown_url(url)} did not answer: "
                          f"{reason}", kind="connect",
                          hint="check that PostgreSQL runs there and lets this user in "
                               f"({qc.QUEUE_ENV} or `damkit config set queue_url`)") from None


def build_app(url: str, *, pool_size: int = 4, stalled_after: float = STALLED_AFTER,
              sweep_seconds: int = 10, schedules: dict[str, int] | None = None) -> Any:
    """A procrastinate App on ``url`` with damkit's tasks (and, for a worker, its schedules)."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=url, min_size=1, max_size=max(2, pool_size)))

    async def follow_up(task: Any, kwargs: dict[str, Any], lock: str, queueing_lock: str,
                        delay: float) -> int | None:
        try:
            return int(await task.configure(lock=lock, queueing_lock=queueing_lock,
                                            schedule_in={"seconds": delay}).defer_async(**kwargs))
        except pexc.AlreadyEnqueued:
            return None  # a waiting job covers the work

    @app.task(name=SYNC_TASK, pass_context=True)
    async def sync_task(context: Any, connection: str, attempt: int = 1,
                        rate: float | None = None, concurrency: int | None = None,
                        prune: bool = False, max_delete: int | None = None,
                        timestamp: int | None = None) -> dict[str, Any]:
        ws: Workspace = context.additional_context["ws"]
        job = {"connection": connection, "job_id": context.job.id, "attempt": attempt,
               "worker": context.additional_context["worker"]}
        options: dict[str, Any] = {"rate": rate, "concurrency": concurrency, "prune": prune,
                                   "max_delete": max_delete}
        outcome = await recorded(ws, "sync", job, sync_work(ws, connection, attempt=attempt,
                                                            **options))
        return await finish(outcome, sync_task, {"connection": connection,
                                                 "attempt": attempt + 1, **options},
                            qc.connection_lock(connection), qc.sync_queueing_lock(connection))

    @app.task(name=CHANGE_TASK, pass_context=True)
    async def change_task(context: Any, connection: str, asset_id: str,
                          attempt: int = 1) -> dict[str, Any]:
        ws: Workspace = context.additional_context["ws"]
        job = {"connection": connection, "asset": asset_id, "job_id": context.job.id,
               "attempt": attempt, "worker": context.additional_context["worker"]}
        outcome = await recorded(ws, "change", job,
                                 change_work(ws, connection, asset_id, attempt=attempt))
        return await finish(outcome, change_task, {"connection": connection, "asset_id": asset_id,
                                                   "attempt": attempt + 1},
                            qc.connection_lock(connection),
                            qc.change_queueing_lock(connection, asset_id))

    async def finish(outcome: Outcome, task: Any, kwargs: dict[str, Any], lock: str,
                     queueing_lock: str) -> dict[str, Any]:
        if outcome.retry_in is not None:
            outcome.result["next_job"] = await follow_up(task, kwargs, lock, queueing_lock,
                                                         outcome.retry_in)
            log.warning("%s of %s: %s; tried again in %.0f s", task.name, kwargs["connection"],
                        redact(str(outcome.result.get("error") or outcome.result["status"])),
                        outcome.retry_in)
        return outcome.result

    @app.task(name=RECOVER_TASK, queueing_lock="damkit:recover")
    async def recover_task(timestamp: int | None = None) -> int:
        return await recover_stalled(app, stalled_after)

    sweep = max(1, min(59, int(sweep_seconds)))
    app.periodic(cron=f"*/{sweep} * * * * *", periodic_id="stalled")(recover_task)
    for name, minutes in sorted((schedules or {}).items()):
        app.periodic(cron=qc.cron_for(name, minutes), periodic_id=name,
                     lock=qc.connection_lock(name), queueing_lock=qc.sync_queueing_lock(name),
                     task_kwargs={"connection": name})(cast(Any, sync_task))
    app.state = {"sync": sync_task, "change": change_task}  # type: ignore[attr-defined]
    return app


async def recover_stalled(app: Any, stalled_after: float) -> int:
    """Put back the jobs of workers whose heartbeat stopped; the number put back."""
    manager = app.job_manager
    count = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        if job.task_name == RECOVER_TASK:
            await manager.finish_job(job, status=Status.FAILED, delete_job=True)
            continue
        try:
            await manager.retry_job(job)
            count += 1
            log.warning("job %s (%s) of a stopped worker is queued again", job.id, job.task_name)
        except pexc.UniqueViolation:
            # a job with the same queueing lock waits: it does this work when it runs
            await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            log.warning("job %s (%s) of a stopped worker is covered by a waiting job", job.id,
                        job.task_name)
        except pexc.ConnectorException as exc:  # e.g. another worker recovered it first
            log.info("job %s not recovered here: %s", job.id, redact(str(exc)))
    return count


# --- enqueueing -------------------------------------------------------------------------------

_apps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, tuple[Any, Any]]] = \
    weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[Any]:
    """An app opened for one call (the command line)."""
    ensure = asyncio.to_thread(ensure_schema, url)
    await ensure
    app = build_app(url, pool_size=2)
    async with app.open_async():
        yield app


async def _kept(app: Any) -> AsyncIterator[Any]:
    """Holds ``app`` open until its event loop shuts its async generators down (as
    ``asyncio.run`` and the event consumer's worker loop do on their way out): then it closes
    the app's connections, with no hook needed in the code that owns the loop."""
    await app.open_async()
    try:
        yield app
    finally:
        await app.close_async()


async def shared(url: str) -> Any:
    """An app opened once per event loop and kept (a long-running process: the event consumer)."""
    loop = asyncio.get_running_loop()
    apps = _apps.setdefault(loop, {})
    held = apps.get(url)
    if held is None:
        await asyncio.to_thread(ensure_schema, url)
        keeper = _kept(build_app(url, pool_size=4))
        held = apps[url] = (await anext(keeper), keeper)
    return held[0]


async def defer(app: Any, kind: str, kwargs: dict[str, Any], lock: str,
                queueing_lock: str) -> tuple[int, bool]:
    """(job id, already queued): the new job, or the one waiting with the same queueing lock."""
    task = app.state[kind]
    while True:
        try:
            job_id = await task.configure(lock=lock, queueing_lock=queueing_lock).defer_async(
                **kwargs)
            return int(job_id), False
        except pexc.AlreadyEnqueued:
            waiting = list(await app.job_manager.list_jobs_async(queueing_lock=queueing_lock,
                                                                 status="todo"))
            if waiting and waiting[0].id is not None:
                return int(waiting[0].id), True
            # it started meanwhile: enqueue again


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def run_worker(ws: Workspace, url: str, *, concurrency: int, stalled_after: float,
                     grace: float | None, sweep_seconds: int | None = None) -> None:
    """Run a worker until SIGTERM/SIGINT (then: no new job; running ones get ``grace``
    seconds to finish, after which they are cancelled and their work is queued again)."""
    await asyncio.to_thread(ensure_schema, url)
    sweep = sweep_seconds or max(1, int(stalled_after / 3))
    app = build_app(url, pool_size=concurrency + 4, stalled_after=stalled_after,
                    sweep_seconds=sweep, schedules=qc.schedules(ws))
    name = worker_name()
    async with app.open_async():
        await recover_stalled(app, stalled_after)
        await app.run_worker_async(
            name=name, concurrency=concurrency, additional_context={"ws": ws, "worker": name},
            update_heartbeat_interval=max(0.2, stalled_after / 4),
            stalled_worker_timeout=stalled_after, shutdown_graceful_timeout=grace,
            delete_jobs="successful", install_signal_handlers=True)


__all__ = ["build_app", "defer", "ensure_schema", "opened", "recover_stalled", "run_worker",
           "shared"]
