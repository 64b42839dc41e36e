"""The audit of a server workspace: the index on PostgreSQL (the session's real server) and the
library in an S3 bucket (moto's S3 server, a real process on loopback); the DAM is the sandbox
over real HTTP. Whether a file is present is read from the bucket, not from the workspace's local
folder, so the audit (the notebook's, `damkit library audit`) agrees with the sync there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from damkit.audit import audit
from damkit.index import LibraryIndex
from damkit.sandbox import Sandbox
from damkit.sync import sync_connection

from index_support import empty_database
from s3_support import SECRET_KEY, Bucket
from sync_support import RATE, connect, expected, workspace


def cli_audit(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAMKIT_HOME": str(root), "DAMKIT_SECRET_STORE": "plaintext"}
    return subprocess.run([sys.executable, "-m", "damkit", "library", "audit", "--offline",
                           "--json"], env=env, text=True, capture_output=True, timeout=120)


async def test_audit_of_a_server_workspace_reads_the_bucket(
        fresh_sandbox: Callable[..., Sandbox], s3_library: Bucket, postgres: Any,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DAMKIT_INDEX_URL", empty_database(postgres, "audit_s3_index"))
    sb = fresh_sandbox(providers=("percolate",), assets=12, rate_limit=None)
    ws = workspace(tmp_path)
    assert not isinstance(ws.index, LibraryIndex)  # the index is the server's
    s3_library.use(ws)
    conn = connect(ws, sb, "percolate")
    want = expected(sb, "percolate")
    report = await sync_connection(ws, conn, rate=RATE)
    assert report.status == "ok" and report.downloaded == len(want) > 1
    # nothing local: only the bucket has the files
    assert not [p for p in (ws.root / "DAM Import").rglob("*") if p.is_file()]

    for live in (True, False):
        result = await audit(ws, conn, live=live)
        assert result.counts()["current"] == len(want), (live, result.counts())
        assert all(row.file_present for row in result.rows)

    # one object removed from the bucket behind damkit's back: that asset is missing, the rest
    # stay current, online and offline alike, and the command line says the same
    gone = sorted(want)[0]
    record = ws.index.get_asset(conn, gone)
    assert record is not None
    s3_library.client.delete_object(Bucket=s3_library.name,
                                    Key=s3_library.key(conn, Path(record["local_path"]).name))
    for live in (True, False):
        result = await audit(ws, conn, live=live)
        rows = {row.asset_id: row for row in result.rows}
        assert rows[gone].status == "missing" and not rows[gone].file_present, live
        assert result.counts()["current"] == len(want) - 1, (live, result.counts())
    ws.close()
    out = cli_audit(ws.root)
    assert out.returncode == 1, out.stderr  # something is missing
    counts = json.loads(out.stdout)["counts"]
    assert (counts["current"], counts["missing"]) == (len(want) - 1, 1)
    assert SECRET_KEY not in out.stdout + out.stderr
