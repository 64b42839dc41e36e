"""The sync engine: list what carries the tag, plan against the index, fetch, record.

Order of a run (one connection, under a per-connection inter-process lock):

1. sweep what a killed run left in the store's staging (``.part`` files in
   ``DAM Import/<connection>/.partial/``; unfinished uploads of a bucket);
2. list every tagged asset (a listing that fails changes nothing: no asset is marked gone on a
   partial listing);
3. plan (:mod:`damkit.sync.plan`): new, changed, retry, unchanged, gone; a dry run stops here;
4. mark gone records, refresh metadata of unchanged ones, prune if asked (one index transaction
   per page);
5. download concurrently (adaptive bound), each file verified and published atomically
   (:mod:`damkit.storage`: the local folder or a bucket), records committed in batches (one
   transaction per page of finished files, and at least every ``FLUSH_SECONDS``) after the
   store made the files durable (the folder fsynced);
6. write backlinks (Bynder, when on) for files whose recorded backlink differs;
7. record the run.

Every request of a run follows one :class:`~damkit.http.Patience` (the only retry policy): 429s
are waited out while the run's throttle budget lasts, 5xx get a few tries per request, and the
circuit breaker stops the run (``failed``, with the cause) once the DAM or its file host fails
consistently; the files that failed stay marked ``failed`` for the next run. The engine itself
only restarts a file whose body broke off or did not verify.

An asset missing from the listing is marked gone only once the DAM confirms it (``get_asset``
answers "deleted", "untagged" or "archived"): a listing paged by offset skips assets when others
leave the tag during it, and those must never be marked, let alone pruned.

Pruning (``prune=True``) deletes the files of gone assets and keeps their records, with
``status="gone"``, ``local_path=None`` and ``pruned`` set to the time: the index still says what
left the DAM and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from ..errors import DamkitError, RateLimited, SyncError
from ..http import Patience, patience
from ..library import LIBRARY_FOLDER
from ..progress import ProgressCallback, Reporter
from ..providers.base import Provider, RemoteAsset
from ..workspace import Workspace, now_iso
from .backlink import backlink_wanted, library_url, require_backlink_ready
from .fetch import FetchError, fetch_file, file_matches
from .gate import AdaptiveGate, throttle_counter, tune_budgets
from .journal import JOURNAL, Journal
from .models import FileError, SyncReport
from .paths import same_entry
from .plan import Job, PathBook, Plan, classify, make_plan, metadata, target_path

log = logging.getLogger("damkit.sync")

DEFAULT_CONCURRENCY = 8
DEFAULT_THROTTLE_BUDGET = 300.0  # seconds a run may spend held by 429s before it gives up
ONE_THROTTLE_BUDGET = 60.0  # the same for one asset (a change notification)
ATTEMPTS = 3  # per file and run, only for a body cut off or a file that did not verify
RETRY_DELAY = 0.2
FLUSH_SECONDS = 0.5
MAX_ERRORS_KEPT = 100
GC_THRESHOLD = 50_000  # allocations between young collections while a run is under way

class _QuietGc:
    """Young-generation collections far apart while a run is under way.

    A run builds tens of thousands of objects that all stay alive (listed assets, records,
    the plan): the collector's frequent passes over them free nothing and cost about a fifth
    of a no-change re-sync. The threshold is the process's own, so overlapping runs restore it
    only when the last one ends."""

    depth = 0
    saved: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    @contextlib.contextmanager
    def during(cls) -> Iterator[None]:
        if cls.depth == 0:
            cls.saved = gc.get_threshold()
            first, second, third = cls.saved
            gc.set_threshold(max(first, GC_THRESHOLD), second, third)
        cls.depth += 1
        try:
            yield
        finally:
            cls.depth -= 1
            if cls.depth == 0:
                gc.set_threshold(*cls.saved)


fewer_collections = _QuietGc.during


@contextlib.asynccontextmanager
async def connection_lock(ws: Workspace, name: str, *, wait: float = 0.0) -> AsyncIterator[None]:
    """One sync of a connection at a time, across processes (released if the process dies).

    The index holds the lock: a file lock for the file index, an advisory lock on PostgreSQL
    (across machines)."""
    lock = ws.index.sync_lock(name)
    deadline = time.monotonic() + wait
    while not lock.try_acquire():
        if time.monotonic() >= deadline:
            raise SyncError(f"a sync of '{name}' is already running",
                            hint="wait for it to finish, or stop it") from None
        await asyncio.sleep(0.1)
    try:
        yield
    finally:
        lock.release()


class Runner:
    """The mutable state of one run: the provider, counters, pending index writes."""

    def __init__(self, ws: Workspace, name: str, provider: Provider, report: SyncReport,
                 reporter: Reporter, *, concurrency: int, cancel: asyncio.Event | None) -> None:
        self.ws = ws
        self.name = name
        self.provider = provider
        self.report = report
        self.reporter = reporter
        self.cancel = cancel
        self.concurrency = max(1, concurrency)
        self.store = ws.library_store()
        self.batch = max(1, min(int(getattr(provider, "page_size", 500) or 500), 1000))
        self.pending: list[dict[str, Any]] = []
        self.placed: set[str] = set()  # record paths published since the last commit
        self.last_flush = time.monotonic()
        self.flush_lock = asyncio.Lock()
        self.committing: asyncio.Future[None] | None = None
        self.fatal: str | None = None
        self.cancelled = False
        self.prune_refused: str | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.total = 0
        self.backlink_property: str | None = None
        self.backlink_template: str | None = None
        self.gate = AdaptiveGate(self.concurrency, throttle_counter(provider))
        self.journal = Journal(ws.state_dir(name) / JOURNAL)
        self._fold_case: bool | None = None

    @property
    def fold_case(self) -> bool:
        """Is the library case-insensitive? (asked once, when a file is first placed)"""
        if self._fold_case is None:
            self._fold_case = self.store.folds_case(self.name)
        return self._fold_case

    # --- index writes -------------------------------------------------------------------------

    def _commit(self, docs: list[dict[str, Any]], placed: Iterable[str]) -> None:
        self.store.settle(placed)
        try:
            self.ws.index.upsert_assets(docs)
        except BaseException:
            self.pending[:0] = docs  # kept for the next (final) flush
            raise

    def stage(self, doc: dict[str, Any], placed: str | None = None) -> None:
        """Queue ``doc`` for the next commit (with the file it names, made durable before it).

        Never hold on to ``self.pending`` across an await: a flush meanwhile swaps the list and
        commits the old one, and a doc appended to that old list is silently lost. So every
        value is computed (awaited) first and staged here, with no await in between.
        """
        self.pending.append(doc)
        if placed is not None:
            self.placed.add(placed)

    async def flush(self, *, force: bool = False) -> None:
        """Commit finished files: one transaction per page (or per FLUSH_SECONDS)."""
        if not self.pending:
            return
        if not force and len(self.pending) < self.batch \
                and time.monotonic() - self.last_flush < FLUSH_SECONDS:
            return
        async with self.flush_lock:
            docs, self.pending = self.pending, []
            placed, self.placed = self.placed, set()
            self.last_flush = time.monotonic()
            if docs:
                # the commit runs on in its thread if this task is cancelled: ``abort`` waits
                # for it, so a cancelled run returns only once what finished is in the index
                self.committing = asyncio.ensure_future(asyncio.to_thread(self._commit, docs,
                                                                          placed))
                await asyncio.shield(self.committing)

    def flush_now(self) -> None:
        """Synchronous last flush (after a cancellation, when awaiting is not possible)."""
        docs, self.pending = self.pending, []
        placed, self.placed = self.placed, set()
        if docs:
            self._commit(docs, placed)

    def replay(self, docs: list[dict[str, Any]]) -> None:
        """Commit what a killed run journaled, then start a new journal."""
        for start in range(0, len(docs), self.batch):
            self.ws.index.upsert_assets(docs[start:start + self.batch])
        self.journal.discard()

    async def finish(self) -> None:
        """Last commit; the journal goes once everything in it is in the index."""
        await self.flush(force=True)
        if not self.pending:
            self.journal.discard()

    def write_pages(self, changes: dict[str, dict[str, Any]]) -> None:
        """Partial updates of existing records, one transaction per page."""
        items = list(changes.items())
        for start in range(0, len(items), self.batch):
            with self.ws.index.transaction() as tx:
                tx.update_assets(self.name, dict(items[start:start + self.batch]))

    # --- one file -----------------------------------------------------------------------------

    def _record(self, asset: RemoteAsset, rel: str) -> dict[str, Any]:
        return {"connection": self.name, "provider": self.report.provider,
                "provider_id": asset.id, **metadata(asset), "local_path": rel,
                "status": "synced", "last_synced": now_iso(), "last_error": None,
                "fingerprint": asset.fingerprint, "failures": 0, "gone_since": None,
                "pruned": None}

    def _fail(self, job: Job, error: str, known: dict[str, Any] | None) -> dict[str, Any]:
        doc: dict[str, Any] = {"connection": self.name, "provider": self.report.provider,
                               "provider_id": job.asset.id, "status": "failed",
                               "last_error": error, "last_attempt": now_iso(),
                               "failures": int((known or {}).get("failures") or 0) + 1}
        if known is None:
            doc.update(metadata(job.asset))
            doc.update({"local_path": None, "fingerprint": None})
        return doc

    async def _download(self, job: Job) -> tuple[int | None, FetchError | None]:
        """(bytes or None when adopted, error)."""
        self.store.check(job.rel_path)  # ValueError: a path that would leave the library
        if job.try_adopt and await file_matches(self.store, job.rel_path, job.asset.size,
                                                job.asset.checksum):
            return None, None
        error = FetchError("not attempted")
        for attempt in range(1, ATTEMPTS + 1):
            if self.fatal is not None:
                return 0, FetchError(f"not fetched: {self.fatal}", retryable=False)
            self.report.requests += 1
            try:
                return await fetch_file(self.provider, job.asset, self.store, job.rel_path), None
            except FetchError as exc:
                error = exc
                if exc.fatal:
                    cause = exc.cause
                    self.fatal = self.fatal or (str(cause) if isinstance(cause, DamkitError)
                                                else str(exc))
                    return 0, exc
                if not exc.retryable or attempt == ATTEMPTS:
                    return 0, exc
                log.info("fetching %s again after: %s", job.asset.id, exc)
                await asyncio.sleep(RETRY_DELAY * 2 ** (attempt - 1))
        return 0, error

    async def run_job(self, job: Job, known: dict[str, Any] | None) -> None:
        report = self.report
        throttled = False
        try:
            await self.reporter.emit("started", asset=job.asset.name, asset_id=job.asset.id,
                                     **self._counts())
            try:
                size, failure = await self._download(job)
            except ValueError as exc:  # a path that would leave the library
                size, failure = 0, FetchError(str(exc), retryable=False)
            if failure is None:
                rel = job.rel_path
                doc = self._record(job.asset, rel)
                self.journal.append(doc)  # before any await: survives a kill from here on
                if size is None:
                    report.adopted += 1
                else:
                    report.downloaded += 1
                    report.bytes += size
                self.stage(doc, rel)
                if job.old_path and not same_entry(job.old_path, rel, fold_case=self.fold_case):
                    # shielded: a cancellation now still removes the old name (not an orphan)
                    with contextlib.suppress(OSError, ValueError, DamkitError):
                        await asyncio.shield(asyncio.to_thread(self.store.remove, job.old_path))
                if self.backlink_property is not None:  # a partial doc, merged on commit
                    self.stage(await self._backlink_doc(job.asset.id, rel))
                await self.reporter.emit("file_done", asset=job.asset.name,
                                         asset_id=job.asset.id, **self._counts())
            else:
                error = str(failure)
                throttled = isinstance(failure.cause, RateLimited)
                report.failed += 1
                if len(report.errors) < MAX_ERRORS_KEPT:
                    report.errors.append(FileError(asset_id=job.asset.id, name=job.asset.name,
                                                   error=error))
                self.stage(self._fail(job, error, known))
                await self.reporter.emit("file_failed", asset=job.asset.name,
                                         asset_id=job.asset.id, error=error, **self._counts())
            await self.flush()
        finally:
            await self.gate.release(throttled=throttled)

    def _counts(self) -> dict[str, int]:
        r = self.report
        return {"total": self.total, "done": r.downloaded + r.adopted, "failed": r.failed,
                "bytes": r.bytes}

    # --- many files ---------------------------------------------------------------------------

    def stopping(self) -> bool:
        cancelled = self.cancel is not None and self.cancel.is_set()
        return self.fatal is not None or self.cancelled or cancelled

    async def _schedule(self, jobs: list[Job], records: dict[str, dict[str, Any]]) -> None:
        for job in jobs:
            await self.gate.acquire()
            if self.stopping():
                await self.gate.release()
                break
            task = asyncio.create_task(self.run_job(job, records.get(job.asset.id)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def download_all(self, jobs: list[Job], records: dict[str, dict[str, Any]]) -> None:
        self.total = len(jobs)
        scheduler = asyncio.create_task(self._schedule(jobs, records))
        waiter = asyncio.create_task(self.cancel.wait()) if self.cancel is not None else None
        try:
            waiting: set[asyncio.Task[Any]] = {scheduler} | ({waiter} if waiter else set())
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not scheduler.done():  # cancelled through the event
                self.cancelled = True
                await self.abort(scheduler)
        except asyncio.CancelledError:
            self.cancelled = True
            await asyncio.shield(self.abort(scheduler))
            raise
        finally:
            if waiter is not None:
                waiter.cancel()
        if self.cancel is not None and self.cancel.is_set() and self.fatal is None:
            self.cancelled = True  # set between two files: the scheduler stopped quietly
        if scheduler.done() and not scheduler.cancelled() and scheduler.exception():
            raise scheduler.exception()  # type: ignore[misc]

    async def abort(self, scheduler: asyncio.Task[None]) -> None:
        """Stop starting files, cancel those in flight (their .part files are removed)."""
        scheduler.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(scheduler, *list(self.tasks), return_exceptions=True)
        if self.committing is not None:
            await asyncio.gather(self.committing, return_exceptions=True)

    # --- backlinks ----------------------------------------------------------------------------

    async def prepare_backlink(self, settings: Any) -> None:
        if not backlink_wanted(settings):
            return
        self.backlink_template = self.ws.config().library_url_template
        label = settings.backlink_property_label()
        if label is None or self.backlink_template is None:
            return
        try:
            self.backlink_property = str(await self.provider.ensure_backlink_property(label))
        except DamkitError as exc:
            self.report.error = f"backlink metaproperty: {exc.message}"
            self.report.backlink_failed += 1

    def url_for(self, asset_id: str, rel: str) -> str:
        inner = rel.split("/", 1)[1] if rel.startswith(LIBRARY_FOLDER + "/") else rel
        return library_url(self.backlink_template or "", asset_id=asset_id,
                           connection=self.name, path=inner)

    async def _backlink(self, asset_id: str, rel: str) -> dict[str, Any]:
        url = self.url_for(asset_id, rel)
        try:
            await self.provider.write_backlink(asset_id, self.backlink_property or "", url)
        except DamkitError as exc:
            self.report.backlink_failed += 1
            return {"backlink_error": exc.message}
        self.report.backlinks += 1
        return {"backlink": url, "backlink_error": None}

    async def _backlink_doc(self, asset_id: str, rel: str) -> dict[str, Any]:
        """Write the backlink; the partial doc recording it (merged into the record on commit)."""
        fields = await self._backlink(asset_id, rel)
        return {"connection": self.name, "provider_id": asset_id, **fields}

    async def backlink_unchanged(self, ids: list[str], records: dict[str, dict[str, Any]]) -> None:
        """Write backlinks missing or stale on files that did not need a download."""
        if self.backlink_property is None:
            return
        todo = [(pid, records[pid]["local_path"]) for pid in ids
                if records[pid].get("local_path")
                and records[pid].get("backlink") != self.url_for(pid, records[pid]["local_path"])]
        sem = asyncio.Semaphore(self.concurrency)

        async def one(pid: str, rel: str) -> None:
            async with sem:
                if self.stopping():
                    return
                self.stage(await self._backlink_doc(pid, rel))

        await asyncio.gather(*(one(pid, rel) for pid, rel in todo))


# --- public API -------------------------------------------------------------------------------


async def _list_all(provider: Provider, runner: Runner) -> list[RemoteAsset]:
    listed: list[RemoteAsset] = []
    async for page in provider.list_assets():
        listed.extend(page)
        if runner.stopping():
            break
    return listed


def _prune(runner: Runner, records: dict[str, dict[str, Any]], gone_now: list[str],
           listed: Iterable[str], max_delete: int | None = None) -> None:
    """Delete files of gone assets; keep the records (status gone, local_path None, pruned).

    Only assets confirmed gone (now or by an earlier run) and not in this run's listing."""
    back = set(listed)
    doomed = [pid for pid, rec in records.items()
              if (rec.get("status") == "gone" or pid in gone_now) and rec.get("local_path")
              and pid not in back]
    if max_delete is not None and len(doomed) > max_delete:
        runner.prune_refused = (f"prune refused: {len(doomed)} files would be deleted, more than "
                                f"--max-delete {max_delete}; nothing was deleted")
        return
    changes: dict[str, dict[str, Any]] = {}
    try:
        for pid in doomed:
            runner.store.remove(records[pid]["local_path"])  # LocalStorageError when refused
            changes[pid] = {"local_path": None, "pruned": now_iso()}
    except ValueError:
        pass
    finally:
        runner.write_pages(changes)
        runner.report.pruned = len(changes)


