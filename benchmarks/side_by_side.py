"""Two checkouts of damkit measured side by side, interleaved, on this machine at this moment.

A figure in the README is only comparable with a figure measured on the same machine in the same
hour: this machine's speed changes by up to a third within a day. So "do the figures get
worse?" is answered by running an earlier checkout and this one in turns, each with its own
virtual environment (``make .venv/.installed-test`` in it), and comparing what they print.

    git worktree add --detach ../damkit-then <commit>
    (cd ../damkit-then && make .venv/.installed-test)
    .venv/bin/python benchmarks/side_by_side.py ../damkit-then [--rounds 2] [--parts check,...]

Per round, for each checkout (the other one first): ``check`` runs that checkout's own
``benchmarks/check_bench.py`` (what a user of that version waits for ``damkit check``; its
modules byte-compiled first); ``index`` runs the *other* checkout's ``index_bench.py`` (one script,
so the same operations) against each checkout's code; ``resync`` syncs 10,000 tagged Percolate
assets once, then re-syncs them unchanged three times, each in a fresh process; ``speed`` syncs
2,000 tagged files with 20 ms of latency (both as ``sync_bench.py``, from each checkout's own
benchmark helpers). Prints ONE JSON object: for each part, each checkout's figures per round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
PARTS = ("check", "index", "resync", "speed")

SYNC_PARTS = r"""
import asyncio, json, resource, shutil, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path.cwd() / "benchmarks"))
import sync_bench as m
from damkit.demo import add_sandbox_connections, demo_workspace
from damkit.sync import sync_connection

def resync():
    sb = m.SandboxProcess(assets=m.ELIGIBLE_10K, providers=["percolate"], rate_limit=None)
    tmp = Path(tempfile.mkdtemp())
    try:
        with demo_workspace(tmp / "ws") as ws:
            (name,) = add_sandbox_connections(ws, sb.manifest)
        first = m.child_sync(tmp / "ws", name, 10_000.0)
        again = [m.child_sync(tmp / "ws", name, 10_000.0) for _ in range(3)]
        if first["report"]["downloaded"] != 10_000 or any(r["report"]["downloaded"] for r in again):
            raise SystemExit("re-sync run incomplete")
        return {"first_sync_10k_s": round(first["seconds"], 2),
                "resync_s": round(statistics.median(r["seconds"] for r in again), 3),
                "peak_rss_mb_first_10k": round(first["peak_rss_mb"], 1),
                "peak_rss_mb_resync_10k": round(max(r["peak_rss_mb"] for r in again), 1)}
    finally:
        sb.stop(); shutil.rmtree(tmp, ignore_errors=True)

async def speed():
    sb = m.SandboxProcess(assets=m.ELIGIBLE_2K, providers=["percolate"], latency_ms=m.LATENCY_MS,
                          rate_limit=None)
    tmp = Path(tempfile.mkdtemp())
    try:
        with demo_workspace(tmp / "ws") as ws:
            (name,) = add_sandbox_connections(ws, sb.manifest)
            before = sb.control("GET", "percolate/faults")["requests"]
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            t = time.perf_counter()
            report = await sync_connection(ws, name, rate=10_000.0)
            wall = time.perf_counter() - t
            now = resource.getrusage(resource.RUSAGE_SELF)
            sent = sb.control("GET", "percolate/faults")["requests"] - before - 1
        if report.status != "ok" or report.downloaded != 2000:
            raise SystemExit(f"speed run incomplete: {report.status}")
        return {"sync_2000_s": round(wall, 2), "sync_2000_requests": sent,
                "sync_2000_cpu_s": round(now.ru_utime - cpu.ru_utime + now.ru_stime - cpu.ru_stime, 2)}
    finally:
        sb.stop(); shutil.rmtree(tmp, ignore_errors=True)

part = sys.argv[1]
print(json.dumps(resync() if part == "resync" else asyncio.run(speed())))
"""


def run(tree: Path, args: list[str], *, pythonpath: Path | None = None) -> dict[str, Any]:
    """Run ``args`` with ``tree``'s own Python, in ``tree``; the last line of its output, parsed."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    out = subprocess.run([str(tree / ".venv/bin/python"), *args], cwd=tree, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(args[:2])} failed:\n{out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def part(name: str, tree: Path, other: Path) -> dict[str, Any]:
    if name == "check":
        subprocess.run([str(tree / ".venv/bin/python"), "-m", "compileall", "-q", "damkit"],
                       cwd=tree, check=True, capture_output=True)
        got = run(tree, ["benchmarks/check_bench.py", "--repeats", "5"])
        return {k: got[k] for k in ("bynder_median_s", "canto_median_s", "percolate_median_s",
                                    "median_s")}
    if name == "index":
        # a copy of the script outside both checkouts: it puts its own checkout first on sys.path
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "bench" / "index_bench.py"
            script.parent.mkdir()
            shutil.copy(other / "benchmarks/index_bench.py", script)
            got = run(tree, [str(script)], pythonpath=tree)
        return {k: got[k] for k in ("open_s", "lookup_ms", "batch_upsert_1000_ms",
                                    "batch_upsert_1000_max_ms", "audit_query_ms", "peak_rss_mb")}
    return run(tree, ["-c", SYNC_PARTS, name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", type=Path, help="the other checkout, with its own .venv")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parts", default=",".join(PARTS))
    args = parser.parse_args()
    other = args.other.resolve()
    if not (other / ".venv/bin/python").exists():
        raise SystemExit(f"{other} has no .venv: run `make .venv/.installed-test` in it first")
    trees = {"other": other, "this": HERE}
    result: dict[str, Any] = {"other": str(other), "rounds": args.rounds}
    for name in args.parts.split(","):
        if name not in PARTS:
            raise SystemExit(f"--parts: unknown part {name!r} (one of {', '.join(PARTS)})")
        rounds: dict[str, list[dict[str, Any]]] = {"other": [], "this": []}
        for _ in range(args.rounds):
            for label, tree in trees.items():
                rounds[label].append(part(name, tree, other))
        result[name] = rounds
    print(json.dumps(result))


if __name__ == "__main__":
    main()
