"""Fault injection for the emulated providers: an ASGI middleware around each provider mount.

Knobs (:class:`FaultSpec`, one per provider, changed at run time by ``/_sandbox/<p>/faults``):

- ``latency_ms``: added delay before every answer (faulty answers included);
- ``fault_rate``: share (0..1) of requests answered with a 5xx from ``fault_statuses``
  (500/502/503 in turn; any 4xx/5xx may be listed, e.g. 400 for a failure that must not be
  retried, still counted as ``5xx``); ``fail_next``: the next N requests answer 5xx whatever the rate;
- ``burst_429``: the next N requests answer 429 with ``Retry-After: <retry_after>``;
- ``cut_rate`` / ``cut_next``: the answer declares its full ``Content-Length`` but only half
  the body is sent before the connection closes (clients see e.g. ``httpx.RemoteProtocolError``);
- ``slow_body_bps``: every body is trickled at that many bytes per second (0 = off);
- ``match``: a regular expression searched in the path below the mount (``/api/v5/asset/``);
  when set, only matching requests are touched (e.g. ``"download|cdn"`` to hit downloads only);
- ``max_streak``: random faults (``fault_rate``, ``cut_rate``) hit one path at most this many
  times in a row, then it answers cleanly once (0 = no bound): a transient fault that ends, so
  a test can claim that a client which tries more often than that always gets through;
- ``rate_limit``: a limit the client is not told, in requests per second per client host (a
  token bucket holding one second's worth), answered ``429`` with ``Retry-After: 1`` and no
  rate-limit headers; it counts the provider's API and files, not the stand-ins for other hosts
  (paths below the mount starting with ``/_``, e.g. Bynder's ``/_s3``); 0 = off;
- ``shift_listing``: the next successful answer that lists assets (a request matching ``match``:
  set it to the listing's path) has that many of the tagged assets it lists lose the tag right
  after it is sent, so a client paging by offset skips as many others on the next page (what
  happens when people untag assets during a long listing).

Paths below the mount that start with ``/_sandbox``, ``/_revoke``, ``/_expire`` (an emulator's
own control routes) or ``/_sns`` (the emulated AWS SNS) are never faulted; file hosts such as
Bynder's ``/_s3`` or Canto's ``/_files`` are.

Rates draw from a hash of (sandbox seed, provider, path, how many requests that path had since
the spec was set), so each path meets the same faults on every run whatever order concurrent
requests arrive in (a 429 does not count as one of the path's requests; a PATCH of the spec
goes on where the draws were, a PUT or DELETE starts them again);
``fault_rate=1.0`` fails every request and ``0.0`` none. Counters (``*_next``, ``burst_429``)
are exact. Order of checks per request: latency, rate limit, 429 burst, 5xx, then cut or slow
body (or the listing shift).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from .catalog import Catalog

#: Fields of :class:`FaultSpec` that a user may set (the control API's and config's names).
FAULT_FIELDS = ("latency_ms", "fault_rate", "fault_statuses", "fail_next", "burst_429",
                "retry_after", "cut_rate", "cut_next", "slow_body_bps", "match", "max_streak",
                "rate_limit", "shift_listing")

#: Paths below a provider mount that are sandbox plumbing, not the provider's API: never faulted.
EXEMPT = ("/_sandbox", "/_sns", "/_revoke", "/_expire")

_cutting: contextvars.ContextVar[bool] = contextvars.ContextVar("damkit_sandbox_cut", default=False)


def parse_rate_limits(values: list[str]) -> dict[str, dict[str, float]]:
    """``["canto=20", "percolate=35"]`` -> faults ``{"canto": {"rate_limit": 20.0}, ...}``."""
    faults: dict[str, dict[str, float]] = {}
    for value in values:
        provider, sep, rate = value.partition("=")
        try:
            number = float(rate)
        except ValueError:
            number = -1.0
        if not sep or not provider.strip() or number < 0:
            raise ValueError(f"--rate-limit {value!r}: write PROVIDER=REQUESTS_PER_SECOND, "
                             "e.g. canto=20")
        faults[provider.strip()] = {"rate_limit": number}
    return faults


class FaultError(ValueError):
    """A fault spec that makes no sense (unknown field, rate outside 0..1, ...)."""


@dataclass
class FaultSpec:
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_statuses: tuple[int, ...] = (500, 502, 503)
    fail_next: int = 0
    burst_429: int = 0
    retry_after: int = 1
    cut_rate: float = 0.0
    cut_next: int = 0
    slow_body_bps: float = 0.0
    match: str = ""
    max_streak: int = 0
    rate_limit: float = 0.0
    shift_listing: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: FaultSpec | None = None) -> FaultSpec:
        """Validate ``data`` and return a new spec: ``base`` (or the defaults) with it applied."""
        if not isinstance(data, dict):
            raise FaultError("faults must be a JSON object")
        unknown = sorted(set(data) - set(FAULT_FIELDS))
        if unknown:
            raise FaultError(f"unknown fault field(s): {', '.join(unknown)}; "
                             f"known: {', '.join(FAULT_FIELDS)}")
        values = asdict(base) if base is not None else {}
        values.update(data)
        try:
            spec = cls(
                latency_ms=float(values.get("latency_ms", 0.0)),
                fault_rate=float(values.get("fault_rate", 0.0)),
                fault_statuses=tuple(int(s) for s in values.get("fault_statuses", (500, 502, 503))),
                fail_next=int(values.get("fail_next", 0)),
                burst_429=int(values.get("burst_429", 0)),
                retry_after=int(values.get("retry_after", 1)),
                cut_rate=float(values.get("cut_rate", 0.0)),
                cut_next=int(values.get("cut_next", 0)),
                slow_body_bps=float(values.get("slow_body_bps", 0.0)),
                match=str(values.get("match", "") or ""),
                max_streak=int(values.get("max_streak", 0) or 0),
                rate_limit=float(values.get("rate_limit", 0.0) or 0.0),
                shift_listing=int(values.get("shift_listing", 0) or 0),
            )
        except (TypeError, ValueError) as exc:
            raise FaultError(f"bad fault value: {exc}") from None
        spec.validate()
        return spec

    def validate(self) -> None:
        for name in ("fault_rate", "cut_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise FaultError(f"{name} must be between 0 and 1")
        for name in ("latency_ms", "fail_next", "burst_429", "retry_after", "cut_next",
                     "slow_body_bps", "max_streak", "rate_limit", "shift_listing"):
            if getattr(self, name) < 0:
                raise FaultError(f"{name} must not be negative")
        if not self.fault_statuses or any(not 400 <= s <= 599 for s in self.fault_statuses):
            raise FaultError("fault_statuses must be a non-empty list of 4xx/5xx codes")
        try:
            re.compile(self.match)
        except re.error as exc:
            raise FaultError(f"match is not a regular expression: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fault_statuses"] = list(self.fault_statuses)
        return out

    @property
    def active(self) -> bool:
        return self != FaultSpec()


@dataclass
class FaultState:
    """The live fault spec of one provider, its seeded random draws and what it injected."""

    provider: str
    seed: int
    spec: FaultSpec = field(default_factory=FaultSpec)
    injected: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        #: the provider's current catalog (set by the sandbox app): for ``shift_listing``
        self.catalog: Callable[[], Catalog] | None = None
        self.idle = True  # see _refresh_idle
        self._seen: dict[str, int] = {}  # path -> requests that reached the random draws
        self._streaks: dict[str, int] = {}  # path -> faults in a row (for ``max_streak``)
        self.set(self.spec)

    def set(self, spec: FaultSpec, *, restart: bool = True) -> None:
        """Replace the spec and zero the counters; ``restart``: also restart every path's
        random draws and fault streak (a PATCH, adjusting the spec mid-run, does not: the
        paths go on meeting the faults they would have met)."""
        with self.lock:
            self.spec = spec
            if restart:
                self._seen.clear()
                self._streaks.clear()
            self._pattern = re.compile(spec.match) if spec.match else None
            self._status_turn = 0
            self.injected = {k: 0 for k in ("latency", "429", "5xx", "cut", "slow",
                                            "rate_limited", "shifted")}
            self.under_limit = 0  # requests the hidden rate limit let through
            self.requests = 0
            self._buckets: dict[str, list[float]] = {}  # client host -> [tokens, updated]
            self._refresh_idle()

    def _refresh_idle(self) -> None:
        """``idle``: no knob would touch a request (call under the lock). Worked out when the
        spec is set and when a counter runs out, so that a request to a provider without
        faults costs one counter increment."""
        spec = self.spec
        self.idle = not (spec.latency_ms or spec.rate_limit or spec.burst_429 or spec.fail_next
                         or spec.fault_rate or spec.cut_next or spec.cut_rate
                         or spec.slow_body_bps or spec.shift_listing)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"provider": self.provider, "faults": self.spec.to_dict(),
                    "injected": dict(self.injected), "requests": self.requests,
                    "under_limit": self.under_limit}

    def _over_limit(self, client: str, path: str) -> bool:
        """The hidden rate limit: a token bucket per client host (call under the lock)."""
        rate = self.spec.rate_limit
        if rate <= 0 or path.startswith("/_"):
            return False
        now = time.monotonic()
        bucket = self._buckets.setdefault(client, [rate, now])
        bucket[0] = min(rate, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            self.under_limit += 1
            return False
        return True

    def decide(self, path: str, client: str = "?") -> Decision | None:
        """What to do with one request (consumes counters and random draws); None: nothing."""
        with self.lock:
            self.requests += 1
            if self.idle:
                return None
            try:
                return self._decide(path, client)
            finally:
                self._refresh_idle()

    def _draw(self, path: str, turn: int, kind: str) -> float:
        """A number in [0, 1) fixed by (seed, provider, path, turn, kind)."""
        key = f"{self.seed}:{self.provider}:{path}:{turn}:{kind}".encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2.0 ** 64

    def _decide(self, path: str, client: str) -> Decision:
        """:meth:`decide` for a spec with a knob on (under the lock)."""
        spec = self.spec
        if self._pattern is not None and not self._pattern.search(path):
            return Decision()
        d = Decision(latency=spec.latency_ms / 1000.0)
        if d.latency:
            self.injected["latency"] += 1
        if self._over_limit(client, path):
            self.injected["rate_limited"] += 1
            d.status, d.retry_after, d.quiet = 429, 1, True
            return d
        if spec.burst_429 > 0:
            spec.burst_429 -= 1
            self.injected["429"] += 1
            d.status, d.retry_after = 429, spec.retry_after
            return d
        turn = self._seen.get(path, 0)
        self._seen[path] = turn + 1
        streak = self._streaks.get(path, 0)
        draw = not spec.max_streak or streak < spec.max_streak
        fail = False
        if spec.fail_next > 0:
            spec.fail_next -= 1
            fail = True
        elif spec.fault_rate > 0 and draw and self._draw(path, turn, "5xx") < spec.fault_rate:
            fail = True
        if fail:
            d.status = spec.fault_statuses[self._status_turn % len(spec.fault_statuses)]
            self._status_turn += 1
            self.injected["5xx"] += 1
            self._streaks[path] = streak + 1
            return d
        if spec.cut_next > 0:
            spec.cut_next -= 1
            d.cut = True
        elif spec.cut_rate > 0 and draw and self._draw(path, turn, "cut") < spec.cut_rate:
            d.cut = True
        if d.cut:
            self._streaks[path] = streak + 1
            self.injected["cut"] += 1
            return d
        self._streaks.pop(path, None)
        if spec.slow_body_bps > 0:
            d.slow_bps = spec.slow_body_bps
            self.injected["slow"] += 1
        elif spec.shift_listing > 0 and self._pattern is not None:
            d.shift = True
        return d

    def shift(self, body: bytes) -> int:
        """Untag up to ``shift_listing`` tagged assets listed in ``body``; returns how many."""
        catalog = self.catalog() if self.catalog is not None else None
        if catalog is None:
            return 0
        with self.lock:
            wanted = self.spec.shift_listing
            if wanted <= 0:
                return 0
            text = body.decode("utf-8", "replace")
            listed = [a for a in catalog.tagged(catalog.tag) if f'"{a.key}"' in text]
            chosen = listed[:wanted]
            self.spec.shift_listing -= len(chosen) if chosen else 0
            self.injected["shifted"] += len(chosen)
            self._refresh_idle()
        for asset in chosen:
            catalog.set_tags(asset.key, remove=[catalog.tag])
        return len(chosen)


@dataclass
class Decision:
    latency: float = 0.0
    status: int = 0  # 0 = let the emulator answer
    retry_after: int = 0
    cut: bool = False
    slow_bps: float = 0.0
    quiet: bool = False  # a 429 that says nothing but Retry-After (the hidden rate limit)
    shift: bool = False  # after this answer, untag assets it listed (``shift_listing``)


class FaultMiddleware:
    """Applies a provider's :class:`FaultState` to every HTTP request of its mount."""

    def __init__(self, app: ASGIApp, faults: FaultState) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope.get("path", "")
        relative = path[len(root):] if root and path.startswith(root) else path
        if relative.startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        d = self.faults.decide(relative, client[0] if client else "?")
        if d is None:
            await self.app(scope, receive, send)
            return
        if d.latency:
            await asyncio.sleep(d.latency)
        if d.status:
            await _fault_response(send, d)
        elif d.shift:
            recorder = _Recorder(send)
            await self.app(scope, receive, recorder.send)
            if recorder.status == 200:
                self.faults.shift(b"".join(recorder.body))
        elif d.cut:
            await self.app(scope, receive, _CutSender(send).send)
            _cutting.set(True)  # read by the log filter: the close below is on purpose
        elif d.slow_bps:
            await self.app(scope, receive, _SlowSender(send, d.slow_bps).send)
        else:
            await self.app(scope, receive, send)