async def confirm_gone(runner: Runner, candidates: list[str]) -> dict[str, str]:
    """Ask the DAM about each asset the listing missed: ``id -> reason`` ("deleted",
    "untagged", "archived") for those it confirms gone. One still tagged, or one the DAM could
    not answer about, is left as it is (and counted in ``report.not_gone``)."""
    sem = asyncio.Semaphore(runner.concurrency)
    confirmed: dict[str, str] = {}

    async def one(pid: str) -> None:
        async with sem:
            if runner.stopping():
                return
            try:
                asset = await runner.provider.get_asset(pid)
            except DamkitError as exc:
                log.info("not marking %s gone: the DAM did not confirm it (%s)", pid, exc.message)
                return
            reason = gone_reason(runner.provider, asset)
            if reason is not None:
                confirmed[pid] = reason

    await asyncio.gather(*(one(pid) for pid in candidates))
    runner.report.not_gone = len(candidates) - len(confirmed)
    return confirmed


def gone_reason(provider: Provider, asset: RemoteAsset | None) -> str | None:
    """Why ``asset`` (as the DAM answers it now) no longer belongs in the library, or None."""
    if asset is None:
        return "deleted"
    if asset.extra.get("archived"):
        return "archived"
    if not provider.has_tag(asset):
        return "untagged"
    return None


