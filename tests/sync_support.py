"""Helpers shared by the sync tests (tests/test_sync_*.py)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from damkit.demo import add_sandbox_connections, demo_workspace
from damkit.library import PARTIAL_DIR
from damkit.sandbox import Sandbox
from damkit.workspace import Workspace

RATE = 200.0  # client-side requests/s for sandbox syncs in tests (the providers' polite defaults
#               are 10-15/s, which would make every test take seconds for nothing)


def workspace(tmp: Path) -> Workspace:
    return demo_workspace(tmp / "ws")


def connect(ws: Workspace, sb: Sandbox, provider: str) -> str:
    manifest = sb.manifest()
    manifest = {**manifest, "providers": {provider: manifest["providers"][provider]}}
    (name,) = add_sandbox_connections(ws, manifest)
    return name


def expected(sb: Sandbox, provider: str) -> dict[str, tuple[str, str, int]]:
    """Provider id -> (name, md5, size) of every asset that carries the tag now."""
    catalog = sb.state.catalog(provider)
    return {a.key: (a.name, catalog.md5(a), a.size) for a in catalog.tagged(catalog.tag)}


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def library_files(ws: Workspace, conn: str) -> dict[str, Path]:
    """Files of the connection's folder (the .partial folder excluded), by name."""
    folder = ws.library_dir / conn
    if not folder.exists():
        return {}
    return {p.name: p for p in folder.iterdir() if p.name != PARTIAL_DIR}


def partial_files(ws: Workspace) -> list[str]:
    out = []
    for dirpath, _dirs, files in os.walk(ws.library_dir):
        out += [os.path.join(dirpath, f) for f in files if f.endswith(".part")
                or PARTIAL_DIR in dirpath]
    return out


def assert_library_matches(ws: Workspace, conn: str, want: dict[str, tuple[str, str, int]]) -> None:
    """Every eligible asset synced, whole, with the right bytes; no other file (but the kept
    files of gone assets); no temporary file."""
    records = {r["provider_id"]: r for r in ws.index.assets(connection=conn)}
    files = library_files(ws, conn)
    synced = {pid for pid, r in records.items() if r["status"] == "synced"}
    assert synced == set(want), (sorted(set(want) - synced)[:5], sorted(synced - set(want))[:5])
    paths = set()
    for pid, (name, md5, size) in want.items():
        rec = records[pid]
        path = ws.root / rec["local_path"]
        assert path.parent == ws.library_dir / conn
        assert path.stat().st_size == size, (pid, name)
        assert md5_file(path) == md5, (pid, name)
        assert rec["size"] == size and rec["name"] == name
        paths.add(path.name)
    kept = {Path(r["local_path"]).name for r in records.values()
            if r["status"] == "gone" and r.get("local_path")}  # gone: marked, file kept
    assert set(files) == paths | kept, sorted(set(files) ^ (paths | kept))[:5]
    assert partial_files(ws) == []


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes' digest (for byte-identical comparisons)."""
    out: dict[str, Any] = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).digest()
    return out


ROOT = Path(__file__).resolve().parents[1]
KILL_SCRIPT = """
import asyncio, sys
from damkit.demo import demo_workspace
from damkit.sync import sync_connection
from pathlib import Path
ws = demo_workspace(Path(sys.argv[1]))
print("go", flush=True)
report = asyncio.run(sync_connection(ws, sys.argv[2], rate=200.0, concurrency=2,
                                     progress=lambda e: print(e.kind, flush=True)))
print(report.status, flush=True)
"""


def kill_syncs(ws: Workspace, conn: str, rounds: int, rng: random.Random,
               after_kill: Callable[[], None], *, most_events: int = 8) -> int:
    """Run ``rounds`` syncs of ``conn`` in subprocesses (the current environment), each
    SIGKILLed after a random number of progress events and a random moment after the last;
    ``after_kill()`` checks the library after each. Returns how many were killed mid-run."""
    killed = 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(rounds):
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(ws.root), conn],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                cwd=str(ROOT))
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"go"
        for _event in range(rng.randrange(0, most_events)):
            if proc.stdout.readline().strip() in (b"finished", b""):
                break
        time.sleep(rng.uniform(0.0, 0.04))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
        after_kill()
    return killed
