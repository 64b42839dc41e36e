"""The one HTTP layer every provider uses.

Timeouts, a client-side rate limiter (token bucket, slowed down by 429s), retries with backoff on
429 (honouring ``Retry-After``), 5xx and transport errors, no retry on other 4xx, and a clear
:class:`~damkit.errors.HttpError` after the last try. URLs in errors and logs are redacted.
Redirects are followed by hand: an authenticated request never carries its credentials to another
host, and plain http is allowed to loopback hosts only.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .errors import HttpError
from .redact import redact, redact_url
from .settings import is_loopback_host

log = logging.getLogger("damkit.http")

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Called with (response, streamed, seconds) after every exchange while set (damkit.record).
EXCHANGE_HOOK: contextvars.ContextVar[Any] = contextvars.ContextVar("damkit_exchange_hook",
                                                                    default=None)
USER_AGENT = "damkit/0.1"


class RateLimiter:
    """Async token bucket. ``penalize`` slows it down after a 429 so retries do not storm."""

    def __init__(self, rate: float | None, burst: int | None = None) -> None:
        self.rate = rate
        self.capacity = float(burst or max(1, int(rate or 1)))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.blocked_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self.rate:
            wait = self.blocked_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self.blocked_until:
                    await asyncio.sleep(self.blocked_until - now)
                    continue
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)

    def penalize(self, seconds: float) -> None:
        """Nobody sends until ``seconds`` from now (a 429's Retry-After)."""
        self.blocked_until = max(self.blocked_until, time.monotonic() + seconds)
        self.tokens = 0


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


def check_scheme(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname or ""):
        return
    raise HttpError(f"refusing {parts.scheme}:// to {parts.hostname}: only https (http to loopback)",
                    url=redact_url(url), kind="protocol")


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


class HttpClient:
    """An async HTTP client for one connection.

    ``auth`` is any ``httpx.Auth`` (or a callable returning one, re-evaluated per try so refreshed
    tokens are used). It is applied only to requests to ``base_url``'s origin.
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        auth: httpx.Auth | None = None,
        rate: float | None = None,
        burst: int | None = None,
        max_connections: int = 16,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retries: int = 5,
        backoff: float = 0.25,
        max_backoff: float = 20.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.limiter = RateLimiter(rate, burst)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stats = {"requests": 0, "retries": 0, "429": 0}
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_connections),
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            follow_redirects=False,
            transport=transport,
        )

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

    def _auth_for(self, url: str, auth: httpx.Auth | None | bool) -> httpx.Auth | None:
        if auth is False:
            return None
        chosen = auth if isinstance(auth, httpx.Auth) else self.auth
        if chosen is None or not self.base_url:
            return chosen
        if not _same_origin(httpx.URL(url), httpx.URL(self.base_url)) and auth is None:
            return None  # default credentials only go to the connection's own origin
        return chosen

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None | bool = None,
        ok: tuple[int, ...] | None = None,
        follow_redirects: bool = True,
        retries: int | None = None,
    ) -> httpx.Response:
        """Send with retries; returns the response for any status that is not retried.

        With ``ok`` given, any other final status raises :class:`HttpError`.
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
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None | bool = None,
        retries: int | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open a streamed response (status 2xx), retrying until the headers arrive.

        A body cut mid-way surfaces as :class:`HttpError` of kind ``"protocol"`` from iteration;
        the caller (the sync engine) decides to restart the file.
        """
        url = self.url(path)
        response = await self._send_retrying(
            method, url, params=params, data=None, json=None, headers=headers, auth=auth,
            follow_redirects=True, stream=True, retries=retries)
        if not 200 <= response.status_code < 300:
            await response.aread()
            await response.aclose()
            raise status_error(response, url)
        try:
            yield response
        except httpx.TransportError as exc:
            raise transport_error(exc, url) from None
        finally:
            await response.aclose()

    async def _send_retrying(
        self, method: str, url: str, *, params: Any, data: Any, json: Any, headers: Any,
        auth: httpx.Auth | None | bool, follow_redirects: bool, stream: bool,
        retries: int | None,
    ) -> httpx.Response:
        """Send until a response that is not retried, or raise after the last try."""
        check_scheme(url)
        tries = self.retries if retries is None else retries
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send_following(
                    method, url, params=params, data=data, json=json, headers=headers,
                    auth=auth, follow_redirects=follow_redirects, stream=stream)
            except httpx.TransportError as exc:
                if attempt > tries:
                    raise transport_error(exc, url) from None
                await self._sleep_before_retry(attempt, None, type(exc).__name__, url)
                continue
            if response.status_code in RETRY_STATUS and attempt <= tries:
                await response.aclose()
                await self._sleep_before_retry(attempt, response, str(response.status_code), url)
                continue
            return response

    async def _send_following(
        self, method: str, url: str, *, params: Any, data: Any, json: Any, headers: Any,
        auth: httpx.Auth | None | bool, follow_redirects: bool, stream: bool,
    ) -> httpx.Response:
        current_auth = self._auth_for(url, auth)
        origin = httpx.URL(url)
        for _ in range(10):
            await self.limiter.acquire()
            self.stats["requests"] += 1
            request = self._client.build_request(method, url, params=params, data=data,
                                                 json=json, headers=headers)
            sent = time.perf_counter()
            response = await self._client.send(request, auth=current_auth, stream=stream)
            if (hook := EXCHANGE_HOOK.get()) is not None:
                hook(response, stream, time.perf_counter() - sent)
            if response.status_code == 429:
                self.stats["429"] += 1
                self.limiter.penalize(parse_retry_after(response.headers.get("Retry-After"), 1.0))
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

    async def _sleep_before_retry(self, attempt: int, response: httpx.Response | None,
                                  reason: str, url: str) -> None:
        self.stats["retries"] += 1
        delay = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        delay = delay * (0.5 + random.random() / 2)
        if response is not None and "Retry-After" in response.headers:
            delay = max(delay, parse_retry_after(response.headers["Retry-After"], delay))
        log.info("retry %d after %s in %.2fs: %s", attempt, reason, delay, redact_url(url))
        await asyncio.sleep(delay)


def _small_body(response: httpx.Response, limit: int = 65_536) -> bool:
    try:
        return 0 <= int(response.headers.get("Content-Length", "-1")) <= limit
    except ValueError:
        return False


def transport_error(exc: httpx.TransportError, url: str) -> HttpError:
    """Name what failed: DNS, TLS, connect, timeout or a cut body, with no secret in it."""
    safe = redact_url(url)
    host = urlsplit(url).hostname or "?"
    text = redact(str(exc)) or type(exc).__name__
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return HttpError(f"TLS failed with {host}: {text}", url=safe, kind="tls",
                             hint="check the domain; a proxy or a wrong host may present another certificate")
        cause = cause.__cause__ or cause.__context__
    lowered = text.lower()
    if isinstance(exc, httpx.ConnectError) and ("name or service" in lowered or "nodename" in lowered
                                                  or "getaddrinfo" in lowered or "name resolution" in lowered
                                                  or "no address" in lowered):
        return HttpError(f"the domain {host} does not resolve", url=safe, kind="dns",
                         hint="check the spelling of the domain")
    if "certificate" in lowered or "ssl" in lowered:
        return HttpError(f"TLS failed with {host}: {text}", url=safe, kind="tls")
    if isinstance(exc, httpx.TimeoutException):
        return HttpError(f"{host} did not answer in time ({type(exc).__name__})", url=safe, kind="timeout")
    if isinstance(exc, httpx.ConnectError):
        return HttpError(f"cannot connect to {host}: {text}", url=safe, kind="connect")
    return HttpError(f"connection to {host} failed: {type(exc).__name__}: {text}", url=safe,
                     kind="protocol")


def status_error(response: httpx.Response, url: str) -> HttpError:
    status = response.status_code
    safe = redact_url(url)
    host = urlsplit(url).hostname or "?"
    if status == 429:
        msg = f"{host} kept answering 429 Too Many Requests"
    elif status >= 500:
        msg = f"{host} kept answering {status} {response.reason_phrase}"
    else:
        msg = f"{host} answered {status} {response.reason_phrase}"
    return HttpError(msg, status=status, url=safe, kind="http")


def join(base: str, path: str) -> str:
    return urljoin(base.rstrip("/") + "/", path.lstrip("/"))
