"""Shared by the queue tests and benchmarks/scale_bench.py: many sandbox connections in one
workspace, `damkit worker` subprocesses, and the exact check of the library and the index.

The index and library backends come from the environment the workers get (``backend_env``),
which the test process sets for itself too: ``postgresql-s3`` (the index on the session's
PostgreSQL server through ``DAMKIT_INDEX_URL``, the files in a fresh bucket on moto's S3 server
through ``DAMKIT_LIBRARY_URL``: what several machines share) or ``tinydb-local`` (the embedded
default: a TinyDB folder and ``DAM Import/``). The files are listed where they are
(``library_files``): the folder, or the bucket through fsspec, independently of what the
index says.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from damkit.demo import add_sandbox_connections
from damkit.library import LIBRARY_FOLDER
from damkit.workspace import Workspace, open_workspace

from s3_support import ACCESS_KEY, AWS_ENV, SECRET_KEY

SECRETS_ENV = {"DAMKIT_SECRET_STORE": "plaintext"}  # sandbox keys only
#: index/library backends the scale tests run on: "<index>-<library>"
BACKENDS = ["postgresql-s3", "tinydb-local"]
#: the library's prefix inside a test bucket
BUCKET_PREFIX = "team/library"
#: AWS settings that must not leak from the developer's environment into the workers
AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def new_bucket(endpoint: str, name: str) -> str:
    """Create a fresh bucket on the S3 server at ``endpoint``; its name (from ``name``)."""
    import boto3  # moto's dependency: only the server case pays for its import

    bucket = f"damkit-{name.replace('_', '-').lower()[:40]}-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    client.create_bucket(Bucket=bucket)
    return bucket


def backend_env(backend: str, *, postgres: Any, name: str,
                s3_endpoint: str | None = None) -> dict[str, str]:
    """Environment selecting the index and library backends, for the test process and the
    workers alike (``postgres``: the session's server, ``name``: a database and bucket name to
    use, ``s3_endpoint``: the S3 server, for a bucket library). Each call starts empty: the
    database's index is dropped, the bucket is new."""
    if backend == "tinydb-local":
        return {}
    if backend == "postgresql-s3":
        from index_support import empty_database

        if s3_endpoint is None:
            raise ValueError("the postgresql-s3 case needs an S3 server (s3_endpoint)")
        bucket = new_bucket(s3_endpoint, name)
        return {"DAMKIT_INDEX_URL": empty_database(postgres, name),
                "DAMKIT_LIBRARY_URL": f"s3://{bucket}/{BUCKET_PREFIX}",
                "DAMKIT_S3_ENDPOINT_URL": s3_endpoint, **AWS_ENV}
    raise ValueError(f"no such backend case: {backend}")


def backend_names(backend: str) -> tuple[str, str]:
    """(index_backend, library_backend) for the benchmark's JSON."""
    index, _, library = backend.partition("-")
    return index, library


def workspace_backends(ws: Workspace) -> tuple[str, str]:
    """(index_backend, library_backend) of an open workspace: what it really uses."""
    from damkit.index import LibraryIndex

    index = "tinydb" if isinstance(ws.index, LibraryIndex) else "postgresql"
    return index, ws.library_store().kind


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


def library_files(ws: Workspace) -> tuple[dict[str, int], list[str]]:
    """Every final file of the whole library, where it is (the folder, or the bucket listed
    through fsspec, not through the index or the store's own listing): record path
    (``DAM Import/<connection>/<file>``, also for a key that is not one) -> size; and what a
    killed run may have left: partial files, unfinished uploads, staging files."""
    store = ws.library_store()
    files: dict[str, int] = {}
    partial: list[str] = []
    if store.kind == "local":
        folder = ws.library_dir
        for path in (folder.rglob("*") if folder.is_dir() else ()):
            if not path.is_file():
                continue
            rel = path.relative_to(ws.root).as_posix()
            if ".partial" in path.relative_to(folder).parts:
                partial.append(rel)
            else:
                files[rel] = path.stat().st_size
        return files, partial
    from damkit.storage.objects import ObjectStore

    assert isinstance(store, ObjectStore), store
    fs, bucket, prefix = store.fs, store.bucket, store.prefix
    top = f"{bucket}/{prefix}".rstrip("/")
    for key, info in fs.find(top, detail=True).items():
        files[f"{LIBRARY_FOLDER}/{key[len(top) + 1:]}"] = int(info["size"])
    uploads = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
    partial += [f"unfinished upload {u['Key']}" for u in uploads.get("Uploads", [])]
    state = ws.root / "state"
    partial += [p.relative_to(ws.root).as_posix() for p in state.glob("*/partial/*")]
    return files, partial


