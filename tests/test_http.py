"""The HTTP layer over real loopback HTTP: retries, Retry-After, rate limit, redirects, redaction."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from damkit.errors import HttpError
from damkit.http import (
    WINDOW_MARGIN,
    HostBudget,
    HttpClient,
    Patience,
    RateLimiter,
    budget_for,
    budget_key,
    parse_retry_after,
)
from damkit.redact import register_secret
from damkit.sandbox import free_port


class Server:
    """A tiny scripted server on a free loopback port (real uvicorn, in a thread)."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.auth_seen: list[str | None] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.other: Server | None = None

        async def flaky(request: Request) -> Response:
            n = self.hit("flaky")
            return PlainTextResponse("no", status_code=503) if n < 3 else JSONResponse({"n": n})

        async def limited(request: Request) -> Response:
            n = self.hit("limited")
            if n == 1:
                return PlainTextResponse("slow down", status_code=429, headers={"Retry-After": "1"})
            return JSONResponse({"n": n})

        async def missing(request: Request) -> Response:
            self.hit("missing")
            return JSONResponse({"error": "nope"}, status_code=404)

        async def always_500(request: Request) -> Response:
            self.hit("500")
            return PlainTextResponse("boom", status_code=500)

        async def whoami(request: Request) -> Response:
            self.hit("whoami")
            self.auth_seen.append(request.headers.get("authorization"))
            return JSONResponse({"auth": request.headers.get("authorization")})

        async def away(request: Request) -> Response:
            assert self.other is not None
            return RedirectResponse(f"{self.other.url}/whoami", status_code=302)

        async def home(request: Request) -> Response:
            return RedirectResponse("/whoami", status_code=302)

        async def ok(request: Request) -> Response:
            self.hit("ok")
            return JSONResponse({})

        app = Starlette(routes=[Route("/flaky", flaky), Route("/limited", limited),
                                Route("/missing", missing), Route("/500", always_500),
                                Route("/whoami", whoami), Route("/away", away),
                                Route("/home", home), Route("/ok", ok)])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="error", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def hit(self, name: str) -> int:
        self.hits[name] = self.hits.get(name, 0) + 1
        return self.hits[name]

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    with Server() as a, Server() as b:
        a.other = b
        yield a, b


def run(coro):
    return asyncio.run(coro)


def test_retries_5xx_then_succeeds(servers):
    a, _ = servers

    async def go():
        async with HttpClient(a.url, backoff=0.01) as http:
            r = await http.request("GET", "/flaky", ok=(200,))
            return r.json(), http.stats

    body, stats = run(go())
    assert body == {"n": 3} and stats["retries"] == 2


def test_429_honours_retry_after(servers):
    a, _ = servers

    async def go():
        async with HttpClient(a.url, backoff=0.01) as http:
            t = time.monotonic()
            r = await http.request("GET", "/limited", ok=(200,))
            return r.json(), time.monotonic() - t

    body, elapsed = run(go())
    assert body == {"n": 2} and elapsed >= 0.9


def test_no_retry_on_other_4xx(servers):
    a, _ = servers

    async def go():
        async with HttpClient(a.url, backoff=0.01) as http:
            return await http.request("GET", "/missing")

    assert run(go()).status_code == 404 and a.hits["missing"] == 1


def test_clear_error_after_last_try(servers):
    a, _ = servers

    async def go():
        async with HttpClient(a.url, backoff=0.01, retries=2) as http:
            await http.request("GET", "/500", ok=(200,))

    with pytest.raises(HttpError) as info:
        run(go())
    assert info.value.status == 500 and "kept answering 500" in info.value.message
    assert a.hits["500"] == 3


def test_connect_error_named():
    port = free_port()

    async def go():
        async with HttpClient(f"http://127.0.0.1:{port}", backoff=0.01, retries=1) as http:
            await http.request("GET", "/x")

    with pytest.raises(HttpError) as info:
        run(go())
    assert info.value.kind == "connect"


