"""Shared by the queue tests and benchmarks/scale_bench.py: many sandbox connections in one
workspace, `damkit worker` subprocesses, and the exact check of the library and the index.

The index and library backends come from the environment the workers get (``backend_env``) and
the workspace they open: today TinyDB and a local folder. A PostgreSQL index
(``DAMKIT_INDEX_URL``) or an S3 library (``library_url``) plugs in by adding a case to
``BACKENDS`` and, for a bucket, listing files through ``library_files``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from damkit.demo import add_sandbox_connections
from damkit.workspace import Workspace, open_workspace

SECRETS_ENV = {"DAMKIT_SECRET_STORE": "plaintext"}  # sandbox keys only
#: index/library backends the scale tests run on; the server cases are added where they exist
BACKENDS = ["tinydb-local"]


def backend_env(backend: str, *, postgres: Any, name: str) -> dict[str, str]:
    """Environment selecting the index and library backends, for the test process and the
    workers alike (``postgres``: the session's server, ``name``: a database name to use).
    The server cases plug in here (e.g. ``DAMKIT_INDEX_URL=postgres.database_url(name)``)."""
    if backend == "tinydb-local":
        return {}
    raise ValueError(f"no such backend case: {backend}")


def backend_names(backend: str) -> tuple[str, str]:
    """(index_backend, library_backend) for the benchmark's JSON."""
    index, _, library = backend.partition("-")
    return index, library


def open_ws(root: Path, env: dict[str, str] | None = None) -> Workspace:
    return open_workspace(root, env={**SECRETS_ENV, **(env or {})})


def add_connections(ws: Workspace, manifest: dict[str, Any], count: int) -> list[str]:
    """``count`` connections (the manifest's providers in turn, ``c00-bynder``, ...)."""
    names: list[str] = []
    providers = len(manifest["providers"])
    for i in range((count + providers - 1) // providers):
        names += add_sandbox_connections(ws, manifest, prefix=f"c{i:02d}-")
    for extra in names[count:]:
        ws.remove_connection(extra)
    return names[:count]


async def _listing(ws: Workspace, name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    async with ws.provider(name) as provider:
        async for page in provider.list_assets():
            for asset in page:
                if provider.has_tag(asset):
                    out[asset.id] = int(asset.size or 0)
    return out


def expected_assets(ws: Workspace, names: Iterable[str]) -> dict[str, dict[str, int]]:
    """What each connection must hold: the DAM's own listing (one per provider: the sandbox's
    connections of one provider share its catalog and tag)."""
    by_provider: dict[str, dict[str, int]] = {}
    out: dict[str, dict[str, int]] = {}
    for name in names:
        provider = ws.connection(name)["provider"]
        if provider not in by_provider:
            by_provider[provider] = asyncio.run(_listing(ws, name))
        out[name] = by_provider[provider]
    return out


def library_files(ws: Workspace, name: str) -> tuple[set[str], list[str]]:
    """(final file paths relative to the workspace, leftover partial files) of a connection."""
    folder = ws.library_dir / name
    files: set[str] = set()
    partial: list[str] = []
    if folder.is_dir():
        for path in folder.rglob("*"):
            if not path.is_file():
                continue
            rel = path.relative_to(ws.root).as_posix()
            if ".partial" in path.relative_to(folder).parts:
                partial.append(rel)
            else:
                files.add(rel)
    return files, partial


def check_library(ws: Workspace, expected: dict[str, dict[str, int]]) -> dict[str, Any]:
    """``lost``: expected assets without a synced record whose file is whole; ``duplicated``:
    records or files beyond one per expected asset; ``problems``: what, per connection."""
    ws.index.refresh()
    lost = duplicated = 0
    problems: list[str] = []
    for name, want in expected.items():
        records = ws.index.assets(connection=name)
        ids = [r["provider_id"] for r in records]
        extra_records = len(ids) - len(set(ids)) + len(set(ids) - set(want))
        files, partial = library_files(ws, name)
        recorded: set[str] = set()
        missing = 0
        for r in records:
            if r["provider_id"] not in want:
                continue
            path = r.get("local_path")
            whole = (r.get("status") == "synced" and path is not None
                     and (ws.root / path).is_file()
                     and (ws.root / path).stat().st_size == want[r["provider_id"]])
            if whole:
                recorded.add(path)
            else:
                missing += 1
        missing += len(set(want) - set(ids))
        stray = files - recorded
        lost += missing
        duplicated += extra_records + len(stray)
        if missing or extra_records or stray or partial:
            problems.append(f"{name}: {missing} lost, {extra_records} extra records, "
                            f"stray files {sorted(stray)[:3]}, partial {partial[:3]}")
        if partial:
            duplicated += len(partial)
    return {"lost": lost, "duplicated": duplicated, "problems": problems}


def job_runs(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    """Per connection, each queue job run: worker, started, finished (None when killed)."""
    ws.index.refresh()
    runs: dict[tuple[str, Any, float], dict[str, Any]] = {}
    for event in reversed(ws.index.events(limit=5000)):
        if event.get("kind") not in ("queue.started", "queue.finished"):
            continue
        key = (event["worker"], event["job_id"], event["started"])
        run = runs.setdefault(key, {"connection": event["connection"], "worker": event["worker"],
                                    "job_id": event["job_id"], "started": event["started"],
                                    "finished": None, "outcome": None})
        if event["kind"] == "queue.finished":
            run.update(finished=event["finished"], outcome=event.get("outcome"))
    out: dict[str, list[dict[str, Any]]] = {}
    for run in runs.values():
        out.setdefault(run["connection"], []).append(run)
    for value in out.values():
        value.sort(key=lambda r: r["started"])
    return out


def overlaps(runs: dict[str, list[dict[str, Any]]], ended: dict[str, float]) -> list[str]:
    """Runs of one connection that overlapped in time (a killed run ends when its worker was
    killed: ``ended[worker]``)."""
    found: list[str] = []
    for name, items in runs.items():
        latest_end, latest = float("-inf"), None
        for run in items:  # sorted by start: each must start after every earlier one ended
            if latest is not None and run["started"] < latest_end:
                found.append(f"{name}: job {latest['job_id']} on {latest['worker']} and job "
                             f"{run['job_id']} on {run['worker']}")
            end = run["finished"] if run["finished"] is not None else ended.get(
                run["worker"], float("inf"))
            if end > latest_end:
                latest_end, latest = end, run
    return found


def damkit(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "damkit", *args], env=env, text=True,
                          capture_output=True, timeout=timeout)


def start_worker(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "damkit", "worker", *args], env=env,
                            stdout=handle, stderr=subprocess.STDOUT)


def worker_id(proc: subprocess.Popen[bytes]) -> str:
    import socket

    return f"{socket.gethostname()}-{proc.pid}"


def stop_workers(procs: Iterable[subprocess.Popen[bytes]], timeout: float = 60) -> list[int | None]:
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    codes: list[int | None] = []
    for p in procs:
        try:
            codes.append(p.wait(timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            codes.append(None)
    return codes


def pending_jobs(url: str, task: str = "damkit.sync") -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s "
                           "AND status IN ('todo', 'doing')", (task,)).fetchone()
    return int(row[0]) if row else 0


def wait_drained(url: str, *, timeout: float, procs: Iterable[subprocess.Popen[bytes]] = ()) -> bool:
    """Wait until no sync job waits or runs (a generous guard against a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending_jobs(url) == 0:
            return True
        if procs and all(p.poll() is not None for p in procs):
            return False
        time.sleep(0.2)
    return False


def worker_env(root: Path, url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **SECRETS_ENV, "DAMKIT_HOME": str(root), "DAMKIT_QUEUE_URL": url,
            "PYTHONUNBUFFERED": "1", **(extra or {})}
