"""Benchmark of the library index on PostgreSQL (damkit.index.postgres), the same measures as
``index_bench.py`` where they apply.

Usage: ``python benchmarks/pg_index_bench.py [--assets 100000] [--repeats 5] [--url postgresql://...]``

Without ``--url``, starts a throwaway server on loopback (tests/pg_server.py: Debian's binaries
or the ``pgserver`` wheel). Builds N asset records (index_bench's records, 1,000 per commit),
then prints ONE JSON object:

- ``build_page_ms``: median commit of a 1,000-asset page while building;
- ``open_s``: ``open_index(url)`` (connect and check the migrations; median);
- ``lookup_ms``: ``get_asset`` by key (one round trip; median of the mean over 1,000 lookups);
- ``batch_upsert_1000_ms``: one committed ``upsert_assets`` of 1,000 records, the worst median
  of three shapes (``batch_upsert_1000_detail``: new, an existing page, existing at random);
- ``audit_query_ms``: ``assets(tag=..., provider=..., status=...)`` with the results parsed;
- ``stats_ms``: ``stats()`` counted by the server; ``iter_assets_s``: streaming every asset.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "tests", ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from index_bench import PROVIDERS, make_asset  # noqa: E402

from damkit.index import open_index  # noqa: E402


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from pg_server import postgres_server

    with postgres_server() as server:
        yield server.database_url("bench")


def run(url: str, n: int, repeats: int) -> dict[str, Any]:
    rng = random.Random(42)
    ix = open_index(url)
    for provider in PROVIDERS:
        ix.put_connection({"name": f"acme-{provider}", "provider": provider, "tag": "dam"})
    pages: list[float] = []
    for start in range(0, n, 1000):
        docs = [make_asset(i, rng) for i in range(start, min(n, start + 1000))]
        t = time.perf_counter()
        ix.upsert_assets(docs)
        pages.append(time.perf_counter() - t)
    ix.close()

    opens: list[float] = []
    for _ in range(repeats):
        t = time.perf_counter()
        ix = open_index(url)
        opens.append(time.perf_counter() - t)
        ix.close()
    ix = open_index(url)

    step = max(1, n // 1000)
    keys = [(f"acme-{PROVIDERS[i % 3]}", make_asset(i, random.Random(0))["provider_id"])
            for i in range(0, n, step)]
    lookups: list[float] = []
    for _ in range(repeats):
        t = time.perf_counter()
        for conn, pid in keys:
            if ix.get_asset(conn, pid) is None:
                raise SystemExit(f"lookup failed: {conn}/{pid}")
        lookups.append((time.perf_counter() - t) / len(keys))

    shapes: dict[str, list[float]] = {"new": [], "existing_page": [], "existing_random": []}
    next_new = n
    rrng = random.Random(7)
    for r in range(repeats):
        first = r * 1000 % max(1, n - 1000)
        batches = {
            "new": [make_asset(i, rrng) for i in range(next_new, next_new + 1000)],
            "existing_page": [make_asset(i, rrng, rev=r + 1) for i in range(first, first + 1000)],
            "existing_random": [make_asset(i, rrng, rev=r + 1) for i in rrng.sample(range(n), min(n, 1000))],
        }
        next_new += 1000
        for shape, docs in batches.items():
            t = time.perf_counter()
            ix.upsert_assets(docs)
            shapes[shape].append(time.perf_counter() - t)

    audits: list[float] = []
    stats: list[float] = []
    found = 0
    for _ in range(repeats):
        t = time.perf_counter()
        found = len(ix.assets(tag="hero", provider="bynder", status="synced"))
        audits.append(time.perf_counter() - t)
        t = time.perf_counter()
        ix.stats()
        stats.append(time.perf_counter() - t)
    t = time.perf_counter()
    walked = sum(1 for _ in ix.iter_assets())
    walk_s = time.perf_counter() - t
    ix.close()
    detail = {k: _ms(v) for k, v in shapes.items()}
    return {
        "backend": "postgresql",
        "assets": n,
        "build_page_ms": _ms(pages),
        "open_s": round(statistics.median(opens), 4),
        "lookup_ms": _ms(lookups),
        "batch_upsert_1000_ms": max(detail.values()),
        "batch_upsert_1000_detail": detail,
        "audit_query_ms": _ms(audits),
        "audit_query_hits": found,
        "stats_ms": _ms(stats),
        "iter_assets_s": round(walk_s, 3),
        "iter_assets_count": walked,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--url", default=None, help="an existing database (default: a throwaway server)")
    args = parser.parse_args(argv)
    with database(args.url) as url:
        print(json.dumps(run(url, args.assets, args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