def check_library(ws: Workspace, expected: dict[str, dict[str, int]]) -> dict[str, Any]:
    """``lost``: expected assets without a synced record whose file is whole; ``duplicated``:
    records or files beyond one per expected asset, files of no connection, and anything
    partial left behind; ``problems``: what, per connection. ``files``: the whole files the
    records name (the caller compares them with :func:`library_files` for the exact set)."""
    ws.index.refresh()
    lost = duplicated = 0
    problems: list[str] = []
    files, partial = library_files(ws)
    recorded: set[str] = set()
    for name, want in expected.items():
        records = ws.index.assets(connection=name)
        ids = [r["provider_id"] for r in records]
        extra_records = len(ids) - len(set(ids)) + len(set(ids) - set(want))
        mine = {rel for rel in files if rel.startswith(f"{LIBRARY_FOLDER}/{name}/")}
        kept: set[str] = set()
        missing = 0
        for r in records:
            if r["provider_id"] not in want:
                continue
            path = r.get("local_path")
            whole = (r.get("status") == "synced" and path is not None
                     and files.get(path) == want[r["provider_id"]])
            if whole:
                kept.add(path)
            else:
                missing += 1
        missing += len(set(want) - set(ids))
        stray = mine - kept
        recorded |= kept
        lost += missing
        duplicated += extra_records + len(stray)
        if missing or extra_records or stray:
            problems.append(f"{name}: {missing} lost, {extra_records} extra records, "
                            f"stray files {sorted(stray)[:3]}")
    known = set(expected) | {c.name for c in ws.index.connection_records()}
    elsewhere = {rel for rel in files if rel.split("/")[1] not in known}
    if elsewhere:
        duplicated += len(elsewhere)
        problems.append(f"files of no connection: {sorted(elsewhere)[:3]}")
    if partial:
        duplicated += len(partial)
        problems.append(f"left partial: {sorted(partial)[:3]}")
    return {"lost": lost, "duplicated": duplicated, "problems": problems,
            "files": sorted(recorded)}


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


def registered_workers(url: str) -> int:
    """Workers procrastinate knows of on the queue's database (alive or killed: rows stay)."""
    import psycopg

    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('procrastinate_workers')").fetchone() == (None,):
            return 0
        row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
    return int(row[0]) if row else 0


def wait_until(check: Callable[[], bool], *, timeout: float,
               procs: Iterable[subprocess.Popen[bytes]] = (), every: float = 0.05) -> bool:
    """Poll ``check`` every ``every`` seconds until it holds (True), or until ``timeout``
    seconds passed or every one of ``procs`` exited (False): a generous guard against a hang,
    not a speed check."""
    procs = list(procs)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if procs and all(p.poll() is not None for p in procs):
            return False
        time.sleep(every)
    return False


def wait_drained(url: str, *, timeout: float, procs: Iterable[subprocess.Popen[bytes]] = ()) -> bool:
    """Wait until no sync job waits or runs (a generous guard against a hang)."""
    return wait_until(lambda: pending_jobs(url) == 0, timeout=timeout, procs=procs, every=0.2)


def worker_env(root: Path, url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **SECRETS_ENV, "DAMKIT_HOME": str(root), "DAMKIT_QUEUE_URL": url,
           "PYTHONUNBUFFERED": "1", **(extra or {})}
    for name in AWS_UNSET:
        env.pop(name, None)
    return env