def test_credentials_never_follow_a_redirect_to_another_host(servers):
    a, b = servers

    async def go():
        async with HttpClient(a.url, headers=None) as http:
            http.auth = httpx.BasicAuth("user", "pa55word-xyz")
            same = (await http.request("GET", "/home")).json()
            cross = (await http.request("GET", "/away")).json()
            return same, cross

    same, cross = run(go())
    assert same["auth"] and same["auth"].startswith("Basic ")
    assert cross["auth"] is None and b.auth_seen == [None]


def test_plain_http_only_to_loopback():
    async def go():
        async with HttpClient("http://example.com") as http:
            await http.request("GET", "/x")

    with pytest.raises(HttpError, match="only https"):
        run(go())


def test_secret_in_url_is_redacted_from_errors_and_logs(caplog):
    port = free_port()
    secret = "q-secret-token-998877"
    register_secret(secret)

    async def go():
        async with HttpClient(f"http://127.0.0.1:{port}", backoff=0.01, retries=1) as http:
            await http.request("GET", f"/x?access_token={secret}&app_secret={secret}")

    caplog.set_level(logging.DEBUG)
    with pytest.raises(HttpError) as info:
        run(go())
    assert secret not in str(info.value) and secret not in (info.value.url or "")
    assert secret not in caplog.text


def test_rate_limiter_paces_requests():
    async def go():
        limiter = RateLimiter(20, burst=1)
        t = time.monotonic()
        for _ in range(11):
            await limiter.acquire()
        return time.monotonic() - t

    assert run(go()) >= 0.45  # 10 intervals at 20/s


def test_rate_limit_applied_over_http(servers):
    a, _ = servers

    async def go():
        async with HttpClient(a.url, rate=10) as http:  # a burst of 1: paced from the start
            t = time.monotonic()
            await asyncio.gather(*(http.request("GET", "/ok") for _ in range(6)))
            return time.monotonic() - t

    assert run(go()) >= 0.45 and a.hits["ok"] == 6


@pytest.mark.parametrize("value,expected", [("3", 3.0), (None, 1.5), ("junk", 1.5)])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, 1.5) == expected


def test_one_budget_per_host_shared_by_every_client() -> None:
    async def go() -> tuple[HostBudget, HostBudget]:
        async with HttpClient("https://acme.example.com", rate=7) as one, \
                HttpClient("https://acme.example.com/api") as two:
            return one.budget, two.budget

    one, two = run(go())
    assert one is two and one.rate == 7  # the first client's rate, taken as a limit
    assert budget_key("https://files.example.net/x") != budget_key("https://acme.example.com/x")
    # the sandbox serves every DAM on one loopback port: the DAM's path is part of the key, and
    # its /_<host> segments stand for other hosts (pre-signed file URLs)
    assert budget_key("http://127.0.0.1:9/bynder/api/v4/media") == "http://127.0.0.1:9/bynder"
    assert budget_key("http://127.0.0.1:9/bynder/_s3/1/2/f.png") == "http://127.0.0.1:9/bynder/_s3"
    assert budget_for("http://127.0.0.1:9/canto/x") is budget_for("http://127.0.0.1:9/canto/y")


def test_an_unpublished_limit_rises_while_answered_and_backs_off_under_what_was_accepted() -> None:
    budget = HostBudget("test-adaptive")
    budget.configure(10.0)
    budget._tokens = -5.0  # requests are queueing: the budget is what holds the run back
    for _ in range(20):
        budget.answered()
    assert budget.rate == 30.0 and budget.slow_start  # slow start: +1 per answer
    budget.throttled(1.0)  # refused after 20 answers within the last second
    assert budget.rate == pytest.approx(18.0) and not budget.slow_start  # 90 % of accepted
    assert budget.blocked_until > time.monotonic()  # Retry-After holds every request
    budget._tokens = -5.0
    for _ in range(10):
        budget.answered()
    assert 18.0 < budget.rate < 18.2  # probing slowly near the refused rate


