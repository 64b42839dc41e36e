"""The sandbox's 100,000-asset catalog: how long a page takes, filtered or not, and after a change.

The figure ``tests/test_sandbox_framework.py`` used to assert (each request under 1 s) lives
here, so that a loaded machine never fails the suite. The sandbox runs in this process's
background thread, as the tests run it, with Percolate's catalog read through the control API
(``/_sandbox/percolate/assets``: the same catalog code every emulator pages through).
Prints ONE JSON object: ``page_ms`` per request shape (median of ``--repeats``), ``max_page_ms``
over all of them (target <= 1000), and ``after_change_ms`` (a list page just after an untag).

    .venv/bin/python benchmarks/catalog_bench.py [--assets 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from damkit.sandbox import Sandbox  # noqa: E402

SHAPES = {
    "first": {"page": 1},
    "deep": {"page": 900},
    "tag_deep": {"tag": "Gelato", "page": 600, "limit": 100},
    "state_deep": {"state": "live", "page": 999},
    "tag_1000": {"tag": "Gelato", "page": 1, "limit": 1000},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with Sandbox(assets=args.assets, providers=("percolate",), rate_limit=None) as sb, \
            httpx.Client(timeout=60) as client:
        api = f"{sb.url}/_sandbox/percolate/assets"
        samples: dict[str, list[float]] = {name: [] for name in SHAPES}
        for _ in range(args.repeats):
            for name, params in SHAPES.items():
                t = time.perf_counter()
                client.get(api, params=params).raise_for_status()
                samples[name].append(time.perf_counter() - t)
        changes: list[float] = []
        for _ in range(args.repeats):
            key = client.get(api, params={"tag": "Gelato"}).json()["assets"][0]["key"]
            client.post(f"{api}/{key}/untag", json={"tag": "Gelato"}).raise_for_status()
            t = time.perf_counter()
            client.get(api, params={"tag": "Gelato", "page": 70}).raise_for_status()
            changes.append(time.perf_counter() - t)
    every = [s for v in samples.values() for s in v] + changes
    print(json.dumps({
        "assets": args.assets,
        "page_ms": {k: round(statistics.median(v) * 1000, 2) for k, v in samples.items()},
        "after_change_ms": round(statistics.median(changes) * 1000, 2),
        "max_page_ms": round(max(every) * 1000, 2),
        "repeats": args.repeats,
    }))


if __name__ == "__main__":
    main()
