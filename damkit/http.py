"""The one HTTP layer every provider uses, and the one retry policy of the whole stack.

- **Budgets** (:class:`HostBudget`): one request budget per DAM host, shared by every
  connection, client and the event consumer in the process. A budget paces requests (a token
  bucket that waiting requests borrow from; safe across event loops and threads) and adapts
  (AIMD): from the
  provider's documented limit it only backs off on 429 and recovers up to it; where no limit is
  published it opens at the connector's polite rate, rises while the DAM answers (doubling per
  second until the first 429, then a few per cent per second) and, on a 429, falls just under
  the rate the DAM was actually accepting, so a run settles just under whatever limit the
  server enforces. ``Retry-After`` holds every request to that host.
- **Patience** (:class:`Patience`, set per run through :func:`patience`): the only retry policy.
  A 429 is waited out while the run's throttle budget lasts (minutes for a sync, seconds for Test
  Connection); 5xx and transport errors get a few tries per request with backoff; a circuit
  breaker stops every request of the run once the DAM or its file host fails consistently.
  Nobody above this layer retries a request that reached an answer; the sync engine only
  restarts a file whose body broke off (:class:`~damkit.errors.BodyCut`).
- **Errors**: the most specific class of :mod:`damkit.errors` (unreachable, refused, forbidden,
  not found, rate limited with its wait, unavailable). URLs in errors and logs are redacted.

Redirects are followed by hand: an authenticated request never carries its credentials to another
host, and plain http is allowed to loopback hosts only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import email.utils
import functools
import inspect
import logging
import random
import select
import socket
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from .errors import BodyCut, CircuitOpen, HttpError, Unreachable, error_for_status
from .redact import redact, redact_url
from .settings import is_loopback_host

log = logging.getLogger("damkit.http")

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
FAIL_STATUS = frozenset({408, 500, 502, 503, 504})
#: Called with (response, streamed, seconds) after every exchange while set (damkit.record).
EXCHANGE_HOOK: contextvars.ContextVar[Any] = contextvars.ContextVar("damkit_exchange_hook",
                                                                    default=None)
USER_AGENT = "damkit/0.1"

#: where no limit is published and the connector gives no polite rate either
OPENING_RATE = 5.0
MIN_RATE = 0.5
MAX_RATE = 2000.0  # "unpaced" in practice; concurrency bounds the rest
#: added to a documented window: requests sent a window apart may arrive a little closer
WINDOW_MARGIN = 0.05

#: a documented limit of at most ``count`` requests in any ``seconds`` (Bynder: 15 in a second)
Window = tuple[int, float]


# --- budgets ------------------------------------------------------------------------------------


def budget_key(url: str, base: str = "") -> str:
    """Which budget a URL spends: its origin.

    On loopback the sandbox serves every DAM on one port under a path of its own (the client's
    ``base``, else the first path segment) and stands in for file hosts with a segment starting
    with ``_`` below it (``/bynder/_s3``): there those path segments are part of the key.
    """
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if not is_loopback_host(parts.hostname or ""):
        return origin
    path = parts.path
    base_path = urlsplit(base).path.rstrip("/") if base and url.startswith(base) else None
    if base_path is None:
        first = [s for s in path.split("/") if s][:1]
        base_path = "/" + first[0] if first else ""
    rest = [s for s in path[len(base_path):].split("/") if s]
    key = origin + base_path
    if rest and rest[0].startswith("_") and len(rest) > 1:
        key += "/" + rest[0]
    return key


class HostBudget:
    """The request budget of one DAM host (see the module's doc)."""

    RISE = 0.015  # per answer while paced: +1.5 % of the rate per second

    def __init__(self, key: str) -> None:
        self.key = key
        self._lock = threading.Lock()
        self.rate: float | None = None  # requests/s now; None = not paced (until a 429)
        self.ceiling: float | None = None  # never above: a documented limit or the user's --rate
        self.opening: float | None = None
        self.burst = 1.0
        self.slow_start = True
        self.configured = False
        self.documented = False
        self.fixed = False  # the user's --rate
        self._tokens = 1.0  # a token bucket that may go into debt (requests waiting their turn)
        self._updated = time.monotonic()
        self.blocked_until = 0.0
        self._last_cut = 0.0
        self._seen_limit = float("inf")  # the lowest rate the DAM accepted when it refused more
        self._ok: collections.deque[float] = collections.deque(maxlen=4096)
        self.window: Window | None = None
        self._starts: collections.deque[float] = collections.deque()  # slots, for ``window``
        self.stats = {"requests": 0, "429": 0}

    def configure(self, rate: float | None, *, burst: int | None = None,
                  documented: bool = False, fixed: bool = False,
                  window: Window | None = None) -> None:
        """Set where the budget starts and how far it may rise.

        ``documented``: ``rate`` is the DAM's published limit (a ceiling it only backs off
        from); ``fixed``: the user chose ``rate`` (the start and a ceiling); otherwise ``rate``
        is an opening rate to rise from. A budget already configured the same way keeps what it
        learned (the next run of the process starts where the last one settled).

        ``window``: the DAM documents its limit as at most ``count`` requests in any ``seconds``
        (a fact of the host, kept whatever the rate): no such window (plus
        :data:`WINDOW_MARGIN`) ever holds more, and a documented budget may spend a whole
        window's worth at once, so a short exchange (Test Connection) is not paced at all while
        a long run still averages under the limit.
        """
        with self._lock:
            if window is not None:
                self._learn_window(window)
            same = (self.configured and rate == self.opening and documented == self.documented
                    and fixed == self.fixed)
            if same and not fixed:
                return
            fresh = not self.configured
            self.configured = True
            self.opening, self.documented, self.fixed = rate, documented, fixed
            self.rate = rate
            self.ceiling = rate if (documented or fixed) else None
            self.slow_start = not (documented or fixed)
            self.burst = float(max(1, burst or 1))
            if self.window is not None and documented:
                self.burst = max(self.burst, float(self.window[0]))
            # A fresh budget starts full, as a token bucket does after a quiet spell: the first
            # ``burst`` requests (a Test Connection's handful) go at once; later ones are paced.
            self._tokens = self.burst if fresh else min(self._tokens, self.burst)
            self._seen_limit = float("inf")

    def ensure(self, rate: float | None, burst: int | None,
               window: Window | None = None) -> None:
        """A client's constructor: its rate is taken as a limit until a sync says otherwise;
        a documented ``window`` is learnt whenever it is given."""
        if not self.configured and rate:
            self.configure(rate, burst=burst, documented=True, window=window)
        elif window is not None:
            with self._lock:
                self._learn_window(window)

    def _learn_window(self, window: Window) -> None:
        self.window = (max(1, int(window[0])), float(window[1]))
        self._starts = collections.deque(self._starts, maxlen=self.window[0])
        if self.documented:
            self.burst = max(self.burst, float(self.window[0]))

    def _reserve(self, now: float) -> float:
        """Take a token (going into debt if none is left) and a slot in the documented window;
        returns how long to wait for both."""
        start = max(now, self.blocked_until)
        slot = start
        if self.rate is not None:
            if start > self._updated:
                self._tokens = min(self.burst, self._tokens + (start - self._updated) * self.rate)
                self._updated = start
            self._tokens -= 1.0
            slot = start + max(0.0, -self._tokens / self.rate)
        if self.window is not None:
            count, seconds = self.window
            if len(self._starts) >= count:  # the count-th last slot must leave the window first
                slot = max(slot, self._starts[0] + seconds + WINDOW_MARGIN)
            if self._starts:
                slot = max(slot, self._starts[-1])
            self._starts.append(slot)
        return slot - now

    async def acquire(self) -> None:
        while True:
            with self._lock:
                wait = self._reserve(time.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
            with self._lock:
                if time.monotonic() >= self.blocked_until:
                    self.stats["requests"] += 1
                    return
            # a 429 came meanwhile: queue again, after the hold

    def answered(self) -> None:
        """A request was answered (not 429): rise while the budget is what holds us back."""
        now = time.monotonic()
        with self._lock:
            self._ok.append(now)
            if self.rate is None or self._tokens > self.burst / 2:
                return  # not saturated: the DAM is not what limits us
            if self.ceiling is not None and self.rate >= self.ceiling:
                return
            if self.slow_start:
                step = 1.0  # +1 per answer: doubles each second
            elif self.documented or self.fixed:
                step = 0.1  # back up to the limit within seconds
            elif self.rate < 0.97 * self._seen_limit:
                step = self.RISE  # probing for the unknown limit: +1.5 % per second
            else:
                step = self.RISE / 8  # near where it refused before: creep
            self.rate = min(self.rate + step, self.ceiling or MAX_RATE)

    def accepted_rate(self, now: float, window: float = 1.0) -> float:
        """Answers per second over the last ``window`` seconds."""
        return sum(1 for t in self._ok if t >= now - window) / window

    def throttled(self, retry_after: float) -> None:
        """A 429: hold every request for ``retry_after``; back off (at most once a second) when
        the DAM was answering us just before, i.e. when our rate was what it refused. A 429
        after a hold with nothing answered since is the DAM holding everyone: no back-off."""
        now = time.monotonic()
        with self._lock:
            self.stats["429"] += 1
            self.blocked_until = max(self.blocked_until, now + retry_after)
            # after the hold: paced from one token, no burst; nothing accrues while held (a
            # request that wakes up during the hold queues again behind the others)
            self._tokens = 1.0
            self._updated = max(self._updated, self.blocked_until)
            accepted = self.accepted_rate(now)
            if now - self._last_cut < 1.0 or accepted == 0:
                return
            self._last_cut = now
            if self.rate is None:  # not paced until now: start just under what was accepted
                self.rate = max(MIN_RATE, 0.9 * accepted)
            elif self.documented or self.fixed:  # someone else spends this budget too
                self.rate = max(MIN_RATE, min(self.rate * 0.7, accepted))
            else:  # just under the rate the DAM was accepting
                # what it accepted, not our own rate: a refusal of the opening burst (in slow
                # start, our rate still low) says where the limit is, not that our rate was too
                # high (at a 13/s limit, 90 % of the opening 6/s left a run at half the limit
                # for a minute)
                self._seen_limit = min(self._seen_limit, accepted)
                self.rate = max(MIN_RATE, 0.9 * self._seen_limit)
            self.slow_start = False


_budgets: dict[str, HostBudget] = {}
_budgets_lock = threading.Lock()


def budget_for(url: str, base: str = "") -> HostBudget:
    """The process-wide budget of ``url``'s host (``base``: the client's base URL)."""
    key = budget_key(url, base)
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = HostBudget(key)
        return budget


class RateLimiter:
    """A stand-alone pacer (a budget of its own): ``await limiter.acquire()``."""

    def __init__(self, rate: float | None, burst: int | None = None) -> None:
        self._budget = HostBudget("local")
        if rate:
            self._budget.configure(rate, burst=burst, fixed=True)

    async def acquire(self) -> None:
        await self._budget.acquire()


# --- patience: the one retry policy -------------------------------------------------------------


WaitCallback = Callable[[str, float], "Awaitable[None] | None"]


@dataclass
class Patience:
    """How long a run waits out throttling, how often a failing request is tried again, and
    when it gives up on a DAM that keeps failing (the circuit breaker).

    ``throttle_budget``: seconds the run may spend held by 429s in all (the union of the holds,
    not their sum over concurrent requests); ``retries``: further tries of one request after a
    5xx or a transport error; ``breaker_window``/``breaker_failures``: the breaker opens when
    that many of the last ``breaker_window`` answers of the run were failures (5xx, no answer,
    a body cut off). ``on_wait(host, seconds)`` is told each new hold (progress).
    """

    throttle_budget: float = 15.0
    retries: int = 3
    backoff: float = 0.25
    max_backoff: float = 10.0
    breaker_window: int = 20
    breaker_failures: int = 14
    on_wait: WaitCallback | None = None
    throttled_s: float = 0.0
    throttles: int = 0
    failures: int = 0
    broken: CircuitOpen | None = None
    _held_until: float = 0.0
    _recent: collections.deque[bool] = field(default_factory=lambda: collections.deque(maxlen=64))

    def hold(self, seconds: float) -> bool:
        """A 429 asking for ``seconds``: may the run wait that long? (counts the hold)"""
        now = time.monotonic()
        until = now + seconds
        extra = max(0.0, until - max(now, self._held_until))
        self.throttles += 1
        if self.throttled_s + extra > self.throttle_budget:
            return False
        self.throttled_s += extra
        self._held_until = max(self._held_until, until)
        return True

    def record(self, ok: bool, where: str = "") -> None:
        """One answer: feeds the breaker."""
        self._recent.append(ok)
        if ok:
            return
        self.failures += 1
        window = list(self._recent)[-self.breaker_window:]
        if self.broken is None and len(window) >= self.breaker_window \
                and window.count(False) >= self.breaker_failures:
            self.broken = CircuitOpen(
                f"stopped early: {window.count(False)} of the last {len(window)} requests to "
                f"{where or 'the DAM'} failed (the DAM or its file host is down)",
                url=where or None, kind="http",
                hint="what failed is marked and is tried again by the next sync; check the DAM's "
                     "status page")

    async def waiting(self, host: str, seconds: float) -> None:
        if self.on_wait is None or seconds <= 0:
            return
        try:
            result = self.on_wait(host, seconds)
            if inspect.isawaitable(result):
                await result
        except Exception:  # progress must not break a request
            log.exception("progress callback failed")


#: Outside a run (Test Connection, one-off calls): answer in seconds.
QUICK = Patience(throttle_budget=5.0, retries=2, breaker_window=10_000, breaker_failures=10_000)

_patience: contextvars.ContextVar[Patience | None] = contextvars.ContextVar("damkit_patience",
                                                                           default=None)


def current_patience() -> Patience:
    return _patience.get() or Patience(throttle_budget=QUICK.throttle_budget, retries=QUICK.retries,
                                       breaker_window=QUICK.breaker_window,
                                       breaker_failures=QUICK.breaker_failures)


@contextlib.contextmanager
def patience(policy: Patience) -> Iterator[Patience]:
    """Every request made in this context (and the tasks it starts) follows ``policy``."""
    token = _patience.set(policy)
    try:
        yield policy
    finally:
        _patience.reset(token)


def parse_retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def response_json(response: httpx.Response) -> Any:
    """The JSON of a response, parsed by orjson (a 10,000-asset listing spends a sixth of its
    CPU in the standard library's parser); what orjson refuses (another charset, an integer
    beyond 64 bits) goes to httpx's own parser, so nothing that parsed before fails now.
    Raises ValueError when the body is not JSON."""
    import orjson

    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.json()


def check_scheme(url: str) -> None:
    if url.startswith("https://"):  # every request asks: the common answer without a parse
        return
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname or ""):
        return
    raise HttpError(f"refusing {parts.scheme}:// to {parts.hostname}: only https (http to loopback)",
                    url=redact_url(url), kind="protocol")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one TLS context (httpx's defaults: certifi, or ``SSL_CERT_FILE``/``_DIR``).

    Loading the CA bundle costs tens of milliseconds; every client shares this one context
    instead of loading it again, and a client that never speaks https never loads it.
    """
    return httpx.create_ssl_context()


@functools.cache
def _unused_tls() -> ssl.SSLContext:
    """The plain-http transport's TLS context, never used for a handshake: given none, httpx
    makes one per transport (2 ms of CPU, twice per provider opened, e.g. per event sync). It
    trusts no CA, so it would refuse any https it were ever given."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class _IdleCheckedStream(httpcore.AsyncNetworkStream):
    """httpcore's anyio stream, answering "is_readable" from its socket kept at connect.

    httpcore asks every idle connection of the pool whether its socket is readable (closed by
    the server) for every request it places; anyio answers by building a dict of every socket
    attribute, a ``getpeername`` call among them. That was a tenth of a sync's CPU."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _IdleCheckedStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._sock is not None:
            return _readable(self._sock)
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket) -> bool:
    """Whether a read would not block (data, or the server's close), as httpcore decides it."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if sys.platform == "win32" or not hasattr(select, "poll"):
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Backend(httpcore.AsyncNetworkBackend):
    """httpcore's own anyio backend, its streams wrapped in :class:`_IdleCheckedStream`."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _IdleCheckedStream(await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address,
            socket_options=socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _IdleCheckedStream(await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _transport(verify: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport on :class:`_Backend` (httpx takes no backend, so its pool is rebuilt
    with the same settings; where a later httpx has no such pool, its own stays)."""
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool):
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, http1=True, http2=False,
            network_backend=_Backend())
    return transport


class LazyTlsTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, with TLS set up on the first https request (see
    :func:`tls_context`): a client of a plain-http loopback host never loads the CA bundle."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._plain: httpx.AsyncHTTPTransport | None = None
        self._tls: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            if self._tls is None:
                self._tls = _transport(tls_context(), self._limits)
            return await self._tls.handle_async_request(request)
        if self._plain is None:  # plain http (loopback only, see check_scheme): no TLS at all
            self._plain = _transport(_unused_tls(), self._limits)
        return await self._plain.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._plain, self._tls):
            if transport is not None:
                await transport.aclose()


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


