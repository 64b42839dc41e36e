"""Benchmark of the library index (damkit.index) on a realistic N-asset library.

Usage: ``python benchmarks/index_bench.py [--assets 100000] [--repeats 7]``

Builds an index of N asset records in a temporary directory (in a child process, page by page as
a sync would), then measures in a fresh child process, whose peak RSS is the one reported, and
prints ONE JSON object:

- ``open_s``: ``LibraryIndex.open`` (median): the manifest and the small tables; the shards are
  parsed on the first use of an asset, so a check or a connection list never parses them;
- ``open_load_s``: ``open`` and then the first asset read (median): the key tables of every
  shard (where each asset is) and the one shard that holds the asset; what ``open_s`` measured
  when open parsed every shard. ``open_load_all_s`` is ``open`` and a first read of every asset
  (a count of one status: every shard parsed), what a command that lists or audits the whole
  library pays. ``open_first_s`` is the first open of the freshly built index, which also makes
  its backup (parsing what it copies);
- ``lookup_ms``: ``get_asset`` by key (median of repeats, each the mean over 1,000 lookups);
- ``batch_upsert_1000_ms``: one committed ``upsert_assets`` of 1,000 records, the worst median of
  three page shapes (``batch_upsert_1000_detail``): new assets, an existing contiguous page, and
  1,000 existing assets spread at random (delta segments); ``batch_upsert_1000_max_ms`` is the
  slowest single commit of them all (``batch_upsert_1000_commits``; the random pages run long
  enough for compactions and segment carries to happen many times), and
  ``batch_upsert_1000_max_cpu_ms`` its CPU time (this thread's), which a busy machine inflates
  far less than the wall time;
- ``audit_query_ms``: ``assets(tag=..., provider=..., status=...)`` including copying results
  (median of ``--repeats``; ``audit_query_cpu_ms``: its CPU time). The first query by tag in a
  process scans every document (``audit_query_first_ms``); the second builds each shard's tag
  column as it answers, and the later ones read it;
- ``peak_rss_mb``: ``ru_maxrss`` of the measuring process;
- ``audit_peak_rss_mb``: the larger ``ru_maxrss`` of two fresh processes that each open a
  workspace whose one connection has N asset records and run ``damkit.audit.audit`` on it with
  the default row limit: online (``audit_online_*``: the connection's DAM, a sandbox Percolate
  serving N tagged assets in its own process, is listed page by page) and offline
  (``audit_offline_*``: the index against the library folder). ``audit_*_s`` are their times.

Targets at 100,000 assets: open <= 0.5 s (and open + load), lookup <= 1 ms, batch upsert <= 150 ms
(the slowest single commit too), audit query <= 200 ms, peak <= 300 MB, audit peak <= 300 MB.
``--no-audit`` skips the audit phases (they list N assets over HTTP: about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox_process import start_process  # noqa: E402

from damkit.index import LibraryIndex  # noqa: E402

PROVIDERS = ("bynder", "canto", "percolate")
TAGS = (
    "hero", "spring", "summer", "autumn", "winter", "campaign", "social", "print", "web",
    "product", "lifestyle", "logo", "banner", "approved", "draft", "emea", "apac", "na",
    "video", "still", "catalog", "packshot", "event", "press", "internal", "partner",
)
STATUSES = ("synced",) * 17 + ("new", "failed", "stale")
TYPES = {"image": ".jpg", "video": ".mp4", "document": ".pdf", "audio": ".mp3"}


def make_asset(i: int, rng: random.Random, *, rev: int = 0) -> dict[str, Any]:
    """A realistic asset record (~430 bytes of JSON)."""
    provider = PROVIDERS[i % 3]
    connection = f"acme-{provider}"
    kind = rng.choice(list(TYPES))
    name = f"{rng.choice(TAGS).title()} {kind} {i:06d}{TYPES[kind]}"
    ident = hashlib.sha256(str(i).encode()).hexdigest()
    digest = hashlib.sha256(f"{i}:{rev}".encode()).hexdigest()
    day = 1 + i % 28
    return {
        "provider": provider,
        "connection": connection,
        "provider_id": f"{ident[:8]}-{ident[8:12]}-{ident[12:16]}-{i:012d}",
        "name": name,
        "type": kind,
        "size": rng.randint(20_000, 250_000_000),
        "checksum": f"sha256:{digest}",
        "tags": rng.sample(TAGS, rng.randint(1, 4)),
        "modified": f"2026-10-{day:02d}T10:{i % 60:02d}:00Z",
        "version": 1 + rev,
        "local_path": f"DAM Import/{connection}/{name}",
        "status": rng.choice(STATUSES),
        "last_synced": f"2026-11-{day:02d}T08:00:00Z",
        "last_error": None,
    }


def build(directory: Path, n: int) -> None:
    """Create an index of ``n`` assets, committed page by page (1,000 per commit)."""
    rng = random.Random(42)
    index = LibraryIndex.open(directory)
    for provider in PROVIDERS:
        index.put_connection({"name": f"acme-{provider}", "provider": provider, "tag": "dam"})
    for start in range(0, n, 1000):
        index.upsert_assets([make_asset(i, rng) for i in range(start, min(n, start + 1000))])
    index.close()


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def measure(directory: Path, n: int, repeats: int) -> dict[str, Any]:
    """Measure open, lookup, batch upserts and an audit query on the built index."""
    rng = random.Random(7)
    ids = [make_asset(i, random.Random(0))["provider_id"] for i in range(0, n, max(1, n // 1000))]
    conns = [f"acme-{PROVIDERS[i % 3]}" for i in range(0, n, max(1, n // 1000))]
    opens: list[float] = []
    loads: list[float] = []
    loads_all: list[float] = []
    first_open = 0.0
    for i in range(4):  # the first open makes the backup, which parses every shard it copies
        gc.collect()
        t = time.perf_counter()
        index = LibraryIndex.open(directory)
        if i == 0:
            first_open = time.perf_counter() - t
        index.assets(status="no such status")
        if i > 0:
            loads_all.append(time.perf_counter() - t)
        index.close()
        del index
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        index = LibraryIndex.open(directory)
        opens.append(time.perf_counter() - t)
        if index.get_asset(conns[0], ids[0]) is None:
            raise SystemExit("lookup failed")
        loads.append(time.perf_counter() - t)
        if len(opens) < repeats:
            index.close()
            del index
    gc.collect()

    lookups: list[float] = []
    for _ in range(repeats):
        t = time.perf_counter()
        for conn, pid in zip(conns, ids, strict=False):
            if index.get_asset(conn, pid) is None:
                raise SystemExit(f"lookup failed: {conn}/{pid}")
        lookups.append((time.perf_counter() - t) / len(ids))

    shapes: dict[str, list[float]] = {"new": [], "existing_page": [], "existing_random": []}
    cpu: list[float] = []  # this thread's CPU time per commit: comparable on a busy machine

    def commit(shape: str, page: list[dict[str, Any]]) -> None:
        c = time.thread_time()
        t = time.perf_counter()
        index.upsert_assets(page)
        shapes[shape].append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)

    next_new = n
    for r in range(repeats):
        commit("new", [make_asset(i, rng, rev=r + 1) for i in range(next_new, next_new + 1000)])
        next_new += 1000
        start = rng.randrange(0, max(1, n - 1000))
        commit("existing_page",
               [make_asset(i, rng, rev=r + 1) for i in range(start, min(n, start + 1000))])

    # random pages: the audit query runs after as many of them as it always did (each replaced
    # document lands elsewhere in memory, and a scan of scattered documents is slower); then
    # more of them, for the delta segments to pass their bounds (compaction and carries) many
    # times over, so that the maximum includes those commits
    def random_pages(first: int, count: int) -> None:
        for r in range(first, first + count):
            commit("existing_random",
                   [make_asset(i, rng, rev=r + 100) for i in rng.sample(range(n), min(n, 1000))])

    before_query = max(repeats, 3 + n // 8000)
    random_pages(0, before_query)

    queries: list[float] = []
    queries_cpu: list[float] = []
    hits = 0
    gc.collect()  # the query, not a GC pass that the commits before it left due
    for _ in range(repeats):
        c = time.thread_time()
        t = time.perf_counter()
        hits = len(index.assets(tag="hero", provider="bynder", status="synced"))
        queries.append(time.perf_counter() - t)
        queries_cpu.append(time.thread_time() - c)

    random_pages(before_query, max(0, 3 + n // 2500 - before_query))

    index.close()
    detail = {k: _median_ms(v) for k, v in shapes.items()}
    return {
        "assets": n,
        "open_s": round(statistics.median(opens), 4),
        "open_load_s": round(statistics.median(loads), 4),
        "lookup_ms": round(statistics.median(lookups) * 1000, 4),
        "batch_upsert_1000_ms": max(detail.values()),
        "audit_query_ms": _median_ms(queries),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "open_first_s": round(first_open, 4),
        "open_load_all_s": round(statistics.median(loads_all), 4),
        "open_load_best_s": round(min(loads), 4),
        "batch_upsert_1000_detail": detail,
        "batch_upsert_1000_max_ms": round(max(max(v) for v in shapes.values()) * 1000, 3),
        "batch_upsert_1000_commits": sum(len(v) for v in shapes.values()),
        "batch_upsert_1000_max_cpu_ms": round(max(cpu) * 1000, 3),
        "audit_query_hits": hits,
        "audit_query_cpu_ms": _median_ms(queries_cpu),
        "audit_query_first_ms": round(queries[0] * 1000, 3),
        "repeats": repeats,
    }


SANDBOX_CODE = (
    "import sys; from damkit.sandbox.server import serve; "
    "serve(port=0, assets=int(sys.argv[1]), providers=('percolate',), rate_limit=None)"
)
AUDIT_CONNECTION = "sandbox-percolate"
AUDIT_RATE = 1000.0  # client-side requests/s: the sandbox runs on loopback, unthrottled


def start_sandbox(tagged: int) -> tuple[subprocess.Popen[str], str]:
    """A sandbox with one Percolate serving about ``tagged`` tagged assets, in its own process."""
    assets = int(tagged / 0.7) + 1  # the sandbox tags 70 % of its catalog
    return start_process(["-c", SANDBOX_CODE, str(assets)], timeout=120)


def _open_workspace(home: Path) -> Any:
    import logging

    from damkit.workspace import open_workspace

    logging.getLogger("damkit.secrets").setLevel(logging.ERROR)  # the sandbox's plaintext keys

    return open_workspace(home, env={"DAMKIT_SECRET_STORE": "plaintext"})


def build_audit(home: Path, manifest_url: str) -> None:
    """A workspace with the sandbox connection and one index record per asset it lists (the
    records of a synced library; the files themselves are not written)."""
    from damkit.demo import add_sandbox_connections
    from damkit.sync.plan import metadata

    ws = _open_workspace(home)
    add_sandbox_connections(ws, manifest_url)

    async def record_all() -> None:
        async with ws.provider(AUDIT_CONNECTION, rate=AUDIT_RATE) as provider:
            async for page in provider.list_assets():
                ws.index.upsert_assets([
                    {"connection": AUDIT_CONNECTION, "provider": "percolate",
                     "provider_id": a.id, **metadata(a),
                     "local_path": f"DAM Import/{AUDIT_CONNECTION}/{a.id}-{a.name}",
                     "status": "synced", "last_synced": "2026-11-01T08:00:00Z",
                     "last_error": None, "fingerprint": a.fingerprint, "failures": 0}
                    for a in page])

    asyncio.run(record_all())
    ws.close()


def measure_audit(home: Path, live: bool) -> dict[str, Any]:
    """One audit in this (fresh) process: its time, counts, and the process's peak RSS."""
    from damkit.audit import audit

    t = time.perf_counter()
    ws = _open_workspace(home)
    report = asyncio.run(audit(ws, AUDIT_CONNECTION, live=live, rate=AUDIT_RATE))
    seconds = time.perf_counter() - t
    (conn,) = report.connections
    if conn.error:
        raise SystemExit(f"the audit could not list the DAM: {conn.error}")
    ws.close()
    return {"seconds": round(seconds, 2), "library": conn.library, "eligible": conn.eligible,
            "rows_kept": len(report.rows), "counts": report.counts(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_audit_phases(tmp: Path, n: int) -> dict[str, Any]:
    """Build the audit workspace against a sandbox, then audit it online and offline."""
    home = tmp / "audit-home"
    proc, manifest_url = start_sandbox(n)
    try:
        common = [sys.executable, __file__, "--dir", str(home)]
        subprocess.run([*common, "--phase", "audit-build", "--manifest", manifest_url], check=True)
        out: dict[str, Any] = {}
        for mode in ("online", "offline"):
            raw = subprocess.run([*common, "--phase", f"audit-{mode}"], check=True,
                                 capture_output=True, text=True).stdout
            out[mode] = json.loads(raw)
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        "audit_peak_rss_mb": max(out["online"]["peak_rss_mb"], out["offline"]["peak_rss_mb"]),
        "audit_assets": out["online"]["library"],
        "audit_online_peak_rss_mb": out["online"]["peak_rss_mb"],
        "audit_offline_peak_rss_mb": out["offline"]["peak_rss_mb"],
        "audit_online_s": out["online"]["seconds"],
        "audit_offline_s": out["offline"]["seconds"],
        "audit_online_eligible": out["online"]["eligible"],
        "audit_rows_kept": out["online"]["rows_kept"],
    }


def main(argv: list[str] | None = None) -> int:
    """Build in one child process, measure in another, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-audit", action="store_true", help="skip the audit phases")
    parser.add_argument("--phase", choices=("build", "measure", "audit-build", "audit-online",
                                            "audit-offline"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase == "build":
        build(args.dir, args.assets)
        return 0
    if args.phase == "measure":
        print(json.dumps(measure(args.dir, args.assets, args.repeats)))
        return 0
    if args.phase == "audit-build":
        build_audit(args.dir, args.manifest)
        return 0
    if args.phase in ("audit-online", "audit-offline"):
        print(json.dumps(measure_audit(args.dir, live=args.phase == "audit-online")))
        return 0
    with tempfile.TemporaryDirectory(prefix="damkit-index-bench-") as tmp:
        directory = Path(tmp) / "index"
        common = [sys.executable, __file__, "--assets", str(args.assets), "--dir", str(directory)]
        subprocess.run([*common, "--phase", "build"], check=True)
        out = subprocess.run(
            [*common, "--phase", "measure", "--repeats", str(args.repeats)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(out)
        if not args.no_audit:
            result.update(run_audit_phases(Path(tmp), args.assets))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
