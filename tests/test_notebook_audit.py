"""The audit (core: damkit.audit; notebook: DataFrames and plots) against the sandbox: its
numbers agree with the sandbox's manifest (eligible) and with `damkit library stats`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

import damkit.notebook as dn
from damkit import audit as core
from damkit.providers.base import RemoteAsset
from damkit.sandbox import Sandbox
from damkit.sync import sync_connection
from damkit.workspace import Workspace

from notebook_support import ASSETS, RATE, leaks, manifest_secrets


def eligible(sb: Sandbox) -> dict[str, int]:
    return {f"sandbox-{p}": int(v["eligible"]) for p, v in sb.manifest()["providers"].items()}


def near_misses(sb: Sandbox) -> dict[str, dict[str, int]]:
    return {f"sandbox-{p}": sb.state.catalog(p).near_misses() for p in sb.manifest()["providers"]}


def agrees(report: core.AuditReport, ws: Workspace, sb: Sandbox | None,
           connection: str | None = None) -> None:
    """DAM side = the manifest's eligible counts; library side = `damkit library stats`."""
    stats = ws.library_stats(connection)
    rows = report.rows
    assert sum(r.in_library for r in rows) == stats["assets"]
    by_status: dict[str, int] = {}
    for r in rows:
        if r.in_library:
            by_status[str(r.library_status)] = by_status.get(str(r.library_status), 0) + 1
    assert by_status == stats["by_status"]
    for conn in report.connections:
        per = stats["by_connection"].get(conn.connection, {"assets": 0})
        assert conn.library == per["assets"] == sum(r.in_library for r in conn.rows)
        if sb is not None and report.live:
            assert conn.error is None
            assert conn.eligible == eligible(sb)[conn.connection]
            assert sum(r.in_dam is True for r in conn.rows) == conn.eligible


async def test_audit_agrees_with_the_manifest_and_library_stats(fresh_sandbox: Any,
                                                                tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=ASSETS, rate_limit=None)
    ws = await dn.sandbox_workspace(sb, tmp_path)

    before = await core.audit(ws)  # nothing synced yet: every eligible file is missing
    agrees(before, ws, sb)
    assert before.counts() == {**dict.fromkeys(core.STATUSES, 0),
                               "missing": sum(eligible(sb).values())}
    for conn in before.connections:
        assert {m.spelling: m.count for m in conn.near_misses} == near_misses(sb)[conn.connection]
        assert conn.tag == "Gelato"

    changed = await dn.sandbox_audit_demo(sb, ws, rate=RATE)
    report = await core.audit(ws)
    agrees(report, ws, sb)
    total = sum(eligible(sb).values())
    counts = report.counts()
    assert counts == {"current": total - 3, "missing": 1, "failed": 1, "stale": 1, "gone": 1}
    odd = {r.status: r for r in report.rows if r.status != "current"}
    assert {s: r.name for s, r in odd.items()} == changed
    assert odd["failed"].error and "400" in odd["failed"].error and odd["failed"].in_dam
    assert odd["stale"].dam_size == 4321 and odd["stale"].library_size != 4321
    assert odd["gone"].in_dam is False and odd["gone"].file_present
    assert odd["missing"].in_library is False and odd["missing"].in_dam

    # offline: the index's view (last sync), no stale, the untagged file still synced
    offline = await core.audit(ws, live=False)
    agrees(offline, ws, None)
    assert all(c.eligible is None and not c.near_misses for c in offline.connections)
    assert offline.counts() == {**dict.fromkeys(core.STATUSES, 0),
                                "current": ws.library_stats()["by_status"]["synced"], "failed": 1}

    # the next sync settles everything but the refused download; the audit follows it
    await sync_connection(ws, "sandbox-percolate", rate=RATE)
    settled = await core.audit(ws, "sandbox-percolate")
    agrees(settled, ws, sb, "sandbox-percolate")
    assert settled.counts() == {**dict.fromkeys(core.STATUSES, 0),
                                "current": eligible(sb)["sandbox-percolate"], "gone": 1}
    offline = await core.audit(ws, "sandbox-percolate", live=False)
    assert offline.counts()["gone"] == 1 and offline.counts()["stale"] == 0

    # a file removed from the library folder is missing, live and offline
    victim = next(r for r in settled.rows if r.status == "current")
    os.unlink(ws.root / str(victim.library_path))
    for live in (True, False):
        again = await core.audit(ws, "sandbox-percolate", live=live)
        row = next(r for r in again.rows if r.asset_id == victim.asset_id)
        assert row.status == "missing" and not row.file_present and row.in_library


