"""The Bynder event consumer: an ASGI app that takes SNS messages and syncs the assets they name.

``POST /events/bynder/{portal}`` (the path of the derived Event consumer URL):

1. bounded request: POST only (405), body at most ``max_body`` bytes (413, checked on the
   ``Content-Length`` and while reading), a known portal (404), a JSON object (400);
2. :class:`~damkit.events.verify.SnsVerifier`: topic allow-list, pinned certificate URL,
   signature v1/v2, timestamp, string fields (403; 503 when the certificate cannot be fetched,
   so SNS retries). Nothing is written and nothing is fetched for a refused message;
3. dedupe on ``MessageId`` in the :class:`~damkit.events.store.EventStore` (a replay answers 200,
   writes nothing);
4. ``SubscriptionConfirmation``: GET ``SubscribeURL`` (already pinned to the topic's SNS host) in
   the background; ``UnsubscribeConfirmation``: recorded, never re-subscribed;
   ``Notification``: the ``media_id`` becomes pending work for every connection of the portal,
   written to disk before the 200.

A background worker re-reads each asset with :func:`damkit.sync.sync_one` (the payload is a hint,
never trusted). Work on one asset is coalesced through the store's generations: a run covers every
notification accepted before it started (also one whose hand-over to the worker arrives late,
as it does under load), so notifications during the settle delay join the waiting run, and any
number of them during a run cause at most one more run after it, which waits the settle delay
too (those arriving meanwhile join it). Failures are retried with capped exponential backoff and
recorded as index events; pending work survives restarts.

Logs carry MessageId, Type, TopicArn and outcomes, never Token, SubscribeURL, UnsubscribeURL or
Signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..errors import DamkitError, NotFoundError, SettingsError
from ..redact import redact, register_secret
from .request import ROUTE_PREFIX, portal_connections
from .store import EventStore, Key
from .verify import (
    NOTIFICATION,
    SUBSCRIPTION_CONFIRMATION,
    CertFetcher,
    SnsMessage,
    SnsVerifier,
    VerificationError,
    parse_body,
)

if TYPE_CHECKING:
    from ..workspace import Workspace

log = logging.getLogger("damkit.events")

MAX_BODY = 64 * 1024
SETTLE_SECONDS = 3.0  # Bynder: "add a small delay of 3-5 seconds before retrieving the asset"
CONCURRENCY = 4
RETRY_BASE = 1.0
RETRY_MAX = 300.0
PORTAL_CACHE_SECONDS = 2.0
MEDIA_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_.]{0,127}")

SyncFn = Callable[["Workspace", str, str], Awaitable[str]]
Getter = Callable[[str], Awaitable[int]]
Sleep = Callable[[float], Awaitable[None]]

@dataclass
class _KeyState:
    scheduled: bool = False  # a run is waiting (settle delay or backoff)
    running: bool = False  # more work meanwhile shows as a newer generation in the store
    attempts: int = 0  # consecutive failures
    task: asyncio.Task[None] | None = None


@dataclass
class ConsumerStats:
    accepted: int = 0
    duplicates: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    syncs: int = 0
    sync_failures: int = 0
    results: dict[str, int] = field(default_factory=dict)
    confirmed: int = 0
    unsubscribed: int = 0
    max_concurrent_same_asset: int = 0

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


def media_id_of(message: SnsMessage) -> str | None:
    """The ``media_id`` of a Bynder notification (``Message`` is a JSON string), or None."""
    try:
        body = json.loads(message.message)
    except ValueError:
        return None
    value = body.get("media_id") if isinstance(body, dict) else None
    return value if isinstance(value, str) and MEDIA_ID_RE.fullmatch(value) else None


class EventConsumer:
    """Verifier, store and worker of one workspace's event consumer (see the module doc)."""

    def __init__(
        self,
        ws: Workspace,
        *,
        topics: Iterable[str] | None = None,
        trusted_cert_hosts: Iterable[str] | None = None,
        fetch_cert: CertFetcher | None = None,
        sync: SyncFn | None = None,
        confirm: Getter | None = None,
        settle_seconds: float = SETTLE_SECONDS,
        concurrency: int = CONCURRENCY,
        retry_base: float = RETRY_BASE,
        retry_max: float = RETRY_MAX,
        max_body: int = MAX_BODY,
        store: EventStore | None = None,
        now: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        config = ws.config()
        allowed = list(config.sns_topics if topics is None else topics)
        if not allowed:
            raise SettingsError(
                "no SNS topic is allowed: the event consumer would refuse every message",
                field="sns_topics",
                hint="ask Bynder for the TopicArn, then `damkit config set sns_topics "
                     "arn:aws:sns:<region>:<account>:<topic>`")
        trusted = list(config.sns_trusted_cert_hosts if trusted_cert_hosts is None
                       else trusted_cert_hosts)
        self.ws = ws
        try:
            self.verifier = SnsVerifier(allowed, trusted_cert_hosts=trusted,
                                        fetch_cert=fetch_cert, now=now)
        except (VerificationError, ValueError) as exc:
            raise SettingsError(f"event consumer settings: {exc}", field="sns_topics") from None
        self.store = store or EventStore(ws.root / "events", now=now)
        self._sync = sync if sync is not None else _queued_sync(ws, config)
        self._confirm = confirm
        self.settle_seconds = settle_seconds
        self._sleep = sleep  # the wait before a run (settle delay, retry backoff)
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.max_body = max_body
        self.stats = ConsumerStats()
        self._states: dict[Key, _KeyState] = {}
        self.concurrency = max(1, concurrency)
        self._semaphore = asyncio.Semaphore(self.concurrency)  # made again on each start
        self._conn_locks: dict[str, asyncio.Lock] = {}
        self._active: dict[Key, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()  # worker-loop tasks
        self._calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []  # for the worker
        self._woken = False  # the worker loop is due to run ``_calls``
        self._calls_lock = threading.Lock()
        self._started = False
        self._response_ms: deque[float] = deque(maxlen=10_000)  # server-side handling times
        self._portals: dict[str, tuple[float, list[str]]] = {}
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._worker_loop: asyncio.AbstractEventLoop | None = None
        self._worker_thread: threading.Thread | None = None

    # --- life cycle ----------------------------------------------------------------------------
    #
    # Two event loops: the server's (HTTP, the store) and the worker's, on a thread of its own, so
    # that a sync blocking on index or file I/O never delays an answer to SNS. The store is only
    # touched on the server's loop (the worker hands ``done`` over with _on_http).

    async def start(self) -> None:
        """Open the store (taking the workspace's consumer lock), start the worker thread and
        resume pending work."""
        if self._started:
            return
        from ..redact import install_log_redaction

        install_log_redaction()  # the SubscribeURL GET goes through httpx's INFO log
        await asyncio.to_thread(self.store.open)
        self._http_loop = asyncio.get_running_loop()
        self._semaphore = asyncio.Semaphore(self.concurrency)  # bound to the new worker loop
        self._conn_locks = {}
        self._states = {}
        self._calls, self._woken = [], False
        # the first message must not pay for imports: loading the HTTP stack (the certificate
        # fetch) or the sync engine holds the interpreter for a while, and every answer waits
        await asyncio.to_thread(_warm_up, self._sync is None)
        ready = threading.Event()

        def run_worker() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._worker_loop = loop
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._worker_thread = threading.Thread(target=run_worker, name="damkit-events-worker",
                                               daemon=True)
        self._worker_thread.start()
        await asyncio.to_thread(ready.wait, 10)
        self._started = True
        pending = self.store.pending()
        if pending:
            log.info("event consumer: resuming %d pending asset(s)", len(pending))
        for key in pending:
            self.schedule(key, delay=0.0)

    async def stop(self) -> None:
        """Stop the worker; pending work stays on disk for the next start."""
        if not self._started:
            return
        loop, thread = self._worker_loop, self._worker_thread
        if loop is not None and thread is not None:
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(
                    asyncio.run_coroutine_threadsafe(self._cancel_tasks(), loop))
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, 10)
        with contextlib.suppress(Exception):
            await self.store.drain()
        await asyncio.to_thread(self.store.close)
        self._started = False

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the worker loop (from any thread).

        Calls queue up and the worker loop is woken once per batch, not once per call: a burst
        of notifications costs the server's loop one wake-up write, not one per message."""
        loop = self._worker_loop
        if loop is None or loop.is_closed():
            raise DamkitError("the event consumer is not running")
        with self._calls_lock:
            self._calls.append((fn, args))
            wake = not self._woken
            self._woken = True
        if wake:
            loop.call_soon_threadsafe(self._run_calls)

    def _run_calls(self) -> None:
        """On the worker loop: run every queued call (see :meth:`_submit`)."""
        while True:
            with self._calls_lock:
                if not self._calls:
                    self._woken = False
                    return
                calls, self._calls = self._calls, []
            for fn, args in calls:
                try:
                    fn(*args)
                except Exception:  # one bad call must not drop the others
                    log.exception("event consumer: a hand-over to the worker failed")

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """A task on the worker loop (call on the worker loop)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _on_http(self, coro: Awaitable[Any]) -> Any:
        """Await ``coro`` on the server's loop (where the store lives) from the worker loop."""
        if self._http_loop is None:
            raise DamkitError("the event consumer is not running")
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(coro, self._http_loop))  # type: ignore[arg-type]

    def busy(self) -> bool:
        return bool(self._tasks) or self._woken

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no sync, retry or confirmation is scheduled (tests, benchmarks)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.busy():
            if deadline is not None and time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # --- HTTP ----------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await self._handle(request)
        except ClientDisconnect:
            return Response(status_code=400)
        elapsed = (time.perf_counter() - started) * 1000
        self._response_ms.append(elapsed)
        log.debug("event request answered %d in %.1f ms", response.status_code, elapsed)
        return response

    def _refuse(self, status: int, reason: str, text: str) -> Response:
        self.stats.refuse(reason)
        return JSONResponse({"error": reason, "detail": text}, status_code=status)

    async def _read_body(self, request: Request) -> bytes | None:
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body:
                    return None
            except ValueError:
                return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _handle(self, request: Request) -> Response:
        if request.method != "POST":
            response = self._refuse(405, "method", "POST only")
            response.headers["Allow"] = "POST"
            return response
        portal = request.path_params.get("portal", "")
        body = await self._read_body(request)
        if body is None:
            return self._refuse(413, "too_large", f"the body exceeds {self.max_body} bytes")
        connections = await self._connections_of(portal)
        if not connections:
            return self._refuse(404, "unknown_portal", "no Bynder connection for this portal")
        try:
            data = parse_body(body)
            message = await self.verifier.verify(
                data, header_type=request.headers.get("x-amz-sns-message-type"))
        except VerificationError as exc:
            log.warning("event consumer: refused a message (%s: %s)", exc.reason, exc.message)
            status = 503 if exc.reason == "cert_fetch" else 400 if exc.reason == "not_json" else 403
            return self._refuse(status, exc.reason, exc.message)
        if message.type == NOTIFICATION:
            return await self._notification(message, connections)
        if message.type == SUBSCRIPTION_CONFIRMATION:
            return await self._subscription(message)
        return await self._unsubscribed(message)

    async def _connections_of(self, portal: str) -> list[str]:
        """Connections of a portal, cached briefly: the index lock may be held by a sync, and
        an answer to SNS must not wait for it."""
        cached = self._portals.get(portal)
        now = time.monotonic()
        if cached is not None and now - cached[0] < PORTAL_CACHE_SECONDS:
            return cached[1]
        names = await asyncio.to_thread(portal_connections, self.ws, portal)
        if len(self._portals) > 1000:
            self._portals.clear()
        self._portals[portal] = (now, names)
        return names

    async def _notification(self, message: SnsMessage, connections: list[str]) -> Response:
        media_id = media_id_of(message)
        keys: list[Key] = [(c, media_id) for c in connections] if media_id else []
        if not await self.store.accept(message.message_id, keys):
            self.stats.duplicates += 1
            return JSONResponse({"ok": True, "duplicate": True})
        self.stats.accepted += 1
        if media_id is None:
            log.warning("event consumer: notification %s (%s) names no media_id; ignored",
                        message.message_id, message.subject)
        for key in keys:
            self.schedule(key)
        return JSONResponse({"ok": True, "queued": len(keys)})

    async def _subscription(self, message: SnsMessage) -> Response:
        register_secret(message.raw.get("Token"))  # never in a log from here on
        if not await self.store.accept(message.message_id):
            self.stats.duplicates += 1
            return JSONResponse({"ok": True, "duplicate": True})
        self.stats.accepted += 1
        log.info("event consumer: confirming the subscription to %s (message %s)",
                 message.topic_arn, message.message_id)
        self._submit(lambda: self._spawn(self._confirm_subscription(message)))
        return JSONResponse({"ok": True, "confirming": True})

    async def _unsubscribed(self, message: SnsMessage) -> Response:
        register_secret(message.raw.get("Token"))
        if not await self.store.accept(message.message_id):
            self.stats.duplicates += 1
            return JSONResponse({"ok": True, "duplicate": True})
        self.stats.accepted += 1
        self.stats.unsubscribed += 1
        await self.store.unsubscribe(message.topic_arn)
        log.warning("event consumer: unsubscribed from %s (message %s); not re-subscribing",
                    message.topic_arn, message.message_id)
        await self._event({"kind": "events.unsubscribed", "topic": message.topic_arn,
                           "message_id": message.message_id,
                           "detail": "Bynder's SNS topic unsubscribed this endpoint; no "
                                     "re-subscribe. Ask Bynder to subscribe it again if needed."})
        return JSONResponse({"ok": True, "unsubscribed": True})

    async def _confirm_subscription(self, message: SnsMessage, tries: int = 5) -> None:
        url = message.subscribe_url or ""
        error = ""
        for attempt in range(1, tries + 1):
            try:
                status = await (self._confirm or _get_status)(url)
                error = f"HTTP {status}"
            except Exception as exc:  # noqa: BLE001 - retried, named without the URL
                status, error = 0, type(exc).__name__
            if 200 <= status < 300:
                self.stats.confirmed += 1
                log.info("event consumer: subscription to %s confirmed", message.topic_arn)
                await self._event({"kind": "events.subscribed", "topic": message.topic_arn,
                                   "message_id": message.message_id})
                return
            await asyncio.sleep(min(30.0, 0.5 * 2 ** (attempt - 1)))
        log.warning("event consumer: confirming %s failed (%s)", message.topic_arn, error)
        await self._event({"kind": "events.subscribe_failed", "topic": message.topic_arn,
                           "message_id": message.message_id, "detail": error})

    async def status(self, request: Request) -> Response:
        """``GET /events/status``: counters only, and only to loopback clients (behind a proxy,
        uvicorn's proxy headers make the client the remote one, which is refused)."""
        from ..settings import is_loopback_host

        client = request.client.host if request.client else ""
        if not is_loopback_host(client) or "x-forwarded-for" in request.headers:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse(self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        return {"accepted": s.accepted, "duplicates": s.duplicates, "refused": dict(s.refused),
                "syncs": s.syncs, "sync_failures": s.sync_failures, "results": dict(s.results),
                "confirmed": s.confirmed, "unsubscribed": s.unsubscribed,
                "max_concurrent_same_asset": s.max_concurrent_same_asset,
                "running": sum(1 for st in self._states.values() if st.running),
                "response_ms": _percentiles(self._response_ms),
                "store": self.store.stats() if self._started else None}

    # --- worker --------------------------------------------------------------------------------

    def schedule(self, key: Key, delay: float | None = None) -> None:
        """Ask for a sync of ``key`` (from any thread); coalesced with any run already waiting
        or running."""
        self._submit(self._schedule_local, key, delay)

    def _schedule_local(self, key: Key, delay: float | None = None) -> None:
        state = self._states.setdefault(key, _KeyState())
        if state.running or state.scheduled:
            return  # a waiting run covers it; a running one sees its generation when it ends
        state.scheduled = True
        state.task = self._spawn(self._run(key, self.settle_seconds if delay is None else delay))

    async def _run(self, key: Key, delay: float) -> None:
        state = self._states[key]
        if delay > 0:
            await self._sleep(delay)
        conn, _asset = key
        lock = self._conn_locks.setdefault(conn, asyncio.Lock())
        async with self._semaphore, lock:  # one sync_one per connection at a time (its file lock)
            state.scheduled = False
            state.running = True
            try:
                # the work accepted so far: notifications accepted from here on (their
                # generation is higher) leave the key pending, for one more run
                generation = self.store.generation_of(key)
                outcome = await self._sync_once(key)
                if outcome is None:  # failed: retried later, after a backoff
                    state.running = False
                    self._retry(key, state)
                    return
                state.attempts = 0
                try:
                    await self._on_http(self.store.done(key, generation))
                except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:  # noqa: BLE001 - the work stays pending; retried
                    await self._failed(key, f"recording the sync failed: {redact(str(exc))}")
                    state.running = False
                    self._retry(key, state)
                    return
            finally:
                state.running = False
        if self.store.is_pending(key) and not state.scheduled:
            # notified while it ran: the asset is changing now, so the next run waits the
            # settle delay too (Bynder's advice), and whatever else comes meanwhile joins it
            # instead of costing a run of its own
            state.scheduled = True
            state.task = self._spawn(self._run(key, self.settle_seconds))
        elif not state.scheduled:
            self._states.pop(key, None)

    async def _sync_once(self, key: Key) -> str | None:
        conn, asset = key
        self._active[key] = self._active.get(key, 0) + 1
        self.stats.max_concurrent_same_asset = max(self.stats.max_concurrent_same_asset,
                                                   self._active[key])
        self.stats.syncs += 1
        try:
            result = await (self._sync or _default_sync)(self.ws, conn, asset)
        except NotFoundError:
            if self.ws.index.get_connection(conn) is None:
                log.warning("event consumer: connection %s is gone; dropping asset %s", conn, asset)
                return "dropped"
            await self._failed(key, "NotFoundError")
            return None
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is retried and recorded
            text = exc.message if isinstance(exc, DamkitError) else f"{type(exc).__name__}: {exc}"
            await self._failed(key, redact(text))
            return None
        finally:
            self._active[key] -= 1
            if not self._active[key]:
                del self._active[key]
        self.stats.results[result] = self.stats.results.get(result, 0) + 1
        if result == "failed":
            await self._failed(key, "the sync of this asset failed (see the sync log)")
            return None
        return result

    async def _failed(self, key: Key, detail: str) -> None:
        state = self._states[key]
        state.attempts += 1
        self.stats.sync_failures += 1
        conn, asset = key
        log.warning("event consumer: sync of %s/%s failed (try %d): %s", conn, asset,
                    state.attempts, detail)
        if state.attempts > 3 and state.attempts & (state.attempts - 1):
            return None  # recorded: tries 1, 2, 3, then 4, 8, 16, ... (the index keeps 5000)
        await self._event({"kind": "events.sync_failed", "connection": conn, "asset": asset,
                           "attempt": state.attempts, "detail": detail})
        return None

    def _retry(self, key: Key, state: _KeyState) -> None:
        delay = min(self.retry_max, self.retry_base * 2 ** (max(1, state.attempts) - 1))
        delay *= 0.75 + random.random() / 2
        state.scheduled = True
        state.task = self._spawn(self._run(key, delay))

    async def _event(self, doc: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(self.ws.index.add_event, doc)
        except Exception as exc:  # noqa: BLE001 - a full index must not stop the consumer
            log.warning("event consumer: could not record an event: %s", redact(str(exc)))


def _percentiles(values: Iterable[float]) -> dict[str, float] | None:
    ordered = sorted(values)
    if not ordered:
        return None

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)

    return {"count": len(ordered), "p50": at(0.5), "p95": at(0.95), "max": round(ordered[-1], 2)}


def _queued_sync(ws: Workspace, config: Any) -> SyncFn | None:
    """With a task queue configured, each asset's work is a queued job that ``damkit worker``
    runs (``"queued"``; a job already waiting for the asset covers it), not a sync here."""
    from ..jobs import enqueue_change, queue_url

    return enqueue_change if queue_url(ws, config) else None


def _warm_up(sync: bool) -> None:
    """Import, before the first message, what handling it (and its sync) will need."""
    import importlib

    from .. import http  # noqa: F401

    importlib.import_module("anyio._backends._asyncio")  # what httpx loads on its first request
    if sync:
        from .. import sync as _sync  # noqa: F401


async def _default_sync(ws: Workspace, name: str, asset_id: str) -> str:
    from ..sync import sync_one

    return await sync_one(ws, name, asset_id)


async def _get_status(url: str) -> int:
    """GET the (verified, host-pinned) SubscribeURL; its status. No redirects."""
    from ..http import HttpClient

    async with HttpClient(timeout=10.0, connect_timeout=5.0, retries=2) as client:
        response = await client.request("GET", url, follow_redirects=False)
    return response.status_code


def build_consumer_app(
    ws: Workspace,
    *,
    topics: list[str] | None = None,
    trusted_cert_hosts: list[str] | None = None,
    fetch_cert: CertFetcher | None = None,
    **options: Any,
) -> Starlette:
    """The consumer as a Starlette app. ``topics`` / ``trusted_cert_hosts`` default to the
    workspace config (``sns_topics``, ``sns_trusted_cert_hosts``); ``options`` go to
    :class:`EventConsumer` (``settle_seconds``, ``concurrency``, ``sync``, ``max_body``, ...).

    The consumer starts with the app's lifespan; ``app.state.consumer`` is the
    :class:`EventConsumer`.
    """
    consumer = EventConsumer(ws, topics=topics, trusted_cert_hosts=trusted_cert_hosts,
                             fetch_cert=fetch_cert, **options)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await consumer.start()
        except Exception as exc:
            app.state.startup_error = exc  # e.g. ConsumerBusyError; ConsumerServer re-raises it
            raise
        try:
            yield
        finally:
            await consumer.stop()

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = _ConsumerApp(
        routes=[
            Route(f"{ROUTE_PREFIX}/{{portal}}", consumer.handle, methods=methods),
            Route("/events/status", consumer.status, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.consumer = consumer
    return app


class _ConsumerApp(Starlette):
    """The consumer's app: a message goes straight to :meth:`EventConsumer.handle`.

    SNS's POSTs skip Starlette's middleware and router (their error handling wraps a handler
    that answers every outcome itself): a burst of notifications spends its CPU on verifying
    and recording, not on layers. Every other request (status, lifespan, unknown paths) takes
    the ordinary way."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):  # as Starlette's router reads the path
                path = path[len(root):]
            portal = path[len(ROUTE_PREFIX) + 1:]
            if path.startswith(ROUTE_PREFIX + "/") and portal and "/" not in portal:
                scope["app"] = self
                scope["path_params"] = {"portal": portal}  # as the route's {portal} matches
                consumer: EventConsumer = self.state.consumer
                response = await consumer.handle(Request(scope, receive))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _refuse_if_busy(consumer: EventConsumer) -> None:
    """Another consumer on this workspace: say so before the server starts (a failure inside the
    server's startup would print its traceback before the message). The lock is only probed
    here; the server's startup takes it for good (and says the same if it lost a race)."""
    from ..oslock import FileLock, LockTimeout
    from .store import ConsumerBusyError

    directory = consumer.store.directory
    directory.mkdir(parents=True, exist_ok=True)
    probe = FileLock(str(directory / "consumer.lock"), timeout=0)
    try:
        probe.acquire()
    except LockTimeout:
        raise ConsumerBusyError(
            f"another event consumer is running on this workspace ({directory})",
            hint="stop it first: one consumer per workspace keeps MessageIds deduplicated",
        ) from None
    probe.release()


def serve_events(ws: Workspace, host: str = "127.0.0.1", port: int = 8787, **options: Any) -> None:
    """Run the consumer in the foreground (``damkit events serve``) until interrupted.

    Binds loopback by default: put it behind an HTTPS reverse proxy or tunnel (docs/events.md).
    """
    import uvicorn

    from ..redact import install_log_redaction
    from ..settings import is_loopback_host

    install_log_redaction()
    if not is_loopback_host(host):
        log.warning("event consumer: listening on %s, not loopback; it is meant to sit behind an "
                    "HTTPS reverse proxy or tunnel on the same machine", host)
    app = build_consumer_app(ws, **options)
    _refuse_if_busy(app.state.consumer)
    log.info("event consumer on http://%s:%d%s/<portal>", host, port, ROUTE_PREFIX)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=True,
                            forwarded_allow_ips="127.0.0.1", lifespan="on", access_log=False)
    try:
        uvicorn.Server(config).run()
    except SystemExit:
        error = getattr(app.state, "startup_error", None)
        if isinstance(error, DamkitError):
            raise error from None  # e.g. another consumer holds the workspace: a clear message
        raise


__all__ = ["EventConsumer", "build_consumer_app", "media_id_of", "serve_events"]
