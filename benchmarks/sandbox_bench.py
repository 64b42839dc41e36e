"""Sandbox throughput: small Percolate list/metadata requests from httpx, bounded concurrency.

The sandbox runs in its own process (``python -m damkit.sandbox``), as it would for a demo; the
load comes from ``--clients`` processes of threads, one keep-alive ``httpx.Client`` per thread
(``--concurrency`` requests in flight in all), because a Python HTTP client costs more CPU per
request than the server does.
Prints ONE JSON object: ``{"requests_per_s", "requests", "seconds", "concurrency", ...}``;
``server_cpu_us_per_request`` is the server process's CPU time over the measured window divided
by the requests answered in it: the sandbox's own cost per request, which a busy machine blurs
less than the wall-clock rate.

    .venv/bin/python benchmarks/sandbox_bench.py [--seconds 5] [--concurrency 16] [--clients 2]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import threading
import time
from typing import Any

import httpx
from sandbox_process import start_sandbox


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process, from /proc (0 where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def percolate_session(client: httpx.Client, manifest: dict[str, Any]) -> dict[str, Any]:
    p = manifest["providers"]["percolate"]
    basic = base64.b64encode(f"{p['client_id']}:{p['client_secret']}".encode()).decode()
    r = client.post(f"{p['api_url']}/auth/v5/token/", data={"grant_type": "client_credentials"},
                    headers={"Authorization": f"Basic {basic}"})
    r.raise_for_status()
    return {"api": p["api_url"], "scope": p["scope_id"],
            "headers": {"Authorization": f"Bearer {r.json()['access_token']}"}}


def client_process(args: tuple[dict[str, Any], int, float, float, int]) -> dict[str, float]:
    """One client process: ``threads`` workers, each with its own keep-alive httpx.Client,
    from ``start_at`` (wall clock, shared by all client processes) for ``seconds``.

    Sync clients in threads: an httpx.AsyncClient costs about three times the CPU per request,
    and the client, not the server, is what a 2-core machine runs out of."""
    manifest, threads, start_at, seconds, assets = args
    with httpx.Client(timeout=30) as c:
        s = percolate_session(c, manifest)
    urls = [f"{s['api']}/api/v5/asset/asset:{n}" for n in range(1, min(assets, 200) + 1)]
    list_url = f"{s['api']}/api/v5/asset/"
    list_params = {"scope_ids": s["scope"], "limit": "5"}
    results: list[tuple[int, int]] = []

    def worker(w: int) -> None:
        n = errors = 0
        with httpx.Client(timeout=30, headers=s["headers"]) as client:
            i = w
            while time.time() < start_at:  # warm up the connection until the common start
                client.get(urls[i % len(urls)])
                i += 1
            stop_at = start_at + seconds
            while time.time() < stop_at:
                r = client.get(list_url, params=list_params) if i % 2 else client.get(urls[i % len(urls)])
                n += 1
                errors += r.status_code != 200
                i += 1
        results.append((n, errors))

    cpu = time.process_time()
    pool = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"requests": sum(n for n, _ in results), "errors": sum(e for _, e in results),
            "seconds": seconds, "cpu": time.process_time() - cpu}


def run(seconds: float, concurrency: int, clients: int, assets: int) -> dict[str, Any]:
    proc, manifest_url = start_sandbox("--assets", str(assets))
    try:
        for _ in range(200):
            try:
                manifest = httpx.get(manifest_url).json()
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        per_client = max(1, concurrency // clients)
        start_at = time.time() + 1.5
        server_cpu = cpu_seconds(proc.pid)
        with multiprocessing.get_context("spawn").Pool(clients) as pool:
            pending = pool.map_async(client_process,
                                     [(manifest, per_client, start_at, seconds, assets)] * clients)
            # the server's CPU time over the measured window only (no start, no warm-up)
            time.sleep(max(0.0, start_at - time.time()))
            window_cpu = cpu_seconds(proc.pid)
            time.sleep(max(0.0, start_at + seconds - time.time()))
            window_cpu = cpu_seconds(proc.pid) - window_cpu
            results = pending.get()
        server_cpu = cpu_seconds(proc.pid) - server_cpu
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    requests = int(sum(r["requests"] for r in results))
    elapsed = seconds
    return {"requests_per_s": round(requests / elapsed, 1), "requests": requests,
            "seconds": round(elapsed, 3), "concurrency": per_client * clients,
            "client_processes": clients, "errors": int(sum(r["errors"] for r in results)),
            "client_cpu_s": round(sum(r["cpu"] for r in results), 2),
            "server_cpu_s_incl_warmup": round(server_cpu, 2),
            "server_cpu_us_per_request": round(window_cpu / max(requests, 1) * 1e6, 1),
            "routes": ["percolate GET /api/v5/asset/{id}", "percolate GET /api/v5/asset/?limit=5"],
            "server": "separate process (python -m damkit.sandbox)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16, help="in flight, all clients")
    parser.add_argument("--clients", type=int, default=2,
                        help="client processes (one httpx client each); the server is another")
    parser.add_argument("--assets", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(run(args.seconds, args.concurrency, args.clients, args.assets)))


if __name__ == "__main__":
    main()
