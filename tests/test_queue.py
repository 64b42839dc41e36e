"""The task queue's parts: settings, the CLI's answers, enqueueing, schedules, stalled-job
recovery, the event consumer's hand-over, and a worker's clean stop.

Everything that touches the queue runs against a real PostgreSQL on loopback (the ``postgres``
fixture) and real `damkit` subprocesses; the sandbox serves the DAM over real HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time

import pytest

from damkit.errors import SettingsError

from queue_support import (
    add_connections,
    check_library,
    damkit,
    expected_assets,
    job_runs,
    open_ws,
    pending_jobs,
    start_worker,
    stop_workers,
    wait_drained,
    worker_env,
)


def modules_loaded(code: str) -> set[str]:
    script = code + "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    return set(r.stdout.split())


def test_help_loads_no_queue_library():
    loaded = modules_loaded("import sys\nfrom damkit.cli import app\nsys.argv = ['damkit', '--help']\n"
                            "try:\n    app()\nexcept SystemExit:\n    pass")
    assert "damkit" in loaded
    assert not loaded & {"procrastinate", "psycopg", "psycopg_pool"}


def test_the_consumer_and_the_jobs_package_load_no_queue_library_without_a_queue():
    loaded = modules_loaded("import damkit.jobs, damkit.events")
    assert not loaded & {"procrastinate", "psycopg"}


def test_missing_server_parts_name_the_extra():
    code = ("import sys\nsys.modules['procrastinate'] = None\nfrom damkit.jobs import server_parts\n"
            "from damkit.errors import SettingsError\n"
            "try:\n    server_parts()\nexcept SettingsError as e:\n    print(e.message, '|', e.hint)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "procrastinate" in r.stdout and "pip install 'damkit[server]'" in r.stdout


# --- settings ---------------------------------------------------------------------------------


def test_queue_url_setting_refuses_a_password_and_other_schemes(tmp_path, monkeypatch):
    monkeypatch.delenv("DAMKIT_QUEUE_URL", raising=False)
    from damkit.jobs import queue_url

    with open_ws(tmp_path) as ws:
        assert queue_url(ws) is None
        with pytest.raises(SettingsError) as e:
            ws.set_config(queue_url="postgresql://u:hunter2-secret@db.example.com/q")
        assert "password" in e.value.message and "hunter2" not in e.value.message
        assert "DAMKIT_QUEUE_URL" in e.value.message
        with pytest.raises(SettingsError):
            ws.set_config(queue_url="mysql://db.example.com/q")
        assert ws.config().queue_url is None  # nothing saved
        ws.set_config(queue_url="postgresql://damkit@db.example.com:5432/queue")
        assert queue_url(ws) == "postgresql://damkit@db.example.com:5432/queue"
        # the environment wins, may carry the password, and never shows it
        monkeypatch.setenv("DAMKIT_QUEUE_URL", "postgresql://w:s3cret-pass-1@db2.example.com/q")
        from damkit.jobs import shown_url
        from damkit.redact import redact

        url = queue_url(ws)
        assert url is not None and "db2" in url
        assert "s3cret" not in shown_url(url)
        assert "s3cret" not in redact(f"failed: {url}")
        monkeypatch.setenv("DAMKIT_QUEUE_URL", "http://nope")
        with pytest.raises(SettingsError) as e:
            queue_url(ws)
        assert e.value.field == "DAMKIT_QUEUE_URL"


def test_sync_every_entries_and_schedules(tmp_path, sandbox):
    from damkit.jobs import schedules

    with open_ws(tmp_path) as ws:
        names = add_connections(ws, sandbox.manifest(), 3)
        for bad in (["acme"], ["acme=7"], ["acme=0"], ["Acme=15"], ["a=15", "a=30"], ["a=90"]):
            with pytest.raises(SettingsError):
                ws.set_config(sync_every=bad)
        assert ws.config().sync_every == []
        assert schedules(ws) == {}
        ws.set_config(sync_every=[f"{names[0]}=15", "*=120", "gone-connection=5"])
        assert schedules(ws) == {names[0]: 15, names[1]: 120, names[2]: 120}


@pytest.mark.parametrize("minutes", [1, 5, 15, 30, 60, 120, 360, 1440])
def test_cron_for_runs_every_n_minutes_with_a_per_connection_offset(minutes):
    import croniter

    from damkit.jobs import cron_for

    lines = {cron_for(f"conn-{i}", minutes) for i in range(40)}
    if minutes > 1:
        assert len(lines) > 1  # not every connection on the same minute
    for line in lines:
        it = croniter.croniter(line, 0)
        times = [it.get_next(float) for _ in range(5)]
        gaps = {round(b - a) for a, b in itertools.pairwise(times)}
        assert gaps == {minutes * 60}, line


# --- the command line -------------------------------------------------------------------------


def test_no_queue_configured_is_a_clear_error(tmp_path):
    env = worker_env(tmp_path, "")
    env.pop("DAMKIT_QUEUE_URL")
    for args in (["worker"], ["sync", "--enqueue", "x"], ["sync", "--enqueue", "--all"]):
        r = damkit(*args, env=env)
        assert r.returncode == 2, (args, r.stderr)
        assert "no task queue is configured" in r.stderr and "DAMKIT_QUEUE_URL" in r.stderr
    r = damkit("sync", "--all", env=env)
    assert r.returncode == 2 and "--enqueue" in r.stderr


def test_enqueue_prints_job_ids_and_joins_a_waiting_job(tmp_path, sandbox, postgres):
    with open_ws(tmp_path) as ws:
        names = add_connections(ws, sandbox.manifest(), 2)
    env = worker_env(tmp_path, postgres.database_url("queue_enqueue"))
    r = damkit("sync", "--enqueue", names[0], "--json", env=env)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)["jobs"]
    assert [j["connection"] for j in first] == [names[0]] and not first[0]["already_queued"]
    r = damkit("sync", "--enqueue", "--all", "--json", env=env)
    again = {j["connection"]: j for j in json.loads(r.stdout)["jobs"]}
    assert again[names[0]] == {**first[0], "already_queued": True}
    assert not again[names[1]]["already_queued"]
    assert again[names[1]]["job_id"] != first[0]["job_id"]
    r = damkit("sync", "--enqueue", names[1], env=env)
    assert r.returncode == 0 and f"already queued (job {again[names[1]]['job_id']})" in r.stdout
    # an unknown connection: an error, and nothing queued
    r = damkit("sync", "--enqueue", "nope", "--json", env=env)
    assert r.returncode != 0 and json.loads(r.stdout)["ok"] is False
    import psycopg

    with psycopg.connect(env["DAMKIT_QUEUE_URL"]) as conn:
        rows = conn.execute("SELECT lock, queueing_lock, args FROM procrastinate_jobs "
                            "ORDER BY id").fetchall()
    assert [(lock, ql, args["connection"]) for lock, ql, args in rows] == [
        (f"damkit:connection:{n}", f"damkit:sync:{n}", n) for n in names]


# --- schedules and recovery (the queue's own machinery, on a real server) ----------------------


async def test_a_schedule_defers_one_waiting_sync_per_connection(postgres):
    from procrastinate.periodic import PeriodicDeferrer

    from damkit.jobs.app import build_app, ensure_schema

    url = postgres.database_url("queue_schedule")
    ensure_schema(url)
    app = build_app(url, schedules={"acme": 15, "beta": 60})
    registry = app.periodic_registry.periodic_tasks
    assert {k[1] for k in registry} == {"stalled", "acme", "beta"}
    assert registry[("damkit.sync", "acme")].cron.endswith("-59/15 * * * *")
    async with app.open_async():
        deferrer = PeriodicDeferrer(registry=app.periodic_registry)
        acme = registry[("damkit.sync", "acme")]
        await deferrer.defer_jobs([(acme, 1_000_000_000), (acme, 1_000_000_900)])
        jobs = list(await app.job_manager.list_jobs_async(task="damkit.sync"))
    # the second tick found the first sync still waiting: one job, with the connection's lock
    assert len(jobs) == 1
    assert jobs[0].task_kwargs["connection"] == "acme"
    assert jobs[0].lock == "damkit:connection:acme"
    assert jobs[0].queueing_lock == "damkit:sync:acme"


async def test_stalled_jobs_are_queued_again_or_closed_when_a_waiting_job_covers_them(postgres):
    from procrastinate.jobs import Status

    from damkit.jobs.app import build_app, defer, ensure_schema, recover_stalled

    url = postgres.database_url("queue_stalled")
    ensure_schema(url)
    app = build_app(url)
    async with app.open_async():
        manager = app.job_manager
        a_id, _ = await defer(app, "sync", {"connection": "a"}, "damkit:connection:a",
                              "damkit:sync:a")
        b_id, _ = await defer(app, "sync", {"connection": "b"}, "damkit:connection:b",
                              "damkit:sync:b")
        dead = await manager.register_worker()
        taken = [await manager.fetch_job(queues=None, worker_id=dead) for _ in range(2)]
        assert {j.id for j in taken} == {a_id, b_id}
        # a second sync of b waits (b's first job is "doing"); the worker then dies
        b2_id, waiting = await defer(app, "sync", {"connection": "b"}, "damkit:connection:b",
                                     "damkit:sync:b")
        assert not waiting
        live = await manager.register_worker()
        assert await manager.fetch_job(queues=None, worker_id=live) is None  # the locks hold
        await app.connector.execute_query_async(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
            "WHERE id = %(id)s", id=dead)
        assert await recover_stalled(app, 30.0) == 1
        status = {j.id: j.status for j in await manager.list_jobs_async()}
        assert status[a_id] == Status.TODO.value  # queued again
        assert status[b_id] == Status.FAILED.value  # covered by b2, which waits
        assert status[b2_id] == Status.TODO.value
        assert await recover_stalled(app, 30.0) == 0  # nothing left to recover


# --- a worker at work ---------------------------------------------------------------------------


def test_worker_runs_a_change_job_and_stops_cleanly_on_sigterm_mid_sync(tmp_path, fresh_sandbox,
                                                                        postgres):
    sb = fresh_sandbox(assets=40, latency_ms=150, rate_limit=None, providers=("percolate",))
    with open_ws(tmp_path) as ws:
        names = add_connections(ws, sb.manifest(), 2)
        expected = expected_assets(ws, names)
    url = postgres.database_url("queue_sigterm")
    env = worker_env(tmp_path, url)
    asset = sorted(expected[names[1]])[0]

    async def queue_change() -> str:
        from damkit.jobs import enqueue_change

        with open_ws(tmp_path, {"DAMKIT_QUEUE_URL": url}) as ws:
            return await enqueue_change(ws, names[1], asset)

    import os

    os.environ["DAMKIT_QUEUE_URL"] = url
    try:
        assert asyncio.run(queue_change()) == "queued"
    finally:
        del os.environ["DAMKIT_QUEUE_URL"]
    assert damkit("sync", "--enqueue", names[0], "--rate", "100", env=env).returncode == 0
    proc = start_worker(env, "--concurrency", "1", log=tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 60
        with open_ws(tmp_path) as ws:
            while time.monotonic() < deadline:
                runs = job_runs(ws).get(names[0], [])
                if runs and runs[0]["finished"] is None:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the sync never started")
        proc.send_signal(signal.SIGTERM)  # mid-sync: it finishes, then the worker stops
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with open_ws(tmp_path) as ws:
        runs = job_runs(ws)
        done = check_library(ws, {names[0]: expected[names[0]]})
        record = ws.index.get_asset(names[1], asset)
    assert runs[names[0]][-1]["outcome"] == "ok"
    assert done["lost"] == 0 and done["duplicated"] == 0
    assert record is not None and record["status"] == "synced"  # the change job ran first
    assert runs[names[1]][0]["outcome"] == "synced"
    assert "stopped" in (tmp_path / "worker.log").read_text()


def test_a_stopped_worker_leaves_nothing_running_for_the_next(tmp_path, sandbox, postgres):
    """Work queued while no worker runs waits; the next worker does it."""
    with open_ws(tmp_path) as ws:
        names = add_connections(ws, sandbox.manifest(), 1)
        expected = expected_assets(ws, names)
    url = postgres.database_url("queue_resume")
    env = worker_env(tmp_path, url)
    assert damkit("sync", "--enqueue", names[0], "--rate", "100", env=env).returncode == 0
    proc = start_worker(env, log=tmp_path / "w.log")
    try:
        assert wait_drained(url, timeout=120, procs=[proc])
    finally:
        assert stop_workers([proc]) == [0]
    with open_ws(tmp_path) as ws:
        assert check_library(ws, expected)["problems"] == []


def test_a_database_that_does_not_answer_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = worker_env(tmp_path, f"postgresql://w:pw-not-shown-42@127.0.0.1:{port}/q")
    for args in (["worker"], ["sync", "--enqueue", "--all"]):
        r = damkit(*args, env=env)
        assert r.returncode == 1, (args, r.stderr)
        assert f"database at postgresql://w@127.0.0.1:{port}/q did not answer" in r.stderr
        assert "pw-not-shown-42" not in r.stderr + r.stdout
        assert "bug" not in r.stderr


def test_a_worker_with_a_bad_library_setting_stops_at_start(tmp_path, sandbox, postgres):
    """A bucket library that cannot be used stops the worker before it takes a job (instead of
    failing every job it would take): the queued sync stays waiting for a worker that can."""
    with open_ws(tmp_path) as ws:
        names = add_connections(ws, sandbox.manifest(), 1)
    url = postgres.database_url("queue_bad_library")
    env = worker_env(tmp_path, url)
    assert damkit("sync", "--enqueue", names[0], env=env).returncode == 0
    bad = {**env, "DAMKIT_LIBRARY_URL": "gs://bucket/library"}
    r = damkit("worker", env=bad)
    assert r.returncode == 2, r.stderr  # bad settings: exit code 2, as every command
    assert "DAMKIT_LIBRARY_URL" in r.stderr and "s3://bucket/prefix" in r.stderr
    assert "bug" not in r.stderr
    assert pending_jobs(url) == 1


def test_a_failed_sync_is_tried_again_by_a_follow_up_job(tmp_path, fresh_sandbox, postgres):
    """The DAM fails every request: the run fails, and the job queues its own follow-up (attempt
    2, after a backoff), which syncs everything once the DAM is back."""
    sb = fresh_sandbox(assets=16, rate_limit=None, providers=("percolate",))
    with open_ws(tmp_path) as ws:
        names = add_connections(ws, sb.manifest(), 1)
        expected = expected_assets(ws, names)
    sb.set_faults("percolate", fault_rate=1.0)
    url = postgres.database_url("queue_retry")
    env = worker_env(tmp_path, url)
    assert damkit("sync", "--enqueue", names[0], env=env).returncode == 0
    proc = start_worker(env, log=tmp_path / "w.log")
    try:
        deadline = time.monotonic() + 120
        with open_ws(tmp_path) as ws:
            while time.monotonic() < deadline:
                runs = job_runs(ws).get(names[0], [])
                if runs and runs[0]["finished"] is not None:
                    break
                time.sleep(0.1)
        assert runs and runs[0]["outcome"] == "failed"
        sb.set_faults("percolate", fault_rate=0.0)
        assert wait_drained(url, timeout=120, procs=[proc])
    finally:
        assert stop_workers([proc]) == [0]
    with open_ws(tmp_path) as ws:
        runs = job_runs(ws)[names[0]]
        events = [e for e in ws.index.events(limit=50) if e.get("kind") == "queue.finished"]
        assert check_library(ws, expected)["problems"] == []
    assert [r["outcome"] for r in runs] == ["failed", "ok"]
    assert runs[1]["job_id"] != runs[0]["job_id"]
    first = next(e for e in events if e["job_id"] == runs[0]["job_id"])
    assert first["attempt"] == 1 and first["retry_in"] > 0
    assert next(e for e in events if e["job_id"] == runs[1]["job_id"])["attempt"] == 2
