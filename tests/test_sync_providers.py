"""The engine with every connector: Bynder (backlink, its 15 requests/s limit), Canto, the demo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from damkit.demo import login_sandbox_connections, run_demo
from damkit.errors import SyncError
from damkit.providers.bynder.backlink import property_name
from damkit.sandbox import Sandbox
from damkit.sync import backlink_problem, library_url, sync_connection
from damkit.sync.engine import Runner

from sync_support import RATE, assert_library_matches, connect, expected, workspace

TEMPLATE = "https://library.example.com/{connection}/assets/{id}?path={path}"


async def test_bynder_backlink(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=30, providers=("bynder",), rate_limit=None)
    ws = workspace(tmp_path)
    conn = connect(ws, sb, "bynder")
    ws.edit_connection(conn, {"backlink": True, "backlink_label": "Library link"})
    settings = ws.load_settings(conn)
    assert "library URL template" in (backlink_problem(ws, settings) or "")
    with pytest.raises(SyncError, match="library URL template") as refused:
        await sync_connection(ws, conn, rate=RATE)
    assert "config set library_url_template" in str(refused.value)  # the hint says how to fix it
    assert ws.index.runs(connection=conn) == [] and ws.index.assets(connection=conn) == []

    ws.set_config(library_url_template=TEMPLATE)
    assert backlink_problem(ws, settings) is None
    report = await sync_connection(ws, conn, rate=RATE)
    want = expected(sb, "bynder")
    assert report.status == "ok", (report.error, report.errors)
    assert report.backlinks == len(want) and report.backlink_failed == 0
    assert_library_matches(ws, conn, want)
    async with ws.provider(conn) as provider:  # read back through Bynder's API
        for pid in list(want)[:5]:
            rec = ws.index.get_asset(conn, pid)
            url = library_url(TEMPLATE, asset_id=pid, connection=conn,
                              path=rec["local_path"].split("/", 1)[1])
            assert rec["backlink"] == url
            assert await provider.read_metaproperty(pid, property_name("Library link")) == url
    again = await sync_connection(ws, conn, rate=RATE)
    assert (again.backlinks, again.downloaded) == (0, 0)  # written once, not on every run


async def test_bynder_backlink_kept_when_a_commit_lands_during_its_write(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under load, another file's commit often lands while a backlink write is in flight (the
    pending list is swapped and committed): the backlink must still reach the index. The wrapper
    forces that interleaving on every write (a real commit, then the real write), so the test
    does not depend on the machine's load."""
    sb = fresh_sandbox(assets=30, providers=("bynder",), rate_limit=None)
    ws = workspace(tmp_path)
    conn = connect(ws, sb, "bynder")
    ws.edit_connection(conn, {"backlink": True, "backlink_label": "Library link"})
    ws.set_config(library_url_template=TEMPLATE)
    write = Runner._backlink
    commits = 0

    async def commit_then_write(self: Runner, asset_id: str, rel: str) -> dict[str, Any]:
        nonlocal commits
        if self.pending:
            commits += 1
            await self.flush(force=True)
        return await write(self, asset_id, rel)

    monkeypatch.setattr(Runner, "_backlink", commit_then_write)
    report = await sync_connection(ws, conn, rate=RATE)
    want = expected(sb, "bynder")
    assert report.status == "ok", (report.error, report.errors)
    assert commits > 0 and report.backlinks == len(want)
    records = {r["provider_id"]: r for r in ws.index.assets(connection=conn)}
    missing = sorted(pid for pid in want if not records[pid].get("backlink"))
    assert missing == []
    again = await sync_connection(ws, conn, rate=RATE)
    assert (again.backlinks, again.downloaded) == (0, 0)


async def test_bynder_rate_limit_without_a_storm(fresh_sandbox: Callable[..., Sandbox],
                                                 tmp_path: Path) -> None:
    """The client is told to go far faster than the DAM allows: 429s come, the engine backs off.

    The sandbox's limit is 5/s rather than Bynder's 15/s so that even a loaded machine (which may
    not reach 15 requests a second) overruns it with its first burst of 8 downloads."""
    sb = fresh_sandbox(assets=40, providers=("bynder",), rate_limit=5.0)
    ws = workspace(tmp_path)
    conn = connect(ws, sb, "bynder")
    report = await sync_connection(ws, conn, rate=1000.0, concurrency=8)
    want = expected(sb, "bynder")
    assert report.status == "ok", (report.error, report.errors)
    assert report.http_429 > 0 and report.min_concurrency < 8
    # each download costs two requests (download URL, then the file on the "CDN"): no storm
    assert report.http_429 < len(want)
    assert_library_matches(ws, conn, want)


async def test_canto_and_all_three_in_the_demo(tmp_path: Path) -> None:
    rows = await run_demo(tmp_path, assets=30, rate=RATE)
    assert sorted(r.provider for r in rows) == ["bynder", "canto", "percolate"]
    for row in rows:
        assert row.check_ok, row
        assert row.status == "ok" and row.failed == 0
        assert row.synced == row.eligible == 21  # 70 % of 30 carry the tag exactly
        assert row.bytes > 0
    root = tmp_path / "demo" / "DAM Import"
    assert sorted(p.name for p in root.iterdir()) == [r.connection for r in
                                                      sorted(rows, key=lambda r: r.connection)]
    assert all(len(list((root / r.connection).iterdir())) == 21 for r in rows)


async def test_canto_whole_files_without_records_are_adopted_not_fetched(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    """Canto gives an md5: a file already whole on disk is verified and kept (e.g. the index lost
    its records), and a damaged one is fetched again."""
    sb = fresh_sandbox(assets=30, providers=("canto",))
    ws = workspace(tmp_path)
    conn = connect(ws, sb, "canto")
    assert await login_sandbox_connections(ws, [conn]) == [conn]
    first = await sync_connection(ws, conn, rate=RATE)
    want = expected(sb, "canto")
    assert first.status == "ok" and first.downloaded == len(want)
    assert all(r["checksum"].startswith("md5:") for r in ws.index.assets(connection=conn))
    damaged = next(iter(want))
    path = ws.root / ws.index.get_asset(conn, damaged)["local_path"]
    path.write_bytes(b"x" * path.stat().st_size)  # same size, wrong bytes
    ws.index.remove_assets(conn, sorted(want))
    again = await sync_connection(ws, conn, rate=RATE)
    assert (again.plan.new, again.adopted, again.downloaded) == (len(want), len(want) - 1, 1)
    assert_library_matches(ws, conn, want)