class HttpClient:
    """An async HTTP client for one connection.

    ``auth`` is any ``httpx.Auth`` (or a callable returning one, re-evaluated per try so refreshed
    tokens are used). It is applied only to requests to ``base_url``'s origin. ``rate``/``burst``
    configure the host's shared budget when nobody did yet (taken as a limit until a sync
    says how to treat it); ``window``: the DAM's documented limit as a count in a time window
    (:meth:`HostBudget.configure`); ``retries`` caps the policy's tries of a 5xx for this client.
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        auth: httpx.Auth | None = None,
        rate: float | None = None,
        burst: int | None = None,
        window: Window | None = None,
        max_connections: int = 16,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retries: int | None = None,
        backoff: float | None = None,
        max_backoff: float | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.rate, self.burst, self.window = rate, burst, window
        if self.base_url:
            self.budget.ensure(rate, burst, window)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stats = {"requests": 0, "retries": 0, "429": 0}
        limits = httpx.Limits(max_connections=max_connections,
                              max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=limits,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            follow_redirects=False,
            transport=transport or LazyTlsTransport(limits),
        )

    @property
    def budget(self) -> HostBudget:
        """The shared budget of this client's own host."""
        return budget_for(self.base_url or "http://localhost", self.base_url)

    @property
    def limiter(self) -> HostBudget:  # the name older callers know
        return self.budget

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _auth_for(self, url: httpx.URL, auth: httpx.Auth | bool | None) -> httpx.Auth | None:
        if auth is False:
            return None
        chosen = auth if isinstance(auth, httpx.Auth) else self.auth
        if chosen is None or not self.base_url:
            return chosen
        if not _same_origin(url, httpx.URL(self.base_url)) and auth is None:
            return None  # default credentials only go to the connection's own origin
        return chosen

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | bool | None = None,
        ok: tuple[int, ...] | None = None,
        follow_redirects: bool = True,
        retries: int | None = None,
    ) -> httpx.Response:
        """Send under the current :class:`Patience`; returns the response for any status that is
        not retried (or once patience ran out). ``retries`` (here, or the client's): at most that
        many further tries of anything, 429 included (Test Connection's quick answers).

        With ``ok`` given, any other final status raises the matching :class:`HttpError`.
        """
        url = self.url(path)
        response = await self._send_retrying(
            method, url, params=params, data=data, json=json, headers=headers, auth=auth,
            follow_redirects=follow_redirects, stream=False, retries=retries)
        if ok is not None and response.status_code not in ok:
            raise status_error(response, url)
        return response

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | bool | None = None,
        retries: int | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open a streamed response (status 2xx), retrying until the headers arrive.

        A body cut mid-way surfaces as :class:`~damkit.errors.BodyCut` from iteration; the
        caller (the sync engine) decides to restart the file.
        """
        url = self.url(path)
        policy = current_patience()
        response = await self._send_retrying(
            method, url, params=params, data=None, json=None, headers=headers, auth=auth,
            follow_redirects=True, stream=True, retries=retries)
        if not 200 <= response.status_code < 300:
            await response.aread()
            await response.aclose()
            raise status_error(response, url)
        where = budget_key(str(response.url), self.base_url)
        try:
            yield response
        except httpx.TransportError as exc:
            policy.record(False, where)
            raise transport_error(exc, url, mid_body=True) from None
        else:
            policy.record(True, where)
        finally:
            await response.aclose()

    async def _send_retrying(
        self, method: str, url: str, *, params: Any, data: Any, json: Any, headers: Any,
        auth: httpx.Auth | bool | None, follow_redirects: bool, stream: bool,
        retries: int | None,
    ) -> httpx.Response:
        """Send until an answer that is not retried, or raise after the last try.

        429: waited out (``Retry-After``, on the host's budget) while the run's throttle budget
        lasts; 5xx/408 and transport errors: the policy's tries; the breaker stops it all.
        """
        check_scheme(url)
        policy = current_patience()
        # quick (every try counted, 429 included): asked for by this request, or outside a run
        # by a client made with its own ``retries`` (Test Connection's clients)
        in_run = _patience.get() is not None
        quick = retries is not None or (self.retries is not None and not in_run)
        tries = policy.retries
        for cap in (self.retries, retries):
            if cap is not None:
                tries = min(tries, cap)
        where = budget_key(url, self.base_url)
        attempt = 0  # failed tries so far (429s not counted unless quick)
        while True:
            if policy.broken is not None:
                raise policy.broken
            try:
                response = await self._send_following(
                    method, url, params=params, data=data, json=json, headers=headers,
                    auth=auth, follow_redirects=follow_redirects, stream=stream)
            except httpx.TransportError as exc:
                policy.record(False, where)
                attempt += 1
                if attempt > tries or policy.broken is not None:
                    raise transport_error(exc, url) from None
                await self._sleep_before_retry(policy, attempt, type(exc).__name__, url)
                continue
            status = response.status_code
            if status == 429:
                wait = max(0.05, parse_retry_after(response.headers.get("Retry-After"), 1.0))
                if quick:
                    attempt += 1
                    if attempt > tries:
                        return response
                elif not policy.hold(wait):
                    return response  # patience ran out: the caller raises RateLimited
                await response.aclose()
                self.stats["retries"] += 1
                await policy.waiting(urlsplit(url).hostname or "the DAM", wait)
                log.info("throttled by %s: waiting %.1fs", redact_url(url), wait)
                continue  # the budget holds this request until Retry-After has passed
            if status in FAIL_STATUS:
                policy.record(False, where)
                attempt += 1
                if attempt <= tries and policy.broken is None:
                    await response.aclose()
                    await self._sleep_before_retry(policy, attempt, str(status), url)
                    continue
                return response
            if not stream:
                policy.record(True, where)
            return response

    async def _send_following(
        self, method: str, url: str, *, params: Any, data: Any, json: Any, headers: Any,
        auth: httpx.Auth | bool | None, follow_redirects: bool, stream: bool,
    ) -> httpx.Response:
        origin = target = httpx.URL(url)  # parsed once: a long query costs a pass per parse
        current_auth = self._auth_for(origin, auth)
        for _ in range(10):
            budget = budget_for(url, self.base_url)
            if not self.base_url:
                budget.ensure(self.rate, self.burst, self.window)
            await budget.acquire()
            self.stats["requests"] += 1
            request = self._client.build_request(method, target, params=params, data=data,
                                                 json=json, headers=headers)
            sent = time.perf_counter()
            response = await self._client.send(request, auth=current_auth, stream=stream)
            if (hook := EXCHANGE_HOOK.get()) is not None:
                hook(response, stream, time.perf_counter() - sent)
            if response.status_code == 429:
                self.stats["429"] += 1
                budget.throttled(parse_retry_after(response.headers.get("Retry-After"), 1.0))
            elif response.status_code < 500:
                budget.answered()
            if not (follow_redirects and response.is_redirect):
                return response
            location = response.headers.get("Location", "")
            if stream and _small_body(response):
                await response.aread()  # read the (tiny) body so the connection can be reused
            await response.aclose()
            target = response.url.join(location)
            check_scheme(str(target))
            if not _same_origin(target, origin):
                current_auth = None  # never carry credentials to another host
            if response.status_code in (301, 302, 303) and method != "HEAD":
                method, data, json = "GET", None, None
            url, params = str(target), None
        raise HttpError("too many redirects", url=redact_url(url), kind="protocol")

    async def _sleep_before_retry(self, policy: Patience, attempt: int, reason: str,
                                  url: str) -> None:
        self.stats["retries"] += 1
        backoff = policy.backoff if self.backoff is None else self.backoff
        ceiling = policy.max_backoff if self.max_backoff is None else self.max_backoff
        delay = min(ceiling, backoff * (2 ** (attempt - 1)))
        delay = delay * (0.5 + random.random() / 2)
        log.info("retry %d after %s in %.2fs: %s", attempt, reason, delay, redact_url(url))
        await asyncio.sleep(delay)


def _small_body(response: httpx.Response, limit: int = 65_536) -> bool:
    try:
        return 0 <= int(response.headers.get("Content-Length", "-1")) <= limit
    except ValueError:
        return False


def transport_error(exc: httpx.TransportError, url: str, *, mid_body: bool = False) -> HttpError:
    """Name what failed: DNS, TLS, connect, timeout or a cut body, with no secret in it."""
    safe = redact_url(url)
    host = urlsplit(url).hostname or "?"
    text = redact(str(exc)) or type(exc).__name__
    if mid_body:
        return BodyCut(f"the transfer from {host} broke off: {type(exc).__name__}: {text}",
                       url=safe, kind="protocol")
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return Unreachable(f"TLS failed with {host}: {text}", url=safe, kind="tls",
                               hint="check the domain; a proxy or a wrong host may present "
                                    "another certificate")
        cause = cause.__cause__ or cause.__context__
    lowered = text.lower()
    if isinstance(exc, httpx.ConnectError) and ("name or service" in lowered or "nodename" in lowered
                                                  or "getaddrinfo" in lowered or "name resolution" in lowered
                                                  or "no address" in lowered):
        return Unreachable(f"the domain {host} does not resolve", url=safe, kind="dns",
                           hint="check the spelling of the domain")
    if "certificate" in lowered or "ssl" in lowered:
        return Unreachable(f"TLS failed with {host}: {text}", url=safe, kind="tls")
    if isinstance(exc, httpx.TimeoutException):
        return Unreachable(f"{host} did not answer in time ({type(exc).__name__})", url=safe,
                           kind="timeout")
    if isinstance(exc, httpx.ConnectError):
        return Unreachable(f"cannot connect to {host}: {text}", url=safe, kind="connect")
    return Unreachable(f"connection to {host} failed: {type(exc).__name__}: {text}", url=safe,
                       kind="protocol")


def status_error(response: httpx.Response, url: str) -> HttpError:
    """The most specific error for a final answer that is not a success."""
    status = response.status_code
    safe = redact_url(url)
    host = urlsplit(url).hostname or "?"
    retry_after = None
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), 1.0)
        msg = f"{host} kept answering 429 Too Many Requests"
    elif status >= 500:
        msg = f"{host} kept answering {status} {response.reason_phrase}"
    else:
        msg = f"{host} answered {status} {response.reason_phrase}"
    return error_for_status(status, msg, url=safe, retry_after=retry_after)


def join(base: str, path: str) -> str:
    return urljoin(base.rstrip("/") + "/", path.lstrip("/"))