async def test_notebook_frames_and_plots(fresh_sandbox: Any, tmp_path: Path) -> None:
    import pandas as pd
    from matplotlib.figure import Figure

    sb = fresh_sandbox(assets=ASSETS, rate_limit=None)
    ws = await dn.sandbox_workspace(sb, tmp_path)
    changed = await dn.sandbox_audit_demo(sb, ws, rate=RATE)
    df = await dn.audit_async(ws)
    assert list(df.columns) == dn.AUDIT_COLUMNS and len(df) == len(set(
        zip(df.connection, df.asset_id, strict=False)))
    assert list(df.status.cat.categories) == list(core.STATUSES)
    table = dn.breakdown(df)
    main = table[table.status != "near miss"].set_index("status")["files"].to_dict()
    assert main == {"current": len(df) - 4, "missing": 1, "failed": 1, "stale": 1, "gone": 1}
    misses = table[table.status == "near miss"]
    assert misses.files.sum() == sum(sum(v.values()) for v in near_misses(sb).values())
    assert len(dn.near_misses(df)) == len(misses)
    failed = df[df.status == "failed"].iloc[0]
    assert failed["name"] == changed["failed"] and "400" in failed["error"]
    summary = dn.connections_summary(df)
    assert summary.loc["sandbox-percolate", "eligible"] == eligible(sb)["sandbox-percolate"]
    assert summary.loc["sandbox-percolate", "library"] == \
        ws.library_stats()["by_connection"]["sandbox-percolate"]["assets"]
    assert int(df.in_library.sum()) == ws.library_stats()["assets"]

    history = dn.runs(ws)
    assert len(history) == 4 and list(history.status) == ["ok", "ok", "ok", "partial"]
    assert isinstance(history.started.dtype, pd.DatetimeTZDtype)
    assert int(history.downloaded.sum()) == ws.library_stats()["by_status"]["synced"]

    fig = dn.plot_overview(df, history)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    status_ax = fig.axes[0]
    widths = sum(p.get_width() for p in status_ax.patches)
    assert widths == len(df)  # every asset is in the stacked bars
    assert sum(p.get_height() for p in fig.axes[3].patches) == history.downloaded.sum() + \
        history.failed.sum()

    offline = dn.audit(ws, live=False)  # blocking form: from a loop, runs on a worker thread
    assert offline.status.value_counts()["stale"] == 0 and offline.attrs["live"] is False
    text = df.to_json() + json.dumps(df.attrs, default=str) + table.to_json()
    assert leaks(text, manifest_secrets(sb.manifest())) == []


async def test_a_dam_that_cannot_be_listed_falls_back_to_the_index(fresh_sandbox: Any,
                                                                   tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=ASSETS, providers=("percolate",), rate_limit=None)
    ws = await dn.sandbox_workspace(sb, tmp_path)
    await sync_connection(ws, "sandbox-percolate", rate=RATE)
    bad = "f" * 40
    ws.edit_connection("sandbox-percolate", {"client_secret": bad})
    report = await core.audit(ws)
    (conn,) = report.connections
    assert conn.error and bad not in conn.error and conn.eligible is None
    assert report.counts()["current"] == ws.library_stats()["assets"] == len(conn.rows)
    assert all(r.in_dam is None for r in conn.rows)


