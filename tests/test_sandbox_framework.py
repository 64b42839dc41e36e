"""The sandbox framework over real HTTP: manifest, control API, faults on the wire, reset, scale.

A tiny ``demo`` emulator (two routes) isolates the framework from the provider emulators; the
same knobs are then checked against the real Bynder, Canto and Percolate mounts.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from damkit.sandbox import Sandbox
from damkit.sandbox import app as sandbox_app
from damkit.sandbox.base import Emulator
from damkit.sandbox.catalog import SandboxAsset

REAL = ("bynder", "canto", "percolate")


class DemoEmulator(Emulator):
    """The smallest emulator: a list route and a file route."""

    name = "demo"
    resets: ClassVar[int] = 0

    def routes(self) -> list[BaseRoute]:
        return [Route("/items", self.items, methods=["GET"]),
                Route("/files/{key}", self.file, methods=["GET"])]

    async def items(self, request: Request) -> Response:
        return JSONResponse({"items": [a.key for a in self.catalog.tagged(self.catalog.tag)[:5]]})

    async def file(self, request: Request) -> Response:
        asset = self.catalog.get(request.path_params["key"])
        if asset is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(self.catalog.content(asset), media_type=asset.mime)

    def manifest(self) -> dict[str, Any]:
        return {"api_url": self.base_url, "tag": self.catalog.tag, "eligible": self.catalog.eligible()}

    def reset(self) -> None:
        type(self).resets += 1


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[..., Sandbox]
         ) -> Callable[..., Sandbox]:
    """``demo(**config)``: a fresh sandbox running only the demo emulator."""
    monkeypatch.setitem(sandbox_app.EMULATORS, "demo", DemoEmulator)

    def make(**config: Any) -> Sandbox:
        config.setdefault("assets", 40)
        return fresh_sandbox(providers=("demo",), **config)
    return make


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def big_asset(sb: Sandbox, size: int = 20_000) -> SandboxAsset:
    return sb.state.catalog("demo").add("big.txt", ext="txt", size=size, tags=["Gelato"])


# --- manifest and control API ------------------------------------------------------------------

def test_manifest_shape(sandbox: Sandbox, client: httpx.Client) -> None:
    m = client.get(sandbox.manifest_url).json()
    assert set(m["providers"]) == set(REAL)
    assert m["base_url"] == sandbox.url and m["control"] == f"{sandbox.url}/_sandbox"
    assert m["assets"] == 300 and isinstance(m["seed"], int)
    for name, entry in m["providers"].items():
        assert isinstance(entry["eligible"], int) and entry["eligible"] >= 1
        assert entry["eligible"] == len(sandbox.state.catalog(name).tagged(sandbox.config.tag))
        assert f"{sandbox.url}/{name}" in entry.values(), entry  # the domain/base URL field
        assert m["faults"][name]["fault_rate"] == 0.0


def test_list_assets_pages_and_filters(sandbox: Sandbox, client: httpx.Client) -> None:
    base = f"{sandbox.url}/_sandbox/percolate/assets"
    one = client.get(base, params={"limit": 50}).json()
    two = client.get(base, params={"limit": 50, "page": 2}).json()
    assert one["total"] == 300 and len(one["assets"]) == 50 and len(two["assets"]) == 50
    assert not {a["key"] for a in one["assets"]} & {a["key"] for a in two["assets"]}
    assert one["assets"][0]["name"] == "../../etc/passwd"  # hostile names come through as data
    tagged = client.get(base, params={"tag": "Gelato", "limit": 1000}).json()
    eligible = sandbox.manifest()["providers"]["percolate"]["eligible"]
    assert tagged["total"] == eligible == len(tagged["assets"])
    assert all("Gelato" in a["tags"] and a["state"] == "live" for a in tagged["assets"])
    near = client.get(base, params={"tag": "gelato"}).json()
    assert near["total"] >= 1 and all("gelato" in a["tags"] for a in near["assets"])
    assert client.get(base, params={"state": "deleted"}).json()["total"] == 0
    assert client.get(base, params={"state": "bogus"}).status_code == 400
    assert client.get(base, params={"limit": 0}).status_code == 400


def test_control_changes_reach_catalog_and_listeners(demo: Callable[..., Sandbox],
                                                     client: httpx.Client) -> None:
    sb = demo()
    catalog = sb.state.catalog("demo")
    seen: list[tuple[str, str]] = []
    catalog.listeners.append(lambda kind, asset: seen.append((kind, asset.key)))
    api = f"{sb.url}/_sandbox/demo/assets"
    eligible = catalog.eligible()

    r = client.post(api, json={"name": "new poster.png", "ext": "png", "size": 5000,
                               "tags": ["Gelato", "Web"]})
    assert r.status_code == 201
    key = r.json()["key"]
    assert catalog.get(key) is not None and catalog.get(key).size == 5000  # type: ignore[union-attr]
    assert sb.manifest()["providers"]["demo"]["eligible"] == eligible + 1

    info = client.get(f"{api}/{key}").json()
    body = client.get(f"{api}/{key}/content").content
    assert len(body) == 5000 and body.startswith(b"\x89PNG") and len(info["md5"]) == 32

    assert client.post(f"{api}/{key}/untag", json={"tag": "Gelato"}).json()["tags"] == ["Web"]
    assert catalog.eligible() == eligible
    assert "Gelato" in client.post(f"{api}/{key}/tag", json={"tag": "Gelato"}).json()["tags"]
    assert key in [a.key for a in catalog.tagged("Gelato")]

    modified = client.post(f"{api}/{key}/modify", json={"size": 7000, "name": "v2.png"}).json()
    assert modified["version"] == 2 and modified["size"] == 7000 and modified["name"] == "v2.png"
    assert modified["md5"] != info["md5"] and modified["modified"] > info["modified"]

    assert client.post(f"{api}/{key}/archive", json={"archived": True}).json()["state"] == "archived"
    assert key not in [a.key for a in catalog.tagged("Gelato")]
    assert client.get(api, params={"state": "archived"}).json()["assets"][0]["key"] == key
    assert client.post(f"{api}/{key}/archive", json={"archived": False}).json()["state"] == "live"

    assert client.post(f"{api}/{key}/delete").json()["state"] == "deleted"
    assert catalog.get(key) is None and catalog.eligible() == eligible
    assert [k for k, _ in seen] == ["created", "untagged", "tagged", "modified", "archived",
                                    "unarchived", "deleted"]
    assert {a for _, a in seen} == {key}


def test_control_errors_are_json(sandbox: Sandbox, client: httpx.Client) -> None:
    base = f"{sandbox.url}/_sandbox"
    for method, path in (("GET", "/nope/assets"), ("GET", "/percolate/assets/asset:999999"),
                         ("POST", "/percolate/assets/asset:999999/tag"), ("GET", "/nope/faults"),
                         ("GET", "/no/such/endpoint")):
        r = client.request(method, base + path, json={"tag": "x"})
        assert r.status_code == 404, path
        assert r.json()["status"] == 404 and r.json()["error"]
    bad = client.put(f"{base}/percolate/faults", json={"fault_rat": 1})
    assert bad.status_code == 400 and "fault_rat" in bad.json()["error"]
    assert client.put(f"{base}/percolate/faults", json={"fault_rate": 2}).status_code == 400
    assert client.put(f"{base}/percolate/faults", json={"fault_statuses": [200]}).status_code == 400
    assert client.put(f"{base}/percolate/faults", json={"match": "("}).status_code == 400
    assert client.post(f"{base}/percolate/assets", json={"ext": "png"}).status_code == 400
    assert client.post(f"{base}/percolate/assets", content=b"{").status_code == 400
    assert sandbox.faults("percolate")["faults"]["fault_rate"] == 0.0  # nothing was applied


# --- faults on the wire ------------------------------------------------------------------------

def test_latency_is_added_to_provider_routes_only(demo: Callable[..., Sandbox],
                                                  client: httpx.Client) -> None:
    sb = demo(latency_ms=400)
    t = time.perf_counter()
    assert client.get(f"{sb.url}/demo/items").status_code == 200
    assert time.perf_counter() - t >= 0.4  # a lower bound: load only makes it longer
    assert client.get(sb.manifest_url).status_code == 200
    assert sb.faults("demo")["injected"]["latency"] == 1  # the control API is never faulted
    sb.set_faults("demo")
    assert client.get(f"{sb.url}/demo/items").status_code == 200
    assert sb.faults("demo")["injected"]["latency"] == 0  # cleared faults add nothing


def test_fault_rate_gives_a_deterministic_share_of_5xx(demo: Callable[..., Sandbox],
                                                       client: httpx.Client) -> None:
    sb = demo()
    sb.set_faults("demo", fault_rate=0.3)
    first = [client.get(f"{sb.url}/demo/items").status_code for _ in range(200)]
    failed = [s for s in first if s != 200]
    assert 30 <= len(failed) <= 90 and set(failed) == {500, 502, 503}
    sb.set_faults("demo", fault_rate=0.3)  # re-setting re-seeds: the same sequence again
    assert [client.get(f"{sb.url}/demo/items").status_code for _ in range(200)] == first
    assert sb.faults("demo")["injected"]["5xx"] == len(failed)
    sb.set_faults("demo", fault_rate=1.0)
    assert all(client.get(f"{sb.url}/demo/items").status_code >= 500 for _ in range(20))
    sb.set_faults("demo", fail_next=2, fault_statuses=[503])
    assert [client.get(f"{sb.url}/demo/items").status_code for _ in range(3)] == [503, 503, 200]


def test_faults_follow_each_path_whatever_the_order_and_streaks_are_bounded(
        demo: Callable[..., Sandbox], client: httpx.Client) -> None:
    """Concurrent clients interleave differently on every run: a path's faults depend on that
    path's own requests only, and ``max_streak`` ends a streak of random faults."""
    sb = demo()
    items, one = f"{sb.url}/demo/items", f"{sb.url}/demo/items/1"
    sb.set_faults("demo", fault_rate=0.5)
    alone = [client.get(items).status_code == 200 for _ in range(40)]  # (5xx codes go in turn)
    sb.set_faults("demo", fault_rate=0.5)
    mixed = []
    for _ in range(40):
        client.get(one)  # another path's requests in between change nothing for ``items``
        mixed.append(client.get(items).status_code == 200)
    assert mixed == alone and 10 <= alone.count(True) <= 30
    sb.control("PATCH", "demo/faults", json={"burst_429": 1})  # a PATCH goes on, 429 uncounted
    assert client.get(items).status_code == 429
    rest = [client.get(items).status_code == 200 for _ in range(40)]
    sb.set_faults("demo", fault_rate=0.5)
    assert [client.get(items).status_code == 200 for _ in range(80)] == alone + rest
    sb.set_faults("demo", fault_rate=1.0, max_streak=2)
    assert [client.get(items).status_code >= 500 for _ in range(6)] == [True, True, False] * 2
    sb.set_faults("demo", cut_rate=1.0, max_streak=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(items)
    assert client.get(items).status_code == 200


def test_429_burst_with_retry_after(demo: Callable[..., Sandbox], client: httpx.Client) -> None:
    sb = demo()
    sb.set_faults("demo", burst_429=3, retry_after=7)
    answers = [client.get(f"{sb.url}/demo/items") for _ in range(4)]
    assert [r.status_code for r in answers] == [429, 429, 429, 200]
    assert all(r.headers["retry-after"] == "7" for r in answers[:3])
    assert sb.faults("demo")["faults"]["burst_429"] == 0


def test_faults_set_while_idle_act_at_once_and_every_request_counts(
        demo: Callable[..., Sandbox], client: httpx.Client) -> None:
    """A provider without faults skips the fault decision (one counter): setting a knob must
    still act on the next request, and a spent counter must leave the provider as before."""
    sb = demo()
    assert [client.get(f"{sb.url}/demo/items").status_code for _ in range(3)] == [200] * 3
    sb.control("PATCH", "demo/faults", json={"fail_next": 1, "fault_statuses": [503]})
    assert client.get(f"{sb.url}/demo/items").status_code == 503
    assert client.get(f"{sb.url}/demo/items").status_code == 200
    state = sb.faults("demo")
    assert state["requests"] == 2 and state["injected"]["5xx"] == 1  # PATCH zeroes counters
    client.get(f"{sb.url}/demo/items")
    assert sb.faults("demo")["requests"] == 3
    sb.set_faults("demo", latency_ms=150)
    started = time.monotonic()
    assert client.get(f"{sb.url}/demo/items").status_code == 200
    assert time.monotonic() - started >= 0.15
    sb.set_faults("demo")
    assert sb.faults("demo")["injected"]["latency"] == 0


def test_routes_are_matched_as_starlette_matches_them() -> None:
    """The sandbox's router tries only the routes whose literal prefix fits the path; every
    answer (match, path parameters, 405, trailing-slash redirect, 404, mounts) must be the one
    Starlette's own router gives."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.routing import Mount, Router

    from damkit.sandbox.routing import IndexedRouter

    async def echo(request: Request) -> Response:
        return JSONResponse({"route": request.scope["route"].path,
                             "params": dict(request.path_params),
                             "root": request.scope.get("root_path", "")})

    inner = [Route("/x/{key}", echo), Route("/x/", echo, methods=["POST"])]
    routes: list[BaseRoute] = [
        Route("/items", echo), Route("/items/{key}", echo),
        Route("/items/{key}/download", echo), Route("/items/{number:int}/int", echo),
        Route("/{anything}/catch", echo), Route("/post-only", echo, methods=["POST"]),
        Mount("/sub", routes=inner), Mount("/sub2", app=Router(routes=inner)),
    ]
    plain = Starlette(routes=routes)
    indexed = Starlette(routes=routes)
    indexed.router = IndexedRouter(routes)
    paths = ["/items", "/items/", "/items/a:1", "/items/a%3A1", "/items/7/int", "/items/x/int",
             "/items/k/download", "/items/k/download/", "/z/catch", "/items/catch",
             "/post-only", "/sub/x/9", "/sub/x/", "/sub2/x/9", "/sub", "/sub/", "/nothing", "/"]

    async def answers(app: Starlette) -> list[tuple[str, int, str, str]]:
        out = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            for method in ("GET", "POST"):
                for path in paths:
                    r = await c.request(method, path)
                    out.append((f"{method} {path}", r.status_code, r.text,
                                r.headers.get("location", "")))
        return out

    expected = asyncio.run(answers(plain))
    assert asyncio.run(answers(indexed)) == expected
    assert {status for _, status, _, _ in expected} >= {200, 307, 404, 405}


def test_cut_body_raises_in_httpx(demo: Callable[..., Sandbox], client: httpx.Client) -> None:
    sb = demo()
    asset = big_asset(sb)
    url = f"{sb.url}/demo/files/{asset.key}"
    sb.set_faults("demo", cut_next=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(url)
    received = b""
    sb.set_faults("demo", cut_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError), client.stream("GET", url) as r:
        assert r.headers["content-length"] == "20000"
        for chunk in r.iter_bytes():
            received += chunk
    assert 0 < len(received) < 20_000
    sb.set_faults("demo")
    assert client.get(url).content == sb.state.catalog("demo").content(asset)


def test_slow_body_trickles(demo: Callable[..., Sandbox], client: httpx.Client) -> None:
    sb = demo()
    asset = big_asset(sb, size=10_000)
    sb.set_faults("demo", slow_body_bps=20_000)
    t = time.perf_counter()
    pieces: list[bytes] = []
    with client.stream("GET", f"{sb.url}/demo/files/{asset.key}") as r:
        pieces.extend(r.iter_raw())
    data, chunks = b"".join(pieces), len(pieces)
    elapsed = time.perf_counter() - t
    assert data == sb.state.catalog("demo").content(asset)
    assert elapsed >= 0.4 and chunks > 3, (elapsed, chunks)


def test_match_limits_faults_to_some_paths(demo: Callable[..., Sandbox],
                                           client: httpx.Client) -> None:
    sb = demo()
    asset = big_asset(sb)
    sb.set_faults("demo", fault_rate=1.0, match=r"^/files/")
    assert client.get(f"{sb.url}/demo/items").status_code == 200
    assert client.get(f"{sb.url}/demo/files/{asset.key}").status_code >= 500


def test_faults_from_config_and_per_provider_override(
        fresh_sandbox: Callable[..., Sandbox], client: httpx.Client) -> None:
    sb = fresh_sandbox(assets=20, fault_rate=1.0, faults={"canto": {"fault_rate": 0.0}})
    paths = {"bynder": "/api/v4/currentUser/", "canto": "/api/v1/user",
             "percolate": "/api/v5/me"}
    for name in ("bynder", "percolate"):
        assert client.get(f"{sb.url}/{name}{paths[name]}").status_code in (500, 502, 503)
    assert client.get(f"{sb.url}/canto{paths['canto']}").status_code < 500
    # the control API stays up whatever the providers do
    assert client.get(f"{sb.url}/_sandbox/bynder/assets").status_code == 200


@pytest.mark.parametrize("provider", REAL)
def test_each_fault_kind_on_real_emulators(provider: str, sandbox: Sandbox,
                                           client: httpx.Client) -> None:
    path = {"bynder": "/api/v4/currentUser/", "canto": "/api/v1/user",
            "percolate": "/api/v5/me"}[provider]
    url = f"{sandbox.url}/{provider}{path}"
    normal = client.get(url).status_code  # unauthenticated: some 4xx, never a fault
    assert normal < 500
    try:
        sandbox.set_faults(provider, burst_429=1, retry_after=0, fail_next=1, cut_next=1)
        r = client.get(url)
        assert r.status_code == 429 and r.headers["retry-after"] == "0"
        assert client.get(url).status_code in (500, 502, 503)
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(url)
        assert client.get(url).status_code == normal
        assert sandbox.faults(provider)["injected"] == {"latency": 0, "429": 1, "5xx": 1,
                                                        "cut": 1, "slow": 0, "rate_limited": 0,
                                                        "shifted": 0}
    finally:
        sandbox.set_faults(provider)


# --- reset, lifecycle, scale -------------------------------------------------------------------

def test_reset_rebuilds_catalogs_and_clears_faults(demo: Callable[..., Sandbox],
                                                   client: httpx.Client) -> None:
    sb = demo(faults={"demo": {"latency_ms": 5}})
    before = client.get(f"{sb.url}/_sandbox/demo/assets", params={"limit": 1000}).json()
    added = big_asset(sb)
    first = before["assets"][0]["key"]
    client.post(f"{sb.url}/_sandbox/demo/assets/{first}/delete")
    sb.set_faults("demo", fault_rate=1.0)
    resets = DemoEmulator.resets
    old = sb.state.emulators["demo"]

    result = sb.reset()
    assert DemoEmulator.resets == resets + 1 and sb.state.emulators["demo"] is not old
    assert result["manifest"]["faults"]["demo"]["latency_ms"] == 5  # back to the start config
    assert result["manifest"]["faults"]["demo"]["fault_rate"] == 0.0
    after = client.get(f"{sb.url}/_sandbox/demo/assets", params={"limit": 1000}).json()
    assert after == before
    assert client.get(f"{sb.url}/_sandbox/demo/assets/{added.key}").status_code == 404
    assert client.get(f"{sb.url}/demo/items").status_code == 200  # routes follow the new emulator


def test_reset_real_emulators(fresh_sandbox: Callable[..., Sandbox],
                              client: httpx.Client) -> None:
    sb = fresh_sandbox(assets=30)
    manifest = sb.manifest()
    for name in REAL:
        key = client.get(f"{sb.url}/_sandbox/{name}/assets", params={"tag": "Gelato"}
                         ).json()["assets"][0]["key"]
        client.post(f"{sb.url}/_sandbox/{name}/assets/{key}/untag", json={"tag": "Gelato"})
        assert sb.manifest()["providers"][name]["eligible"] == \
            manifest["providers"][name]["eligible"] - 1
    after = sb.reset()["manifest"]
    assert after["providers"] == manifest["providers"]


def test_loopback_only_and_clean_stop() -> None:
    for host in ("0.0.0.0", "10.1.2.3", "example.com"):
        with pytest.raises(ValueError, match="non-loopback"):
            Sandbox(host=host, providers=("percolate",), assets=5)
    sb = Sandbox(providers=("percolate",), assets=5).start()
    port = sb.port
    assert httpx.get(sb.manifest_url).status_code == 200
    sb.stop()
    sb.stop()  # idempotent
    assert not sb.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(sb.manifest_url, timeout=2)
    with socket.socket() as s:  # the port is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_100k_catalog_pages_and_changes(demo: Callable[..., Sandbox],
                                        client: httpx.Client) -> None:
    """A 100,000-asset catalog answers any page, filtered or not, and follows changes. How fast:
    ``benchmarks/catalog_bench.py`` (no clock here: a loaded machine must not fail the suite)."""
    sb = demo(assets=100_000)
    api = f"{sb.url}/_sandbox/demo/assets"
    for params in ({"page": 1}, {"page": 900}, {"tag": "Gelato", "page": 600, "limit": 100},
                   {"state": "live", "page": 999}, {"tag": "Gelato", "page": 1, "limit": 1000}):
        page = client.get(api, params=params).json()
        assert page["assets"], params
    assert page["total"] == 70_000 and len(page["assets"]) == 1000
    totals = [page["total"]]
    for _ in range(3):  # list pages of the emulator itself follow each change
        key = page["assets"][0]["key"]
        client.post(f"{api}/{key}/untag", json={"tag": "Gelato"})
        assert client.get(f"{sb.url}/demo/items").status_code == 200
        totals.append(client.get(api, params={"tag": "Gelato", "page": 70}).json()["total"])
        page = client.get(api, params={"tag": "Gelato"}).json()
        assert key not in {a["key"] for a in page["assets"]}
    assert totals == [70_000, 69_999, 69_998, 69_997]
    assert len(client.get(f"{api}/{key}").json()["md5"]) == 32  # content made on demand


def test_python_m_damkit_sandbox_prints_manifest_url(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "damkit.sandbox", "--assets", "10", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 20
        while not url and time.monotonic() < deadline:
            match = re.match(r"manifest: (http://127\.0\.0\.1:\d+/_sandbox/manifest)",
                             proc.stdout.readline())
            url = match.group(1) if match else ""
        assert url, "no manifest URL printed"
        for _ in range(100):
            try:
                m = httpx.get(url).json()
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert m["assets"] == 10 and set(m["providers"]) == set(REAL)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- switches ----------------------------------------------------------------------------------

def test_switches_control_api_flags_and_reset() -> None:
    from damkit.sandbox import switch_config
    from damkit.sandbox.switches import SwitchError

    assert switch_config(["bynder:hide_archived", "*:html_401"]) == {
        "bynder": ("hide_archived",), "*": ("html_401",)}
    with pytest.raises(SwitchError, match="PROVIDER:NAME"):
        switch_config(["no_such_switch"])
    with Sandbox(assets=12, switches={"*": ("html_401",), "bynder": ("hide_archived",)}) as sb:
        assert sb.manifest()["switches"] == {"bynder": ["hide_archived", "html_401"],
                                             "canto": ["html_401"], "percolate": ["html_401"]}
        bad = sb.control("PUT", "canto/switches", json={"on": ["hide_archived"]}, check=False)
        assert bad["status"] == 400 and "canto has no switch hide_archived" in bad["error"]
        assert sb.set_switches("canto", "unknown_error_body")["on"] == ["unknown_error_body"]
        r = httpx.get(f"{sb.url}/percolate/api/v5/me")
        assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
        r = httpx.get(f"{sb.url}/canto/api/v1/user", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and "fault" in r.json()
        sb.reset()
        assert sb.manifest()["switches"]["canto"] == ["html_401"]  # back to the configured set