def _final_status(report: SyncReport, runner: Runner | None) -> None:
    if runner is not None:
        report.http_429 = runner.gate.throttled()
        report.min_concurrency = runner.gate.lowest
    if runner is not None and runner.cancelled:
        report.status = "cancelled"
    elif report.dry_run and report.error is None:
        report.status = "dry_run"
    elif runner is not None and runner.fatal:
        report.status = "failed"
        report.error = report.error or runner.fatal
    elif report.status == "failed":
        pass
    elif report.failed or report.backlink_failed or (runner is not None and runner.prune_refused):
        report.status = "partial"
        if runner is not None and runner.prune_refused:
            report.error = report.error or runner.prune_refused
    else:
        report.status = "ok"


def _record_run(ws: Workspace, name: str, report: SyncReport) -> None:
    if report.run_id is None:
        return
    fields = {"status": report.status, "finished": now_iso(), "seconds": report.seconds,
              "counts": report.counts(), "plan": report.plan.model_dump(), "bytes": report.bytes,
              "errors": [e.model_dump() for e in report.errors[:MAX_ERRORS_KEPT]],
              "error": report.error}
    ws.index.update_run(report.run_id, fields)
    doc = ws.index.get_connection(name)
    if doc is not None:
        doc["last_sync"] = {"at": now_iso(), "run_id": report.run_id, "status": report.status,
                            "synced": report.synced, "failed": report.failed,
                            "gone": report.gone, "bytes": report.bytes}
        ws.index.put_connection(doc)