async def test_summary_counts_every_asset_whatever_the_row_limit(fresh_sandbox: Any,
                                                                 tmp_path: Path) -> None:
    sb = fresh_sandbox(assets=ASSETS, providers=("percolate",), rate_limit=None)
    ws = await dn.sandbox_workspace(sb, tmp_path)
    changed = await dn.sandbox_audit_demo(sb, ws, rate=RATE)
    for live in (True, False):
        full = await core.audit(ws, live=live, limit=None)
        everyone = len(full.rows)
        assert sum(full.counts().values()) == everyone and not full.truncated
        summary = await core.audit(ws, live=live, limit=0)  # counts only
        assert summary.rows == [] and summary.counts() == full.counts()
        assert summary.bytes_by_status() == full.bytes_by_status()
        assert summary.connections[0].rows_omitted == everyone and summary.truncated
        few = await core.audit(ws, live=live, limit=3)
        assert len(few.rows) == 3 and few.counts() == full.counts()
        assert few.connections[0].rows_omitted == everyone - 3
        doc = json.loads(json.dumps(few.summary()))
        assert doc["counts"] == full.counts() and doc["rows_kept"] == 3
        assert doc["rows_omitted"] == everyone - 3 and "rows" not in doc["connections"][0]
    current = await core.audit(ws, status="current", limit=None)
    assert {r.status for r in current.rows} == {"current"}
    assert len(current.rows) == current.counts()["current"] > 0
    failed = await core.audit(ws, status="failed")
    assert [r.name for r in failed.rows] == [changed["failed"]]
    with pytest.raises(ValueError, match="status must be one of"):
        await core.audit(ws, status="lost")

    # the stream: every asset exactly once, listed ones first, and the same rows as the report
    rows = []
    facts = core.ConnectionAudit(connection="sandbox-percolate", provider="percolate")
    async for chunk in core.stream_rows(ws, "sandbox-percolate", result=facts):
        rows.extend(chunk)
    ids = [r.asset_id for r in rows]
    assert len(ids) == len(set(ids)) == facts.library + 1  # + the one never synced
    assert facts.eligible == eligible(sb)["sandbox-percolate"] and facts.error is None
    listed = [r.in_dam for r in rows]
    assert listed == sorted(listed, reverse=True)  # True (listed) first, then False (gone)
    whole = await core.audit(ws, "sandbox-percolate", limit=None)
    assert sorted(r.model_dump_json() for r in rows) == \
        sorted(r.model_dump_json() for r in whole.rows)


def test_compare_classifies_each_case(tmp_path: Path) -> None:
    root = tmp_path
    (root / "lib").mkdir()
    for name in ("a", "b", "c"):
        (root / "lib" / name).write_bytes(b"x" * 10)

    def asset(pid: str, **kw: Any) -> RemoteAsset:
        return RemoteAsset(**{"id": pid, "name": pid, "size": 10, "version": "1", **kw})

    def record(pid: str, **kw: Any) -> dict[str, Any]:
        base = {"provider_id": pid, "name": pid, "size": 10, "status": "synced",
                "local_path": f"lib/{pid}", "fingerprint": asset(pid).fingerprint}
        return {**base, **kw}

    listed = [asset("a"), asset("b", version="2"), asset("c", name="c2"), asset("d"),
              asset("e"), asset("f"), asset("a")]
    records = [record("a"), record("b"), record("c"), record("e", local_path="lib/missing"),
               record("f", status="failed", last_error="HTTP 403 at ?token=abcdefabcdef1234"),
               record("g", status="synced"), record("h", status="gone", local_path=None)]
    rows = {r.asset_id: r for r in core.compare("c", "bynder", listed, records, root)}
    assert {k: r.status for k, r in rows.items()} == {
        "a": "current", "b": "stale", "c": "stale", "d": "missing", "e": "missing",
        "f": "failed", "g": "gone", "h": "gone"}
    assert "renamed" in rows["c"].detail
    assert rows["f"].error and "abcdefabcdef1234" not in rows["f"].error  # redacted
    assert rows["h"].detail.endswith("(file pruned)") and rows["g"].in_dam is False
    offline = {r.asset_id: r.status for r in core.compare("c", "bynder", None, records, root)}
    assert offline == {"a": "current", "b": "current", "c": "current", "e": "missing",
                       "f": "failed", "g": "missing", "h": "gone"}


@pytest.mark.parametrize("module", ["damkit.audit", "damkit.cli", "damkit.sync",
                                    "damkit.workspace", "damkit.demo"])
def test_the_core_never_imports_notebook_libraries(module: str) -> None:
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('pandas', 'ipywidgets', 'matplotlib', 'IPython') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
