"""With a queue configured, the event consumer hands each changed asset to the queue and a
`damkit worker` syncs it: end to end against the sandbox's real SNS (signed notifications over
HTTP, its certificate fetched), a real PostgreSQL and a worker subprocess."""

from __future__ import annotations

from typing import Any

import httpx

from damkit.events.server import ConsumerServer

from queue_support import add_connections, open_ws, start_worker, stop_workers, worker_env
from sns_support import subscribe, use_sandbox_sns, wait_for


def test_notifications_become_change_jobs_run_by_a_worker(fresh_sandbox, tmp_path, postgres,
                                                          monkeypatch):
    sb = fresh_sandbox(assets=40, providers=("bynder",))
    url = postgres.database_url("queue_events")
    monkeypatch.setenv("DAMKIT_QUEUE_URL", url)
    root = tmp_path / "ws"
    ws = open_ws(root)
    (name,) = add_connections(ws, sb.manifest(), 1)
    port = use_sandbox_sns(ws, sb)
    tag = sb.manifest()["providers"]["bynder"]["tag"]
    control = f"{sb.url}/_sandbox/bynder/assets"
    worker = start_worker(worker_env(root, url), "--stalled-after", "5", log=tmp_path / "w.log")
    try:
        with ConsumerServer(ws, port=port, settle_seconds=0.0) as srv:
            assert subscribe(sb, ws.event_consumer_url(name), 10)
            assets = httpx.get(control, params={"limit": 100}).json()["assets"]
            key = next(a for a in assets if tag not in a["tags"] and a["state"] == "live")["key"]
            httpx.post(f"{control}/{key}/tag", json={"tag": tag}).raise_for_status()

            def synced() -> Any:
                ws.index.refresh()
                record = ws.index.get_asset(name, key)
                return record if record and record.get("status") == "synced" else None

            record = wait_for(synced, 60, every=0.05)  # a guard against a hang
            assert record, (tmp_path / "w.log").read_text()[-2000:]
            assert (root / record["local_path"]).is_file()
            stats = srv.consumer.snapshot()
        # the consumer only queued the work; the worker ran it, as a change job
        assert stats["results"] == {"queued": stats["syncs"]} and stats["syncs"] >= 1
        ws.index.refresh()
        ran = [e for e in ws.index.events(limit=100) if e.get("kind") == "queue.finished"]
        assert any(e["task"] == "change" and e["asset"] == key and e["outcome"] == "synced"
                   for e in ran)
    finally:
        assert stop_workers([worker]) == [0]
        ws.close()
