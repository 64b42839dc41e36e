"""Benchmark: a burst of SNS notifications into the event consumer, synced with the real engine.

Starts the sandbox (Bynder only), a workspace connected to it, and the event consumer on a
loopback port (trusting the sandbox's certificate host, fetching its certificate over HTTP).
Then POSTs ``--notifications`` signed notifications (SignatureVersion 1 and 2 alternating, signed
with the sandbox's SNS key) for ``--assets`` tagged assets, ``--concurrency`` at a time, and waits
until the consumer is idle. The notifications come from a process of their own, as SNS's come
from elsewhere: prepared POSTs on raw keep-alive connections (:func:`send_burst`), so that what
is measured is the consumer, not a sender sharing its interpreter. Every sync goes through
:func:`damkit.sync.sync_one` (re-read from the sandbox's Bynder API, download), wrapped to count
concurrent syncs per asset.

Prints ONE JSON object::

    {"notifications": 1000, "assets": 200, "seconds": ..., "drain_seconds": ...,
     "syncs": ..., "synced_assets": 200, "lost": 0, "max_concurrent_same_asset": 1,
     "p50_response_ms": ..., "p95_response_ms": ..., "server_p95_ms": ...,
     "bynder_api_requests": ..., "file_requests": ..., "api_budget_bound_s": ..., ...}

``seconds`` is the time to deliver the whole burst (all answered), ``drain_seconds`` the time
from the first POST until every asset is synced; the response times are the sender's, from
writing a request to reading its whole answer. ``bynder_api_requests`` counts what the syncs
asked Bynder's API (counted by the sandbox); ``api_budget_bound_s`` is the least time that many
requests take at Bynder's documented 15/s, which every sync of the host shares, and
``drain_bound_ratio`` how close the drain comes to it. Run:
``.venv/bin/python benchmarks/events_bench.py [--notifications 1000 --assets 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox_process import read_answer

from damkit.demo import add_sandbox_connections, demo_workspace
from damkit.events.server import ConsumerServer
from damkit.sandbox import Sandbox
from damkit.sandbox.server import free_port
from damkit.sandbox.sns import sign, timestamp


def prepare_assets(sb: Sandbox, tag: str, count: int) -> list[str]:
    """``count`` live assets carrying ``tag`` (tagging more through the control API if needed)."""
    control = f"{sb.url}/_sandbox/bynder/assets"
    assets = httpx.get(control, params={"limit": 1000}).json()["assets"]
    live = [a for a in assets if a["state"] == "live"]
    tagged = [a["key"] for a in live if tag in a["tags"]]
    for asset in live:
        if len(tagged) >= count:
            break
        if tag not in asset["tags"]:
            httpx.post(f"{control}/{asset['key']}/tag", json={"tag": tag}).raise_for_status()
            tagged.append(asset["key"])
    if len(tagged) < count:
        raise SystemExit(f"the sandbox has only {len(tagged)} live assets to tag")
    return tagged[:count]


def notification(topic: str, cert_url: str, media_id: str, version: str) -> dict[str, str]:
    msg = {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": topic,
           "Subject": "asset_bank.media.meta_updated", "Message": json.dumps({"media_id": media_id}),
           "Timestamp": timestamp()}
    msg["SignatureVersion"] = version
    msg["Signature"] = sign(msg, version)
    msg["SigningCertURL"] = cert_url
    return msg


def send_burst(host: str, port: int, path: str, bodies: list[bytes], concurrency: int,
               start_at: float) -> dict[str, Any]:
    """The SNS side, in a process of its own: ``concurrency`` keep-alive HTTP/1.1 connections
    POST the prepared bodies in turn from ``start_at`` (wall clock), each answer read whole.

    SNS delivers from elsewhere: sent from the consumer's own process (and with an HTTP client
    library, which costs several times the consumer's CPU per request), the burst would measure
    the sender's share of one interpreter, not how fast the consumer answers."""

    async def burst() -> dict[str, Any]:
        times: list[float] = []
        statuses: dict[int, int] = {}
        queue = iter(bodies)

        async def connection() -> None:
            reader, writer = await asyncio.open_connection(host, port)
            try:
                for body in queue:
                    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                            "Content-Type: text/plain; charset=UTF-8\r\n"
                            "x-amz-sns-message-type: Notification\r\n"
                            f"Content-Length: {len(body)}\r\n\r\n").encode()
                    started = time.perf_counter()
                    writer.write(head + body)
                    answer = await read_answer(reader)
                    times.append(time.perf_counter() - started)
                    status = int(answer[9:12])
                    statuses[status] = statuses.get(status, 0) + 1
            finally:
                writer.close()

        await asyncio.sleep(max(0.0, start_at - time.time()))
        began, began_at = time.perf_counter(), time.time()
        await asyncio.gather(*(connection() for _ in range(concurrency)))
        return {"times": times, "statuses": statuses, "began_at": began_at,
                "seconds": time.perf_counter() - began}

    return asyncio.run(burst())