async def _fault_response(send: Send, d: Decision) -> None:
    if d.status == 429 and d.quiet:
        body = json.dumps({"message": "Too Many Requests"}).encode()
        extra = [(b"retry-after", str(d.retry_after).encode())]
    elif d.status == 429:
        body = json.dumps({"message": "Too Many Requests", "sandbox_fault": "429",
                           "retry_after": d.retry_after}).encode()
        extra = [(b"retry-after", str(d.retry_after).encode())]
    else:
        body = json.dumps({"message": "sandbox fault", "sandbox_fault": str(d.status)}).encode()
        extra = []
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               (b"x-sandbox-fault", str(d.status).encode()), *extra]
    await send({"type": "http.response.start", "status": d.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _Recorder:
    """Passes an answer through, keeping its status and body (for the listing shift)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0
        self.body: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message.get("status", 0))
        elif message["type"] == "http.response.body":
            self.body.append(message.get("body", b""))
        await self._send(message)


class _CutSender:
    """Buffers the answer, declares its full length, sends half of it and never completes.

    Returning from the ASGI app with the response incomplete makes uvicorn close the
    connection, which is what a client sees when a transfer is cut mid-body.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: Message | None = None
        self._chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            return
        if message["type"] != "http.response.body" or self._start is None:
            return
        self._chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self._chunks)
        declared = max(len(body), 2)
        headers = [(k, v) for k, v in self._start.get("headers", [])
                   if k.lower() not in (b"content-length", b"transfer-encoding")]
        headers.append((b"content-length", str(declared).encode()))
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body[: declared // 2],
                          "more_body": True})


class _SlowSender:
    """Trickles each body in small pieces at about ``bps`` bytes per second."""

    TICK = 0.05

    def __init__(self, send: Send, bps: float) -> None:
        self._send = send
        self._piece = max(1, int(bps * self.TICK))
        self._pause = self._piece / bps

    async def send(self, message: Message) -> None:
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        body: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if not body:
            await self._send(message)
            return
        for start in range(0, len(body), self._piece):
            piece = body[start:start + self._piece]
            last = start + self._piece >= len(body)
            await self._send({"type": "http.response.body", "body": piece,
                              "more_body": more or not last})
            if not last or more:
                await asyncio.sleep(self._pause)


class _QuietCuts(logging.Filter):
    """Drops uvicorn's error line for a connection the fault middleware cut on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _cutting.get()


def install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietCuts) for f in logger.filters):
        logger.addFilter(_QuietCuts())