async def sync_connection(ws: Workspace, name: str, *, dry_run: bool = False, prune: bool = False,
                          max_delete: int | None = None,
                          progress: ProgressCallback | None = None,
                          cancel: asyncio.Event | None = None,
                          concurrency: int | None = None,
                          rate: float | None = None,
                          throttle_budget: float | None = None) -> SyncReport:
    """Bring ``DAM Import/<name>/`` in line with what carries the tag; returns the report.

    Raises for problems before the run starts (unknown connection, bad settings, a library_url
    that cannot be used, another sync of the same connection running, backlink without a library
    URL template); a failure during the
    run (listing refused, disk full) is reported in ``report.status``/``report.error``. Cancel
    with ``cancel.set()`` or by cancelling the task: finished files stay recorded.
    ``concurrency``: most downloads in flight (default 8, lowered while the provider answers 429);
    ``rate``: requests per second to the DAM, fixed (default: the host's budget adapts; see
    :mod:`damkit.http`); ``throttle_budget``: seconds the run may spend held by 429s before it
    fails (default :data:`DEFAULT_THROTTLE_BUDGET`).
    ``max_delete``: with ``prune``, delete nothing when more files than this would go (a renamed
    tag upstream makes every asset "gone"; the run then ends "partial" saying so).
    """
    doc = ws.connection(name)
    settings = ws.load_settings(name)
    require_backlink_ready(ws, settings)
    ws.library_store()  # a bad library_url, or s3:// without damkit[server]: refused up front
    report = SyncReport(connection=name, provider=doc["provider"], dry_run=dry_run)
    reporter = Reporter(progress, connection=name)
    started = time.perf_counter()
    runner: Runner | None = None

    async def throttled(host: str, wait: float) -> None:
        await reporter.emit("throttled", wait=round(wait, 1), host=host,
                            **(runner._counts() if runner else {}))

    policy = Patience(throttle_budget=DEFAULT_THROTTLE_BUDGET if throttle_budget is None
                      else throttle_budget, on_wait=throttled)
    async with connection_lock(ws, name):
        if not dry_run:
            report.run_id = ws.index.add_run({
                "connection": name, "provider": doc["provider"], "status": "running",
                "started": now_iso(), "prune": prune, "trigger": "sync"})
            reporter.set(run_id=report.run_id)
        try:
            async with ws.provider(name, rate=rate) as provider:
                tune_budgets(provider, rate)
                runner = Runner(ws, name, provider, report, reporter,
                                concurrency=concurrency or DEFAULT_CONCURRENCY, cancel=cancel)
                with patience(policy), fewer_collections():
                    try:
                        await _run(runner, settings, dry_run=dry_run, prune=prune,
                                   max_delete=max_delete)
                    finally:
                        report.throttled_s = round(policy.throttled_s, 2)
        except asyncio.CancelledError:
            if runner is not None:
                runner.cancelled = True
                runner.flush_now()
                runner.journal.discard()
            report.seconds = round(time.perf_counter() - started, 3)
            _final_status(report, runner)
            report.status = "cancelled"
            _record_run(ws, name, report)
            await reporter.emit("finished", status=report.status, plan=report.plan.model_dump(),
                                **(runner._counts() if runner else {}))
            raise
        except DamkitError as exc:
            report.status = "failed"
            report.error = str(exc)
        except Exception as exc:  # a bug: record the run as failed, then let it surface
            report.status = "failed"
            report.error = f"{type(exc).__name__}: {exc}"
            report.seconds = round(time.perf_counter() - started, 3)
            with contextlib.suppress(Exception):
                if runner is not None:
                    runner.flush_now()
                    runner.journal.discard()
                _record_run(ws, name, report)
            await reporter.emit("finished", status="failed", error=report.error,
                                plan=report.plan.model_dump())
            raise
        if runner is not None:
            await runner.finish()
        report.seconds = round(time.perf_counter() - started, 3)
        _final_status(report, runner)
        _record_run(ws, name, report)
        await reporter.emit("finished", status=report.status, error=report.error,
                            plan=report.plan.model_dump(),
                            **(runner._counts() if runner else {}))
    return report