def count_requests(sb: Sandbox) -> dict[str, int]:
    """Counts, from the sandbox's side, the requests the syncs send to Bynder's API (the budget
    of 15/s per host) and to its file host (``/_s3``, not in that budget)."""
    counts = {"api": 0, "files": 0}
    app = sb.app

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/bynder/api/"):
            counts["api"] += 1
        elif path.startswith("/bynder/_s3/"):
            counts["files"] += 1
        await app(scope, receive, send)

    sb.app = counted  # type: ignore[assignment]  # before start(): the server serves this
    return counts


def run(notifications: int, assets: int, concurrency: int, settle: float,
        sandbox_assets: int) -> dict[str, Any]:
    from damkit.providers import get as provider_spec
    from damkit.sync import sync_one

    sb = Sandbox(assets=sandbox_assets, providers=("bynder",), rate_limit=None)
    requests = count_requests(sb)
    rate = provider_spec("bynder").capabilities.rate or 15.0
    with sb, tempfile.TemporaryDirectory() as tmp:
        ws = demo_workspace(Path(tmp) / "ws")
        name = next(n for n in add_sandbox_connections(ws, sb.url) if n.endswith("bynder"))
        tag = sb.manifest()["providers"]["bynder"]["tag"]
        keys = prepare_assets(sb, tag, assets)
        topic_info = httpx.get(f"{sb.url}/bynder/_sns/topic").json()
        port = free_port()
        ws.set_config(public_url=f"http://127.0.0.1:{port}", sns_topics=[topic_info["TopicArn"]],
                      sns_trusted_cert_hosts=[f"127.0.0.1:{sb.port}"])
        url = ws.event_consumer_url(name)
        messages = [notification(topic_info["TopicArn"], topic_info["SigningCertURL"],
                                 keys[i % assets], "1" if i % 2 else "2")
                    for i in range(notifications)]

        active: dict[str, int] = {}
        seen = {"max_same": 0, "calls": 0, "overlap": 0}

        async def counted_sync(ws_: Any, conn: str, asset_id: str) -> str:
            seen["calls"] += 1
            active[asset_id] = active.get(asset_id, 0) + 1
            seen["max_same"] = max(seen["max_same"], active[asset_id])
            try:
                return await sync_one(ws_, conn, asset_id)
            finally:
                active[asset_id] -= 1

        with ConsumerServer(ws, port=port, settle_seconds=settle, sync=counted_sync) as server:
            bodies = [json.dumps(m).encode() for m in messages]
            before = dict(requests)
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                start_at = time.time() + 1.5  # the sender's start-up is not measured
                pending = pool.apply_async(send_burst, (
                    "127.0.0.1", port, urlsplit(url).path, bodies, concurrency, start_at))
                sent = pending.get(120)
            idle = server.wait_idle(120)
            drain = time.time() - sent["began_at"]
            stats = server.consumer.snapshot()
            api_requests = requests["api"] - before["api"]
            file_requests = requests["files"] - before["files"]
        times, statuses, burst_seconds = sent["times"], sent["statuses"], sent["seconds"]
        synced = 0
        for key in keys:
            rec = ws.index.get_asset(name, key)
            if (rec and rec.get("status") == "synced" and rec.get("local_path")
                    and (ws.root / rec["local_path"]).exists()):
                synced += 1
        ws.close()
    times.sort()
    bound = max(0, api_requests - 1) / rate

    def pct(q: float) -> float:
        return round(times[min(len(times) - 1, int(len(times) * q))] * 1000, 1)

    return {
        "notifications": notifications,
        "assets": assets,
        "seconds": round(burst_seconds, 2),
        "drain_seconds": round(drain, 2),
        "idle": idle,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "syncs": seen["calls"],
        "synced_assets": synced,
        "lost": assets - synced,
        "pending_after": (stats.get("store") or {}).get("pending"),
        "sync_failures": stats["sync_failures"],
        "results": stats["results"],
        "max_concurrent_same_asset": seen["max_same"],
        "bynder_api_requests": api_requests,
        "file_requests": file_requests,
        # the least time those API requests take at Bynder's documented rate (one at once,
        # then paced): what the drain cannot beat while the syncs share the host's budget
        "api_budget_bound_s": round(bound, 1),
        "drain_bound_ratio": round(drain / bound, 2) if bound else None,
        "p50_response_ms": pct(0.5),
        "p95_response_ms": pct(0.95),
        "max_response_ms": pct(1.0),
        "server_p95_ms": (stats.get("response_ms") or {}).get("p95"),
        "concurrency": concurrency,
        "settle_seconds": settle,
        "cert_fetch": "sandbox certificate over HTTP",
        "sender": "a process of its own, prepared POSTs on keep-alive connections",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--settle", type=float, default=0.2,
                        help="the consumer's settle delay before a sync (default 0.2 s)")
    parser.add_argument("--sandbox-assets", type=int, default=400)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(run(args.notifications, args.assets, args.concurrency, args.settle,
                         args.sandbox_assets)))


if __name__ == "__main__":
    main()
