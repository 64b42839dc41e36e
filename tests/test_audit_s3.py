"""The audit of a workspace whose library is an S3 bucket (moto's S3 server, a real process on
loopback; the DAM is the sandbox over real HTTP): whether a file is present is read from the
bucket, not from the workspace's local folder, so the notebook and `damkit library audit` agree
with the sync on a server workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from damkit.audit import audit
from damkit.sandbox import Sandbox
from damkit.sync import sync_connection

from s3_support import Bucket
from sync_support import RATE, connect, expected, workspace


async def test_audit_reads_file_presence_from_the_bucket(
        fresh_sandbox: Callable[..., Sandbox], s3_library: Bucket, tmp_path: Path) -> None:
    sb = fresh_sandbox(providers=("percolate",), assets=12, rate_limit=None)
    ws = workspace(tmp_path)
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
    # stay current, online and offline alike
    gone = sorted(want)[0]
    rel = ws.index.get_asset(conn, gone)["local_path"]
    s3_library.client.delete_object(Bucket=s3_library.name,
                                    Key=s3_library.key(conn, Path(rel).name))
    for live in (True, False):
        result = await audit(ws, conn, live=live)
        rows = {row.asset_id: row for row in result.rows}
        assert rows[gone].status == "missing" and not rows[gone].file_present, live
        assert result.counts()["current"] == len(want) - 1, (live, result.counts())