def test_a_refusal_of_the_opening_burst_backs_off_from_what_was_accepted() -> None:
    """A 429 while the DAM was accepting more than our (still low) rate: the new rate is just
    under what it accepted, not 90 % of our own opening rate (which would leave the run at half
    the limit while it probes its way back up)."""
    budget = HostBudget("test-burst")
    budget.configure(5.0)
    budget._tokens = -5.0
    budget.answered()  # slow start: 6/s
    now = time.monotonic()
    budget._ok.extend([now] * 14)  # 15 answered within the last second: the opening burst
    budget.throttled(1.0)
    assert budget.rate == pytest.approx(13.5) and not budget.slow_start


def test_a_documented_limit_is_a_ceiling_and_a_storm_is_a_hold_not_a_cut() -> None:
    budget = HostBudget("test-documented")
    budget.configure(15.0, documented=True)
    budget._tokens = -5.0
    for _ in range(50):
        budget.answered()
    assert budget.rate == 15.0  # never above the published limit
    budget.throttled(1.0)
    assert budget.rate == pytest.approx(10.5)  # answered just before: our rate, back off
    stormy = HostBudget("test-storm")
    stormy.configure(15.0, documented=True)
    stormy.throttled(1.0)  # nothing answered before: the DAM holds everyone
    assert stormy.rate == 15.0


def test_a_documented_window_lets_a_short_exchange_go_at_once_and_no_second_hold_more() -> None:
    """Bynder: "at most 15 requests a second": the first 15 leave at once, and however many
    requests queue, no window of a second (plus the margin) holds more than 15 of them."""
    budget = HostBudget("test-window")
    budget.ensure(15.0, None, (15, 1.0))
    now = time.monotonic()
    waits = [budget._reserve(now) for _ in range(60)]
    assert waits[:15] == [0.0] * 15  # Test Connection's handful: not paced
    slots = sorted(now + w for w in waits)
    assert all(later - first >= 1.0 + WINDOW_MARGIN - 1e-9
               for first, later in zip(slots, slots[15:], strict=False))  # 16 apart
    assert slots[-1] - slots[0] < 4 * (1.0 + WINDOW_MARGIN) + 1e-6  # ... and no slower
    budget.configure(15.0, documented=True)  # a sync's set-up keeps the host's window
    assert budget.window == (15, 1.0) and budget.rate == 15.0


def test_patience_counts_the_union_of_holds_not_their_sum() -> None:
    policy = Patience(throttle_budget=3.0)
    assert all(policy.hold(1.0) for _ in range(8))  # eight requests held by the same 429
    # one second plus the moments between the calls (a loaded machine may stretch those, so the
    # bound is loose); the sum would be eight
    assert 1.0 <= policy.throttled_s < 4.0 and policy.throttles == 8
    assert policy.hold(1.5) and not policy.hold(5.0)  # past the run's budget: give up


def test_a_keep_alive_connection_the_server_closed_is_noticed_and_replaced() -> None:
    """The pool asks each idle connection whether the server closed it (damkit answers from the
    socket kept at connect, not anyio's attribute table): a server that answers and then closes
    every connection still gets every request, each on a new connection."""
    from damkit.http import _Backend

    async def go() -> tuple[list[int], int, object]:
        connections = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            await reader.readuntil(b"\r\n\r\n")
            # claims keep-alive (no "Connection: close"), then closes: only the idle check can tell
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, HttpClient(f"http://127.0.0.1:{port}", retries=0) as http:
            codes = []
            for _ in range(3):
                codes.append((await http.request("GET", "/x", ok=(200,))).status_code)
                await asyncio.sleep(0.05)  # the close reaches this side
            backend = http._client._transport._plain._pool._network_backend
        return codes, connections, backend

    codes, connections, backend = run(go())
    assert codes == [200, 200, 200] and connections == 3
    assert isinstance(backend, _Backend)  # httpx still builds the pool damkit replaces
