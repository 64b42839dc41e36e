"""A sync killed with SIGKILL at random moments, again and again, then resumed: the library ends
with exactly the eligible set, whole, no duplicates, no temporary files, and work is kept."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from damkit.library import library_name
from damkit.sandbox import Sandbox
from damkit.sync import sync_connection
from damkit.workspace import open_workspace

from sync_support import RATE, assert_library_matches, connect, expected, library_files, md5_file, workspace

P = "percolate"
ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
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


async def test_sigkill_then_resume(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=60, providers=(P,), latency_ms=15)
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    want = expected(sb, P)
    catalog = sb.state.catalog(P)
    whole = {library_name(a.name, a.key, a.ext): catalog.md5(a)
             for a in catalog.tagged(catalog.tag)}
    rng = random.Random(1234)
    killed = 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(ws.root), conn],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                cwd=str(ROOT))
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"go"
        for _event in range(rng.randrange(0, 8)):  # kill after a random number of events ...
            if proc.stdout.readline().strip() in (b"finished", b""):
                break
        time.sleep(rng.uniform(0.0, 0.04))  # ... and a random moment after it
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=30)
        # after every kill: the index opens and agrees; every file in the library is whole
        with open_workspace(ws.root, env={"DAMKIT_SECRET_STORE": "plaintext"}) as check:
            for rec in check.index.assets(connection=conn):
                if rec["status"] == "synced":
                    assert md5_file(check.root / rec["local_path"]) == want[rec["provider_id"]][1]
        for name, path in library_files(ws, conn).items():
            assert md5_file(path) == whole[name], name  # never a half file under a final name
    assert killed >= 10
    whole_before = len(library_files(ws, conn))
    report = await sync_connection(ws, conn, rate=RATE)
    assert report.status == "ok"
    # what killed runs finished is not fetched again (but for a kill landing in the instant
    # between a file's rename and its journal line)
    assert report.plan.unchanged + report.downloaded == len(want)
    assert 0 < whole_before - 1 <= report.plan.unchanged
    assert_library_matches(ws, conn, want)
    assert not (ws.library_dir / conn / ".partial").exists()
