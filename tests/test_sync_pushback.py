"""Sync when the DAM pushes back, fails or changes under the run (issue 15).

Real connectors over real HTTP against the sandbox; the sandbox's faults play the DAM:
a listing that shifts while it is paged, a storm of 429s, a dead file host, a rate limit the
client is not told. No test asserts a duration: ``asyncio.wait_for`` only guards against a hang.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from damkit.errors import CircuitOpen, LocalStorageError, local_storage_error
from damkit.progress import ProgressEvent
from damkit.providers import provider_class
from damkit.sandbox import Sandbox
from damkit.storage.local import LocalStore, probe_case
from damkit.sync import sync_connection
from damkit.sync.paths import same_entry

from sync_support import RATE, assert_library_matches, connect, expected, library_files, workspace

P = "percolate"
HANG = 300.0  # seconds: a guard against a hang, never a speed assertion
LISTING = r"^/api/v5/asset/?$"  # Percolate's asset listing (not one asset: /api/v5/asset/<id>)


def run(coro: Any) -> Any:
    return asyncio.wait_for(coro, HANG)


async def test_listing_shifted_while_paged_deletes_nothing_still_tagged(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Small pages so that 120 assets span several pages, as 840 span two pages of 500 upstream
    # (the page size is the connector's class attribute; nothing else is changed).
    monkeypatch.setattr(provider_class(P), "page_size", 20)
    sb = fresh_sandbox(assets=120, providers=(P,))
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    first = await run(sync_connection(ws, conn, rate=RATE))
    assert first.status == "ok"
    before = expected(sb, P)
    assert len(before) > 40  # several pages

    sb.set_faults(P, shift_listing=3, match=LISTING)
    shifted = await run(sync_connection(ws, conn, rate=RATE, prune=True))
    faults = sb.faults(P)
    assert faults["injected"]["shifted"] == 3, faults
    still = expected(sb, P)  # tagged now: three fewer than before
    assert len(still) == len(before) - 3
    # the three that shifted into the first page were skipped by the listing, yet confirmed
    # still tagged by asking the DAM: not marked gone, not deleted. The three really untagged
    # may go in this run already (a connector that reads membership per asset sees them leave),
    # but only those: what went is exactly what was confirmed gone.
    assert shifted.not_gone == 3, shifted
    assert shifted.plan.gone == 3 + shifted.gone, shifted
    assert shifted.gone == shifted.pruned <= 3 and shifted.status == "ok", shifted
    records = {r["provider_id"]: r for r in ws.index.assets(connection=conn)}
    for pid in still:
        assert records[pid]["status"] == "synced", (pid, records[pid])
        assert (ws.root / records[pid]["local_path"]).exists(), pid

    sb.set_faults(P)  # the next run sees a stable listing: the three untagged go (confirmed)
    after = await run(sync_connection(ws, conn, rate=RATE, prune=True))
    assert (after.not_gone, after.status) == (0, "ok"), after
    assert (shifted.gone + after.gone, shifted.pruned + after.pruned) == (3, 3), after
    gone = {pid for pid, r in ((r["provider_id"], r) for r in ws.index.assets(connection=conn))
            if r["status"] == "gone"}
    assert gone == set(before) - set(still)
    assert_library_matches(ws, conn, still)


STORM = 20


@pytest.mark.parametrize("provider", [P, "bynder"])
async def test_a_storm_of_429s_is_waited_out(fresh_sandbox: Callable[..., Sandbox],
                                             tmp_path: Path, provider: str) -> None:
    sb = fresh_sandbox(assets=60, providers=(provider,), rate_limit=None)
    ws = workspace(tmp_path)
    conn = connect(ws, sb, provider)
    events: list[ProgressEvent] = []

    # Mid-way through the downloads: 20 × 429, each asking for a second, more than three times
    # the six tries that used to end a run. Each is waited out one after another (about 1 s
    # each), so the 60 stay in benchmarks/sync_bench.py (`storm_ok`): here they would
    # cost the suite a minute per provider.
    def storm(event: ProgressEvent) -> None:
        events.append(event)
        if event.kind == "file_done" and event.done == 5:
            sb.control("PATCH", f"{provider}/faults", json={"burst_429": STORM, "retry_after": 1})

    report = await run(sync_connection(ws, conn, rate=RATE, progress=storm))
    faults = sb.faults(provider)
    assert faults["injected"]["429"] == STORM, faults
    assert report.status == "ok", (report.error, report.errors[:3])
    assert report.http_429 == STORM and report.failed == 0
    waits = [e for e in events if e.kind == "throttled"]
    assert waits and all(e.wait == 1.0 for e in waits)
    assert "throttled by the DAM" in waits[0].line()
    assert_library_matches(ws, conn, expected(sb, provider))


async def test_patience_has_a_deadline(fresh_sandbox: Callable[..., Sandbox],
                                       tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=20, providers=(P,))
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    sb.set_faults(P, burst_429=10_000, retry_after=1)  # a DAM that never lets us in
    report = await run(sync_connection(ws, conn, rate=RATE, throttle_budget=2.0))
    assert report.status == "failed" and report.error
    assert 1.0 <= report.throttled_s <= 3.0  # waited out up to the budget, then gave up
    assert sb.faults(P)["injected"]["429"] < 40  # the holds are shared, not per request


async def test_a_dead_file_host_stops_the_run_early(fresh_sandbox: Callable[..., Sandbox],
                                                   tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=400, providers=(P,))
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    want = expected(sb, P)
    assert len(want) > 150
    sb.set_faults(P, fault_rate=1.0, match="cdn")  # every download answers 5xx
    before = sb.faults(P)["requests"]
    report = await run(sync_connection(ws, conn, rate=RATE))
    spent = sb.faults(P)["requests"] - before
    assert report.status == "failed" and report.error
    assert "stopped early" in report.error  # the breaker's own cause, shown to the user
    assert spent <= 60, spent  # listing + at most ~50 requests, not 30 per file
    failed = [r for r in ws.index.assets(connection=conn) if r["status"] == "failed"]
    assert 0 < len(failed) <= 16  # what was tried stays marked for the next run
    sb.set_faults(P)
    again = await run(sync_connection(ws, conn, rate=RATE))
    assert again.status == "ok" and again.plan.retry == len(failed)
    assert_library_matches(ws, conn, want)


def test_the_breaker_opens_on_consistent_failure_only() -> None:
    from damkit.http import Patience

    flaky = Patience()
    for i in range(400):  # one failure in four: a flaky DAM, not a dead one
        flaky.record(i % 4 != 0, "dam")
    assert flaky.broken is None
    dead = Patience()
    for i in range(40):  # the API answers, every download fails three times
        dead.record(i % 4 == 0, "files")
    assert isinstance(dead.broken, CircuitOpen) and dead.broken.hint


async def test_case_only_rename_keeps_the_file(fresh_sandbox: Callable[..., Sandbox],
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # This machine's tmp folder is case-sensitive (probed below) and mounting a case-folding
    # file system needs privileges the tests do not have, so the run is told its folder folds
    # case through the store's one probe (``folds_case``), as it would be on macOS or Windows.
    assert probe_case(tmp_path) is False
    monkeypatch.setattr(LocalStore, "folds_case", lambda self, connection: True)
    sb = fresh_sandbox(assets=30, providers=(P,))
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    await run(sync_connection(ws, conn, rate=RATE))
    catalog = sb.state.catalog(P)
    asset = catalog.tagged(catalog.tag)[0]
    old = ws.index.get_asset(conn, asset.key)["local_path"]
    sb.control("POST", f"{P}/assets/{asset.key}/modify", json={"name": asset.name.upper()})
    report = await run(sync_connection(ws, conn, rate=RATE))
    assert report.status == "ok" and report.downloaded == 1
    new = ws.index.get_asset(conn, asset.key)["local_path"]
    assert new != old and new.casefold() == old.casefold()  # a case-only rename
    assert (ws.root / new).exists()  # on a case-folding folder the old name is this entry:
    assert (ws.root / old).exists()  # it was not unlinked (here, a separate file remains)
    assert Path(new).name in library_files(ws, conn)


def test_paths_compare_as_the_file_system_does() -> None:
    assert same_entry("DAM Import/a/report_1.pdf", "DAM Import/a/REPORT_1.pdf", fold_case=True)
    assert not same_entry("DAM Import/a/report_1.pdf", "DAM Import/a/REPORT_1.pdf",
                          fold_case=False)
    assert not same_entry("DAM Import/a/report_1.pdf", "DAM Import/a/report_2.pdf",
                          fold_case=True)


async def test_adaptive_rate_settles_under_a_limit_it_is_not_told(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=80, providers=(P,), faults={P: {"rate_limit": 40}})
    ws = workspace(tmp_path)
    conn = connect(ws, sb, P)
    report = await run(sync_connection(ws, conn))  # no --rate: the budget finds the limit
    faults = sb.faults(P)
    assert report.status == "ok", (report.error, report.errors[:3])
    assert faults["injected"]["rate_limited"] == report.http_429
    assert report.http_429 <= max(5, faults["requests"] // 10), faults  # few 429s, not a storm
    assert_library_matches(ws, conn, expected(sb, P))


def test_disk_refusals_are_typed_with_a_fix(tmp_path: Path) -> None:
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES):
        error = local_storage_error(OSError(code, "refused"), tmp_path)
        assert isinstance(error, LocalStorageError)
        assert error.cause == errno.errorcode[code] and error.hint and str(tmp_path) in str(error)
    assert local_storage_error(OSError(errno.ENOENT, "gone"), tmp_path) is None
