"""Sync benchmark (not a test): damkit vs a sequential baseline, rate limit, re-sync, memory.

Run: ``.venv/bin/python benchmarks/sync_bench.py`` (about 3-4 minutes on 2 cores); prints ONE
JSON object. Every sandbox runs in its own process (so it shares no GIL with the client) with
~50 KB files (``damkit.sandbox.catalog.ASSET_SIZES`` set in that process). The catalog tags 70 %
of its assets exactly, so ``assets=2855`` gives 2,000 eligible files and ``14284`` gives 10,000.

1. speed: 2,000 tagged Percolate assets, 20 ms added latency per request; damkit (default
   concurrency, client-side rate limit raised: the sandbox's Percolate has none) vs a plain httpx
   client doing token, term, list and downloads one request at a time, written to disk.
2. limited: Bynder's sandbox with its 15 requests/s limit on, damkit with the connector's default
   client-side limit (15/s). ``limit_bound_s`` = the requests Bynder limits (its API: list,
   download URLs; not the pre-signed S3 file fetches, which go to another host) / 15.
3. re-sync of 10,000 tagged assets with nothing changed (a fresh process: open + sync).
4. peak RSS (ru_maxrss of a child process) of the first 10,000-asset sync, of the re-sync, and of
   a re-sync that downloads one extra 50 MB file.
5. adaptive: for each provider that publishes no limit (Canto, Percolate), the sandbox enforces
   one the client is not told, drawn at random between 5 and 50 requests/s (``--rate-limit``);
   damkit syncs with no ``--rate``. ``adaptive_bound_ratio`` = wall time / (requests the limit let
   through / the limit), target <= 1.2; ``throttled_share`` = 429s / requests under the limit,
   target <= 2 %. The catalog is sized so that the limit allows about 25 s of work, and at least
   300 requests (60 s at 5/s).
6. ``storm_ok``: 60 x 429 with ``Retry-After: 1`` in the middle of a 200-file sync, every file
   synced in the end; ``breaker_requests``: requests a 2,000-file sync spends against a dead file
   host (every download 5xx) before it stops (target <= 50), listing included.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from damkit.demo import add_sandbox_connections, demo_workspace, fetch_manifest, login_sandbox_connections  # noqa: E402
from damkit.errors import DamkitError  # noqa: E402
from damkit.sandbox import free_port  # noqa: E402
from damkit.sync import sync_connection  # noqa: E402

ELIGIBLE_2K = 2855  # catalog size whose exact-tag set is 2,000
ELIGIBLE_10K = 14284  # ... 10,000
BYNDER_ASSETS = 284  # ... 200
LATENCY_MS = 20.0
BYNDER_RATE = 15.0
BIG_FILE = 50_000_000
ADAPTIVE_SECONDS = 25.0  # work the hidden limit allows in each adaptive run
ADAPTIVE_REQUESTS = 300  # at least (a low limit: 60 s of work)
#: requests under the limit per tagged file (Canto: the binary link; its /_files host is not
#: counted; Percolate: the download link and the CDN)
PER_FILE = {"canto": 1.0, "percolate": 2.0}

SANDBOX = """
import sys, json
import damkit.sandbox.catalog as catalog
catalog.ASSET_SIZES = (50_000,)
from damkit.sandbox import serve
config = json.loads(sys.argv[1])
config["providers"] = tuple(config["providers"])
serve(port=int(sys.argv[2]), **config)
"""

CHILD = """
import asyncio, json, resource, sys, time
t0 = time.perf_counter()
from pathlib import Path
from damkit.demo import demo_workspace
from damkit.sync import sync_connection
root, name, rate = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
t1 = time.perf_counter()
with demo_workspace(root) as ws:
    report = asyncio.run(sync_connection(ws, name, rate=rate))
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t1, "report": report.model_dump(mode="json"),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