async def _run(runner: Runner, settings: Any, *, dry_run: bool, prune: bool,
               max_delete: int | None = None) -> None:
    ws, name, report = runner.ws, runner.name, runner.report
    store = runner.store
    replay = runner.journal.read(store.size)
    if not dry_run:
        await asyncio.to_thread(store.sweep, name)
        runner.replay(replay)
    listed = await _list_all(runner.provider, runner)
    if runner.stopping():
        runner.cancelled = runner.fatal is None
        return
    records = {r["provider_id"]: r for r in ws.index.assets(connection=name)}
    if dry_run:  # what the journal would add, in memory only
        for doc in replay:
            records[doc["provider_id"]] = {**records.get(doc["provider_id"], {}), **doc}
    sizes = await asyncio.to_thread(store.size_lookup, name)
    plan: Plan = make_plan(name, listed, records, sizes)
    report.plan = plan.summary()
    runner.total = len(plan.jobs)
    report.unchanged = len(plan.unchanged)
    await runner.reporter.emit("planned", plan=report.plan.model_dump(), total=runner.total)
    if dry_run:
        from .models import PlannedFile

        report.planned = [PlannedFile(asset_id=j.asset.id, name=j.asset.name, action=j.category,
                                      size=j.asset.size, path=j.rel_path) for j in plan.jobs]
        return
    gone = await confirm_gone(runner, plan.gone)
    if runner.stopping():
        runner.cancelled = runner.fatal is None
        return
    report.gone = len(gone)
    changes = dict(plan.refresh)
    stamp = now_iso()
    for pid, reason in gone.items():
        changes[pid] = {"status": "gone", "gone_since": stamp, "gone_reason": reason}
    runner.write_pages(changes)
    if prune:
        await asyncio.to_thread(_prune, runner, records, list(gone), plan.listed, max_delete)
    await runner.prepare_backlink(settings)
    await runner.download_all(plan.jobs, records)
    await runner.flush(force=True)
    await runner.backlink_unchanged(plan.unchanged, records)
    await runner.flush(force=True)
    store.tidy(name)


