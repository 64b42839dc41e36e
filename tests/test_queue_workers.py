"""Three `damkit worker` processes, 30 sandbox connections, one worker SIGKILLed mid-job.

Real parts only: a PostgreSQL server on loopback (tests/pg_server.py) holds the queue, the
sandbox serves Bynder and Percolate over real HTTP with a little latency (so jobs overlap), the
workers are real subprocesses sharing one workspace. Afterwards the library and the index must
hold exactly what the DAM lists for each connection (nothing lost, nothing duplicated, no partial
file), and no two runs of one connection may have overlapped (the jobs' run records).
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from queue_support import (
    BACKENDS,
    add_connections,
    backend_env,
    check_library,
    damkit,
    expected_assets,
    job_runs,
    open_ws,
    overlaps,
    start_worker,
    stop_workers,
    wait_drained,
    worker_env,
    worker_id,
)

pytestmark = pytest.mark.slow


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, postgres, monkeypatch) -> dict[str, str]:
    """The index/library backends: set for this process and handed to the workers."""
    env = backend_env(str(request.param), postgres=postgres, name="queue_kill_index")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_three_workers_one_killed_exact_library(tmp_path, fresh_sandbox, postgres, backend):
    sb = fresh_sandbox(assets=16, latency_ms=60, rate_limit=None,
                       providers=("bynder", "percolate"))
    root = tmp_path / "ws"
    with open_ws(root) as ws:
        names = add_connections(ws, sb.manifest(), 30)
        expected = expected_assets(ws, names)
    assert len(names) == 30 and all(expected[n] for n in names)
    url = postgres.database_url("queue_kill")
    env = worker_env(root, url, backend)

    queued = damkit("sync", "--enqueue", "--all", "--rate", "200", "--json", env=env)
    assert queued.returncode == 0, queued.stderr
    jobs = json.loads(queued.stdout)["jobs"]
    assert sorted(j["connection"] for j in jobs) == sorted(names)
    assert len({j["job_id"] for j in jobs}) == 30 and not any(j["already_queued"] for j in jobs)

    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    procs = [start_worker(env, "--concurrency", "2", "--stalled-after", "5", log=logs[i])
             for i in range(3)]
    victim = procs[0]
    killed_at: dict[str, float] = {}
    try:
        # kill the first worker while it runs a job (its start is recorded, its end is not)
        deadline = time.monotonic() + 120
        with open_ws(root) as ws:
            while time.monotonic() < deadline and not killed_at:
                runs = job_runs(ws)
                # a run under way for a quarter of a second: files are being fetched
                mine = [r for rs in runs.values() for r in rs
                        if r["worker"] == worker_id(victim) and r["finished"] is None
                        and time.time() - r["started"] > 0.25]
                if mine:
                    victim.send_signal(signal.SIGKILL)
                    victim.wait(10)
                    killed_at[worker_id(victim)] = time.time()
                    break
                time.sleep(0.05)
        assert killed_at, "the first worker never started a job"
        assert wait_drained(url, timeout=240, procs=procs[1:]), \
            "the queue did not drain: " + logs[1].read_text()[-2000:]
    finally:
        codes = stop_workers(procs[1:])
        if victim.poll() is None:
            victim.kill()
    assert codes == [0, 0], "the survivors did not stop cleanly on SIGTERM"

    with open_ws(root) as ws:
        result = check_library(ws, expected)
        runs = job_runs(ws)
        run_records = {n: ws.index.runs(connection=n) for n in names}
    assert result["problems"] == []
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert overlaps(runs, killed_at) == []
    # the killed job was run again, to the end, by a surviving worker
    cut = [r for rs in runs.values() for r in rs if r["finished"] is None]
    assert cut and all(r["worker"] == worker_id(victim) for r in cut)
    for r in cut:
        later = [x for x in runs[r["connection"]] if x["started"] > r["started"]]
        assert later and later[-1]["outcome"] == "ok"
        assert later[-1]["worker"] != worker_id(victim)
    # every connection ended with an ok run; only a killed run's record may stay "running"
    for name in names:
        assert runs[name][-1]["outcome"] == "ok"
        statuses = [r["status"] for r in run_records[name]]
        assert statuses[0] == "ok"
        assert statuses.count("running") <= sum(1 for r in cut if r["connection"] == name)
