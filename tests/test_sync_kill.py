"""A sync killed with SIGKILL at random moments, again and again, then resumed: the library ends
with exactly the eligible set, whole, no duplicates, no temporary files, and work is kept."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from damkit.library import library_name
from damkit.sandbox import Sandbox
from damkit.sync import sync_connection
from damkit.workspace import open_workspace

from sync_support import (
    RATE,
    assert_library_matches,
    connect,
    expected,
    kill_syncs,
    library_files,
    md5_file,
    workspace,
)

P = "percolate"


async def test_sigkill_then_resume(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=60, providers=(P,), latency_ms=15)
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    want = expected(sb, P)
    catalog = sb.state.catalog(P)
    whole = {library_name(a.name, a.key, a.ext): catalog.md5(a)
             for a in catalog.tagged(catalog.tag)}
    rng = random.Random(1234)

    def check() -> None:
        # after every kill: the index opens and agrees; every file in the library is whole
        with open_workspace(ws.root, env={"DAMKIT_SECRET_STORE": "plaintext"}) as check:
            for rec in check.index.assets(connection=conn):
                if rec["status"] == "synced":
                    assert md5_file(check.root / rec["local_path"]) == want[rec["provider_id"]][1]
        for name, path in library_files(ws, conn).items():
            assert md5_file(path) == whole[name], name  # never a half file under a final name

    killed = kill_syncs(ws, conn, 12, rng, check)
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