async def sync_one(ws: Workspace, name: str, asset_id: str) -> str:
    """Re-read one asset and bring it in line (for change notifications).

    Returns ``"synced"``, ``"unchanged"``, ``"failed"``, ``"gone"`` (marked gone now or before) or
    ``"ignored"`` (not tagged and not in the index).
    """
    doc = ws.connection(name)
    settings = ws.load_settings(name)
    require_backlink_ready(ws, settings)
    ws.library_store()
    report = SyncReport(connection=name, provider=doc["provider"])
    async with connection_lock(ws, name, wait=60.0), ws.provider(name) as provider:
        with patience(Patience(throttle_budget=ONE_THROTTLE_BUDGET)):
            return await _sync_one(ws, name, asset_id, provider, settings, report)


async def _sync_one(ws: Workspace, name: str, asset_id: str, provider: Provider, settings: Any,
                    report: SyncReport) -> str:
    runner = Runner(ws, name, provider, report, Reporter(None, connection=name),
                    concurrency=1, cancel=None)
    store = runner.store
    runner.replay(runner.journal.read(store.size))
    asset = await provider.get_asset(asset_id)
    record = ws.index.get_asset(name, asset_id)
    reason = gone_reason(provider, asset)
    if reason is not None or asset is None:
        if record is None:
            return "ignored"
        if record.get("status") != "gone":
            ws.index.update_assets(name, {asset_id: {"status": "gone", "gone_since": now_iso(),
                                                     "gone_reason": reason}})
        return "gone"
    kind = classify(asset, record, store.size)
    if kind == "unchanged" and record is not None:
        fresh = {k: v for k, v in metadata(asset).items() if record.get(k) != v}
        if record.get("status") != "synced":
            fresh.update(status="synced", gone_since=None)
        if fresh:
            ws.index.update_assets(name, {asset_id: fresh})
        return "unchanged"
    book = PathBook(ws.index.assets(connection=name))
    rel = target_path(name, asset, record, book)
    old = record.get("local_path") if record else None
    previous = old if old and old != rel else None
    job = Job(asset, kind, rel, previous, try_adopt=False)  # type: ignore[arg-type]
    await runner.prepare_backlink(settings)
    await runner.gate.acquire()
    await runner.run_job(job, record)
    await runner.finish()
    return "synced" if report.failed == 0 else "failed"


__all__ = ["DEFAULT_CONCURRENCY", "connection_lock", "sync_connection", "sync_one"]
