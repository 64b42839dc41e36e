"""The sync engine against the real sandbox over HTTP: outcomes, dry run, names, prune, events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from damkit.errors import SyncError
from damkit.progress import ProgressEvent, ProgressStream
from damkit.sandbox import Sandbox
from damkit.sync import sync_connection, sync_one

from sync_support import (
    RATE,
    assert_library_matches,
    connect,
    expected,
    library_files,
    md5_file,
    tree,
    workspace,
)

P = "percolate"


@pytest.fixture
def sb(fresh_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return fresh_sandbox(assets=60, providers=(P,))


def pick(sb: Sandbox, n: int, *, start: int = 30) -> list[str]:
    """``n`` tagged asset ids with ordinary names."""
    catalog = sb.state.catalog(P)
    return [a.key for a in catalog.tagged(catalog.tag) if a.number >= start][:n]


async def test_every_outcome(sb: Sandbox, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    want = expected(sb, P)
    first = await sync_connection(ws, conn, rate=RATE)
    assert first.status == "ok", first.errors
    assert (first.plan.new, first.downloaded, first.failed) == (len(want), len(want), 0)
    assert first.bytes == sum(size for _n, _m, size in want.values())
    assert_library_matches(ws, conn, want)
    rec = ws.index.get_asset(conn, next(iter(want)))
    assert rec is not None
    for field in ("provider", "connection", "provider_id", "name", "type", "size", "checksum",
                  "tags", "modified", "version", "local_path", "status", "last_synced",
                  "last_error", "fingerprint"):
        assert field in rec, field
    assert rec["local_path"].startswith(f"DAM Import/{conn}/")

    again = await sync_connection(ws, conn, rate=RATE)
    assert (again.plan.unchanged, again.downloaded, again.requests) == (len(want), 0, 0)

    changed, untagged, deleted, archived = pick(sb, 4)
    before = md5_file(ws.root / ws.index.get_asset(conn, changed)["local_path"])
    sb.control("POST", f"{P}/assets/{changed}/modify", json={"size": 12_345})
    sb.control("POST", f"{P}/assets/{untagged}/untag", json={"tag": "Gelato"})
    sb.control("POST", f"{P}/assets/{deleted}/delete")
    sb.control("POST", f"{P}/assets/{archived}/archive", json={"archived": True})
    kept = {pid: ws.root / ws.index.get_asset(conn, pid)["local_path"]
            for pid in (untagged, deleted, archived)}
    third = await sync_connection(ws, conn, rate=RATE)
    assert third.status == "ok"
    assert (third.plan.changed, third.plan.gone, third.plan.new) == (1, 3, 0)
    assert third.plan.unchanged == len(want) - 4
    assert third.downloaded == 1
    rec = ws.index.get_asset(conn, changed)
    assert rec["size"] == 12_345 and rec["status"] == "synced"
    assert md5_file(ws.root / rec["local_path"]) == expected(sb, P)[changed][1] != before
    for pid, path in kept.items():
        rec = ws.index.get_asset(conn, pid)
        assert rec["status"] == "gone" and rec["gone_since"]
        assert path.exists()  # marked, not deleted

    guarded = await sync_connection(ws, conn, rate=RATE, prune=True, max_delete=2)
    assert guarded.status == "partial" and guarded.pruned == 0
    assert "3 files would be deleted" in (guarded.error or "")
    assert all(path.exists() for path in kept.values())  # --max-delete: nothing deleted

    pruned = await sync_connection(ws, conn, rate=RATE, prune=True, max_delete=3)
    assert pruned.pruned == 3 and pruned.downloaded == 0
    for pid, path in kept.items():
        rec = ws.index.get_asset(conn, pid)
        assert not path.exists()
        assert rec["status"] == "gone" and rec["local_path"] is None and rec["pruned"]
    assert_library_matches(ws, conn, expected(sb, P))

    # retagged after the prune: new again
    sb.control("POST", f"{P}/assets/{untagged}/tag", json={"tag": "Gelato"})
    back = await sync_connection(ws, conn, rate=RATE)
    assert (back.plan.new, back.downloaded) == (1, 1)
    assert_library_matches(ws, conn, expected(sb, P))
    runs = ws.index.runs(connection=conn)
    assert len(runs) == 6
    assert sorted(r["status"] for r in runs) == ["ok"] * 5 + ["partial"]
    assert all(r["finished"] for r in runs)
    assert ws.connection(conn)["last_sync"]["status"] == "ok"


async def test_dry_run_changes_nothing(sb: Sandbox, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    await sync_connection(ws, conn, rate=RATE)
    a, b = pick(sb, 2)
    sb.control("POST", f"{P}/assets/{a}/modify", json={})
    sb.control("POST", f"{P}/assets/{b}/delete")
    sb.control("POST", f"{P}/assets", json={"name": "fresh.png", "tags": ["Gelato"]})
    (ws.root / ws.index.get_asset(conn, pick(sb, 1, start=40)[0])["local_path"]).unlink()
    before = tree(ws.root)
    report = await sync_connection(ws, conn, rate=RATE, dry_run=True, prune=True)
    assert report.status == "dry_run" and report.run_id is None
    plan = report.plan
    assert (plan.new, plan.changed, plan.gone, plan.retry) == (1, 1, 1, 1)
    assert report.downloaded == report.requests == 0
    assert tree(ws.root) == before


async def test_hostile_names_land_inside_without_collisions(sb: Sandbox, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    for name in ("../../escape.png", "..\\..\\escape.png", "Escape.png", "AUX", "x" * 400,
                 "\u202etxt.exe", "nul.txt", "a/b/c.pdf"):
        sb.control("POST", f"{P}/assets", json={"name": name, "tags": ["Gelato"], "size": 700})
    report = await sync_connection(ws, conn, rate=RATE)
    assert report.status == "ok", report.errors
    want = expected(sb, P)
    assert_library_matches(ws, conn, want)
    names = list(library_files(ws, conn))
    assert len({n.casefold() for n in names}) == len(names) == len(want)
    for n in names:
        assert len(n.encode()) <= 200 and not n.startswith((".", " ")) and "\u202e" not in n
        assert n.split(".")[0].split("_")[0].upper() not in ("AUX", "NUL", "CON") or \
            n.startswith("_")
    assert not (tmp_path / "escape.png").exists() and not (ws.root / "escape.png").exists()
    # stable: a second run keeps every name
    await sync_connection(ws, conn, rate=RATE)
    assert sorted(library_files(ws, conn)) == sorted(names)


async def test_missing_file_is_downloaded_again_and_whole_files_are_not(sb: Sandbox,
                                                                        tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    await sync_connection(ws, conn, rate=RATE)
    gone_file, damaged = pick(sb, 2)
    (ws.root / ws.index.get_asset(conn, gone_file)["local_path"]).unlink()
    (ws.root / ws.index.get_asset(conn, damaged)["local_path"]).write_bytes(b"short")
    report = await sync_connection(ws, conn, rate=RATE)
    assert (report.plan.retry, report.downloaded) == (2, 2)
    assert_library_matches(ws, conn, expected(sb, P))


async def test_progress_events_and_run_record(sb: Sandbox, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    events: list[ProgressEvent] = []

    async def sink(event: ProgressEvent) -> None:  # async sinks are awaited
        events.append(event)

    report = await sync_connection(ws, conn, rate=RATE, progress=sink)
    kinds = [e.kind for e in events]
    n = len(expected(sb, P))
    assert kinds[0] == "planned" and kinds[-1] == "finished"
    assert kinds.count("started") == kinds.count("file_done") == n
    assert events[0].total == n and events[0].plan["new"] == n
    done = [e.done for e in events if e.kind == "file_done"]
    assert done == list(range(1, n + 1))
    assert events[-1].status == "ok" and events[-1].bytes == report.bytes
    assert all(e.run_id == report.run_id and e.connection == conn for e in events)
    (run,) = ws.index.runs(connection=conn)
    assert run["id"] == report.run_id and run["status"] == "ok"
    assert run["counts"]["downloaded"] == n and run["bytes"] == report.bytes
    assert run["started"] <= run["finished"] and run["plan"]["new"] == n

    stream = ProgressStream()  # the async-iterator form
    task = asyncio.create_task(sync_connection(ws, conn, rate=RATE, dry_run=True, progress=stream))
    seen = [e.kind async for e in stream]
    assert seen == ["planned", "finished"]
    assert (await task).plan.unchanged == n


async def test_cancel_keeps_what_finished(sb: Sandbox, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    sb.set_faults(P, latency_ms=30)
    cancel = asyncio.Event()

    def sink(event: ProgressEvent) -> None:
        if event.kind == "file_done" and event.done >= 5:
            cancel.set()

    report = await sync_connection(ws, conn, rate=RATE, progress=sink, cancel=cancel,
                                   concurrency=2)
    assert report.status == "cancelled"
    assert 5 <= report.downloaded < len(expected(sb, P))
    assert ws.index.runs(connection=conn)[0]["status"] == "cancelled"
    synced = [r for r in ws.index.assets(connection=conn) if r["status"] == "synced"]
    assert len(synced) == report.downloaded
    sb.set_faults(P)
    # a cancelled task (not the event) is recorded too
    first_file = asyncio.Event()  # the run is recorded and under way (no sleep: a busy
    # machine may not have started it in any fixed time)

    def on_file(event: ProgressEvent) -> None:
        if event.kind == "file_done":
            first_file.set()

    task = asyncio.create_task(sync_connection(ws, conn, rate=5.0, progress=on_file))
    await asyncio.wait_for(first_file.wait(), 30)  # guards a hang only
    runs_before = len(ws.index.runs(connection=conn))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ws.index.runs(connection=conn)[0]["status"] == "cancelled"
    assert len(ws.index.runs(connection=conn)) == runs_before  # that very run, now cancelled
    rest = await sync_connection(ws, conn, rate=RATE)
    assert rest.status == "ok"
    assert rest.plan.unchanged >= report.downloaded  # what finished is not fetched again
    assert_library_matches(ws, conn, expected(sb, P))


async def test_sync_one(sb: Sandbox, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    await sync_connection(ws, conn, rate=RATE)
    a, b = pick(sb, 2)
    assert await sync_one(ws, conn, a) == "unchanged"
    sb.control("POST", f"{P}/assets/{a}/modify", json={"size": 3_333})
    assert await sync_one(ws, conn, a) == "synced"
    rec = ws.index.get_asset(conn, a)
    assert rec["size"] == 3_333 and md5_file(ws.root / rec["local_path"]) == expected(sb, P)[a][1]
    sb.control("POST", f"{P}/assets/{b}/untag", json={"tag": "Gelato"})
    assert await sync_one(ws, conn, b) == "gone"
    assert ws.index.get_asset(conn, b)["status"] == "gone"
    new = sb.control("POST", f"{P}/assets", json={"name": "late.png", "tags": ["Gelato"]})
    assert await sync_one(ws, conn, new["key"]) == "synced"
    untagged = sb.control("POST", f"{P}/assets", json={"name": "other.png", "tags": []})
    assert await sync_one(ws, conn, untagged["key"]) == "ignored"
    assert_library_matches(ws, conn, expected(sb, P))


async def test_one_sync_per_connection_at_a_time(sb: Sandbox, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    holding = asyncio.Event()  # set once the first run holds the lock (its first event)
    first = asyncio.create_task(sync_connection(ws, conn, rate=RATE,
                                                progress=lambda event: holding.set()))
    await asyncio.wait_for(holding.wait(), 30)  # guards a hang only
    with pytest.raises(SyncError, match="already running"):
        await sync_connection(ws, conn, rate=RATE)
    assert (await first).status == "ok"


async def test_listing_failure_marks_nothing_gone(sb: Sandbox, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    await sync_connection(ws, conn, rate=RATE)
    sb.set_faults(P, fault_rate=1.0, fault_statuses=[400], match="/api/v5/asset/$")
    report = await sync_connection(ws, conn, rate=RATE)
    assert report.status == "failed" and report.error
    assert ws.index.runs(connection=conn)[0]["status"] == "failed"
    assert {r["status"] for r in ws.index.assets(connection=conn)} == {"synced"}