class SandboxProcess:
    def __init__(self, **config: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SANDBOX, json.dumps(config), str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + 120
        while True:
            try:
                self.manifest = fetch_manifest(self.url, timeout=5)
                break
            except (httpx.HTTPError, OSError, DamkitError):  # not up yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("sandbox did not start") from None
                time.sleep(0.2)

    def control(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{self.url}/_sandbox/{path}", timeout=120, **kw)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def baseline(settings: dict[str, Any], dest: Path) -> tuple[float, int]:
    """One request at a time with plain httpx: token, term, list pages, then each download."""
    dest.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    api = settings["api_url"]
    user = settings["client_id"] if settings["client_id"].startswith("client:") \
        else f"client:{settings['client_id']}"
    with httpx.Client(base_url=api, timeout=60, follow_redirects=True) as c:
        tok = c.post("/auth/v5/token/", data={"grant_type": "client_credentials"},
                     auth=(user, settings["client_secret"])).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        terms = c.get("/api/v5/term/", headers=h, params={
            "scope_ids": settings["scope_id"], "search": settings["tag"], "namespace": "tag",
            "limit": 1000}).json()["data"]
        ids = ",".join(t["id"] for t in terms if t["name"] == settings["tag"])
        assets: list[dict[str, Any]] = []
        while True:
            body = c.get("/api/v5/asset/", headers=h, params={
                "scope_ids": settings["scope_id"], "term_ids": ids, "offset": len(assets),
                "limit": 500}).json()
            assets += body["data"]
            if not body["data"] or len(assets) >= body["meta"]["total"]:
                break
        for a in assets:
            with c.stream("GET", f"/api/v5/asset/{a['id']}/download", headers=h) as r:
                r.raise_for_status()
                with open(dest / a["id"].replace(":", "_"), "wb") as f:
                    for chunk in r.iter_bytes():
                        f.write(chunk)
    return time.perf_counter() - started, len(assets)


def child_sync(root: Path, name: str, rate: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), name, str(rate)],
                         capture_output=True, text=True, cwd=str(ROOT),
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


async def adaptive(tmp: Path, provider: str, limit: int) -> dict[str, Any]:
    """A sync against a limit the client is not told; wall time against what the limit allows."""
    files = int(max(limit * ADAPTIVE_SECONDS, ADAPTIVE_REQUESTS) / PER_FILE[provider])
    sb = SandboxProcess(assets=int(files / 0.7) + 1, providers=[provider], rate_limit=None,
                        faults={provider: {"rate_limit": limit}})
    try:
        with demo_workspace(tmp / f"ws-adaptive-{provider}") as ws:
            names = add_sandbox_connections(ws, sb.manifest)
            await login_sandbox_connections(ws, names)
            sb.control("PUT", f"{provider}/faults", json={"rate_limit": limit})  # counters at 0
            t = time.perf_counter()
            report = await sync_connection(ws, names[0])
            wall = time.perf_counter() - t
        seen = sb.control("GET", f"{provider}/faults")
    finally:
        sb.stop()
    under, limited = seen["under_limit"], seen["injected"]["rate_limited"]
    return {"limit": limit, "files": report.downloaded, "status": report.status,
            "wall_s": round(wall, 2), "bound_s": round(under / limit, 2),
            "adaptive_bound_ratio": round(wall / (under / limit), 3),
            "throttled_share": round(limited / max(1, under + limited), 4),
            "requests": under + limited, "http_429": limited}


async def adaptive_all(tmp: Path, limits: list[int] | None = None) -> dict[str, Any]:
    """Each provider that publishes no limit, against a random one between 5 and 50/s, or
    against each of ``limits`` (``--limits 5,13,50``: runs keyed ``provider@limit``)."""
    rng = random.Random()
    runs = {}
    for p in ("canto", "percolate"):
        for limit in limits or [rng.randint(5, 50)]:
            runs[f"{p}@{limit}" if limits else p] = await adaptive(tmp / f"{p}-{limit}", p, limit)
    return {"adaptive": runs,
            "adaptive_bound_ratio": max(r["adaptive_bound_ratio"] for r in runs.values()),
            "throttled_share": max(r["throttled_share"] for r in runs.values())}


async def storm(tmp: Path) -> bool:
    """60 x 429 (Retry-After: 1) mid-way through a 200-file sync: does every file arrive?"""
    sb = SandboxProcess(assets=BYNDER_ASSETS, providers=["percolate"], rate_limit=None)
    try:
        with demo_workspace(tmp / "ws-storm") as ws:
            (name,) = add_sandbox_connections(ws, sb.manifest)
            eligible = sb.manifest["providers"]["percolate"]["eligible"]

            def burst(event: Any) -> None:
                if event.kind == "file_done" and event.done == 20:
                    sb.control("PATCH", "percolate/faults",
                               json={"burst_429": 60, "retry_after": 1})

            report = await sync_connection(ws, name, progress=burst)
            injected = sb.control("GET", "percolate/faults")["injected"]["429"]
        return report.status == "ok" and report.downloaded == eligible and injected == 60
    finally:
        sb.stop()


async def breaker(tmp: Path) -> dict[str, Any]:
    """Requests a 2,000-file sync spends against a dead file host before it stops."""
    sb = SandboxProcess(assets=ELIGIBLE_2K, providers=["percolate"], rate_limit=None)
    try:
        with demo_workspace(tmp / "ws-breaker") as ws:
            (name,) = add_sandbox_connections(ws, sb.manifest)
            sb.control("PUT", "percolate/faults", json={"fault_rate": 1.0, "match": "cdn"})
            t = time.perf_counter()
            report = await sync_connection(ws, name)
            seconds = time.perf_counter() - t
            spent = sb.control("GET", "percolate/faults")["requests"] - 1
        return {"breaker_requests": spent, "breaker_status": report.status,
                "breaker_s": round(seconds, 2),
                "breaker_files": sb.manifest["providers"]["percolate"]["eligible"]}
    finally:
        sb.stop()


async def speed(tmp: Path) -> dict[str, Any]:
    """1. 2,000 tagged files at 20 ms latency: damkit against the one-at-a-time baseline."""
    sb = SandboxProcess(assets=ELIGIBLE_2K, providers=["percolate"], latency_ms=LATENCY_MS,
                        rate_limit=None)
    try:
        eligible = sb.manifest["providers"]["percolate"]["eligible"]
        settings = {k: v for k, v in sb.manifest["providers"]["percolate"].items()
                    if k != "eligible"}
        base_s, base_n = baseline(settings, tmp / "baseline")
        shutil.rmtree(tmp / "baseline", ignore_errors=True)
        with demo_workspace(tmp / "ws-speed") as ws:
            (name,) = add_sandbox_connections(ws, sb.manifest)
            before = sb.control("GET", "percolate/faults")["requests"]
            t = time.perf_counter()
            report = await sync_connection(ws, name, rate=10_000.0)
            damkit_s = time.perf_counter() - t
            sent = sb.control("GET", "percolate/faults")["requests"] - before - 1
        if report.status != "ok" or report.downloaded != eligible or base_n != eligible:
            raise RuntimeError(f"speed run incomplete: {report.status} {report.downloaded}")
        return {"assets": eligible, "damkit_s": round(damkit_s, 2), "baseline_s": round(base_s, 2),
                "speedup": round(base_s / damkit_s, 2), "latency_ms": LATENCY_MS,
                "concurrency": 8, "bytes": report.bytes, "damkit_requests": sent}
    finally:
        sb.stop()


async def limited(tmp: Path) -> dict[str, Any]:
    """2. Bynder at its documented 15 requests/s."""
    sb = SandboxProcess(assets=BYNDER_ASSETS, providers=["bynder"], latency_ms=LATENCY_MS,
                        rate_limit=BYNDER_RATE)
    try:
        with demo_workspace(tmp / "ws-limited") as ws:
            (name,) = add_sandbox_connections(ws, sb.manifest)
            before = sb.control("GET", "bynder/faults")["requests"]
            t = time.perf_counter()
            report = await sync_connection(ws, name)
            limited_s = time.perf_counter() - t
            sent = sb.control("GET", "bynder/faults")["requests"] - before - 1
        s3 = report.downloaded  # one pre-signed S3 fetch per file: not under Bynder's limit
        return {"limited_assets": report.downloaded, "limited_s": round(limited_s, 2),
                "limit_rate": BYNDER_RATE, "limited_requests": sent,
                "limit_bound_s": round((sent - s3) / BYNDER_RATE, 2),
                "bound_ratio": round(limited_s / ((sent - s3) / BYNDER_RATE), 3),
                "limited_s3_fetches": s3,
                "limited_429": report.http_429, "limited_status": report.status}
    finally:
        sb.stop()


async def tenk(tmp: Path) -> dict[str, Any]:
    """3 + 4. 10,000 assets: first sync, re-sync, a 50 MB file."""
    sb = SandboxProcess(assets=ELIGIBLE_10K, providers=["percolate"], rate_limit=None)
    try:
        root = tmp / "ws-10k"
        with demo_workspace(root) as ws:
            (name,) = add_sandbox_connections(ws, sb.manifest)
        first = child_sync(root, name, 10_000.0)
        if first["report"]["downloaded"] != 10_000:
            raise RuntimeError(f"10k sync incomplete: {first['report']['status']}")
        before = sb.control("GET", "percolate/faults")["requests"]
        resync = child_sync(root, name, 10_000.0)
        resync_requests = sb.control("GET", "percolate/faults")["requests"] - before - 1
        sb.control("POST", "percolate/assets",
                   json={"name": "huge master.png", "size": BIG_FILE, "tags": ["Gelato"]})
        big = child_sync(root, name, 10_000.0)
        if big["report"]["downloaded"] != 1 or big["report"]["bytes"] != BIG_FILE:
            raise RuntimeError("big-file sync incomplete")
        return {
            "first_sync_10k_s": round(first["seconds"], 2),
            "resync_assets": resync["report"]["plan"]["unchanged"],
            "resync_s": round(resync["seconds"], 3),
            "resync_downloads": resync["report"]["downloaded"],
            "resync_requests": resync_requests,
            "peak_rss_mb": round(max(first["peak_rss_mb"], big["peak_rss_mb"]), 1),
            "peak_rss_mb_first_10k": round(first["peak_rss_mb"], 1),
            "peak_rss_mb_resync_10k": round(resync["peak_rss_mb"], 1),
            "peak_rss_mb_resync_plus_50mb_file": round(big["peak_rss_mb"], 1),
        }
    finally:
        sb.stop()


PARTS = ("speed", "limited", "tenk", "adaptive", "storm", "breaker")


async def main(parts: tuple[str, ...] = PARTS, limits: list[int] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="damkit-bench-"))
    try:
        if "speed" in parts:
            result.update(await speed(tmp))
        if "limited" in parts:
            result.update(await limited(tmp))
        if "tenk" in parts:
            result.update(await tenk(tmp))
        if "adaptive" in parts:  # 5. adaptive rates under a limit the client is not told
            result.update(await adaptive_all(tmp, limits))
        if "storm" in parts:  # 6. a 429 storm; a dead file host
            result["storm_ok"] = await storm(tmp)
        if "breaker" in parts:
            result.update(await breaker(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


if __name__ == "__main__":
    # --only speed,tenk: a quick look at some parts (names in PARTS)
    only = tuple(sys.argv[sys.argv.index("--only") + 1].split(",")) if "--only" in sys.argv \
        else PARTS
    # --limits 5,13,50: the adaptive part against each of these limits instead of a random one
    chosen = [int(x) for x in sys.argv[sys.argv.index("--limits") + 1].split(",")] \
        if "--limits" in sys.argv else None
    print(json.dumps(asyncio.run(main(only, chosen))))
