"""Sandbox throughput: small Percolate list and asset requests, bounded concurrency.

The sandbox runs in its own process (``python -m damkit.sandbox``), as it would for a demo; the
load comes from ``--clients`` processes, each with keep-alive connections sending prepared HTTP/1.1
requests (``--concurrency`` requests in flight in all): an HTTP client library costs several
times the server's CPU per request, so with it a 2-core machine measures the client.
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
import time
from typing import Any

import httpx
from sandbox_process import read_answer, start_sandbox


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


async def _load(host: str, port: int, requests: list[bytes], connections: int, start_at: float,
                seconds: float) -> tuple[int, int]:
    """``connections`` keep-alive HTTP/1.1 connections, each sending the prepared requests in
    turn and reading each answer whole (status line, headers, Content-Length body)."""
    import asyncio

    counts = [0, 0]  # answered, not 200

    async def one(w: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        i = w
        try:
            while True:
                now = time.time()
                if now >= start_at + seconds:
                    return
                writer.write(requests[i % len(requests)])
                head = await read_answer(reader)
                if now >= start_at:  # warm-up answers are not counted
                    counts[0] += 1
                    counts[1] += head[9:12] != b"200"
                i += 1
        finally:
            writer.close()

    await asyncio.gather(*(one(w) for w in range(connections)))
    return counts[0], counts[1]


def client_process(args: tuple[dict[str, Any], int, float, float, int]) -> dict[str, float]:
    """One client process: ``connections`` keep-alive connections on one event loop, from
    ``start_at`` (wall clock, shared by all client processes) for ``seconds``.

    The requests are prepared bytes on raw sockets: an HTTP client library (httpx) costs three
    to five times the server's CPU per request, and on a 2-core machine the client, not the
    sandbox, would be what is measured."""
    import asyncio
    from urllib.parse import urlencode, urlsplit

    manifest, connections, start_at, seconds, assets = args
    with httpx.Client(timeout=30) as c:
        s = percolate_session(c, manifest)
    api = urlsplit(s["api"])
    auth = s["headers"]["Authorization"]
    paths = []
    for n in range(1, min(assets, 200) + 1):
        paths.append(f"{api.path}/api/v5/asset/asset:{n}")
        paths.append(f"{api.path}/api/v5/asset/?" + urlencode({"scope_ids": s["scope"], "limit": "5"}))
    requests = [(f"GET {p} HTTP/1.1\r\nHost: {api.netloc}\r\nAuthorization: {auth}\r\n"
                 "Accept: */*\r\n\r\n").encode() for p in paths]
    cpu = time.process_time()
    answered, errors = asyncio.run(_load(api.hostname or "127.0.0.1", api.port or 80, requests,
                                         connections, start_at, seconds))
    return {"requests": answered, "errors": errors, "seconds": seconds,
            "cpu": time.process_time() - cpu}


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
    parser.add_argument("--clients", type=int, default=1,
                        help="client processes (raw keep-alive connections); the server is another")
    parser.add_argument("--assets", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(run(args.seconds, args.concurrency, args.clients, args.assets)))


if __name__ == "__main__":
    main()
