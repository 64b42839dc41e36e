"""Sync under faults: 5xx, 429 bursts and bodies cut mid-way still end with every file whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from damkit.progress import ProgressEvent
from damkit.sandbox import Sandbox
from damkit.sync import sync_connection

from sync_support import RATE, assert_library_matches, connect, expected, workspace

P = "percolate"


async def test_faults_end_whole(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=60, providers=(P,))
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    # Transient faults: a path that just failed answers its next request cleanly. A download is
    # two paths (the API's redirect, then the file), and that is what makes "the engine gets
    # through" true for every draw: a request has four tries, a file three. A fault that
    # outlasts the tries is the next test's case. Unbounded draws cut one body three times
    # in a row about one run in eight, and the run then ended "partial", rightly.
    sb.set_faults(P, fault_rate=0.1, cut_rate=0.15, max_streak=1)

    def burst(event: ProgressEvent) -> None:  # mid-way through the downloads: a 429 burst
        if event.kind == "file_done" and event.done == 5:
            sb.control("PATCH", f"{P}/faults", json={"burst_429": 5, "retry_after": 1})

    report = await sync_connection(ws, conn, rate=RATE, progress=burst)
    faults = sb.faults(P)
    assert report.status == "ok", (report.error, report.errors)
    assert report.http_429 == 5 and report.min_concurrency < 8  # the gate backed off
    assert report.requests > report.downloaded  # some files were fetched twice (cut bodies)
    assert faults["injected"]["cut"] > 0 and faults["injected"]["5xx"] > 0, faults
    assert_library_matches(ws, conn, expected(sb, P))


async def test_a_file_that_keeps_failing_is_recorded_and_retried(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=60, providers=(P,))
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    catalog = sb.state.catalog(P)
    bad = next(a for a in catalog.tagged(catalog.tag) if a.number > 30)
    sb.set_faults(P, cut_rate=1.0, match=f"/cdn/ugc/raw/{bad.number}/")  # its body is always cut
    report = await sync_connection(ws, conn, rate=RATE)
    assert report.status == "partial" and report.failed == 1
    assert report.downloaded == len(expected(sb, P)) - 1  # the others went on
    assert report.errors[0].asset_id == bad.key
    rec = ws.index.get_asset(conn, bad.key)
    assert rec["status"] == "failed" and rec["last_error"] and rec["failures"] == 1
    assert rec["local_path"] is None
    sb.set_faults(P)
    again = await sync_connection(ws, conn, rate=RATE)
    assert (again.plan.retry, again.downloaded, again.status) == (1, 1, "ok")
    assert_library_matches(ws, conn, expected(sb, P))
