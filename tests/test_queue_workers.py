"""Three `damkit worker` processes, 30 sandbox connections, one worker SIGKILLed mid-job.

Real parts only: a PostgreSQL server on loopback (tests/pg_server.py) holds the queue, the
sandbox serves Bynder and Percolate over real HTTP with a little latency (so jobs overlap), the
workers are real subprocesses sharing one workspace. Two backend cases (tests/queue_support.py):
the server one, which is what several machines share (the index on that PostgreSQL server, the
files in a bucket on moto's S3 server, in its own process), and the embedded default (TinyDB
and a local folder). Afterwards the library and the index must hold exactly what the DAM lists
for each connection (nothing lost, nothing duplicated, nothing partial: no stray or short object
under a final key, no unfinished upload, no staging file), and no two runs of one connection may
have overlapped (the jobs' run records).
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from queue_support import (
    AWS_UNSET,
    BACKENDS,
    BUCKET_PREFIX,
    add_connections,
    backend_env,
    backend_names,
    check_library,
    damkit,
    expected_assets,
    job_runs,
    library_files,
    open_ws,
    overlaps,
    registered_workers,
    start_worker,
    stop_workers,
    wait_drained,
    wait_until,
    worker_env,
    worker_id,
    workspace_backends,
)

pytestmark = pytest.mark.slow


# The server case is the deployment the queue is for (issue: "checks the exact file set in the
# bucket and the index"). The embedded case (TinyDB, a local folder) runs in the scale benchmark
# (`--backends local`) and its multi-process safety in tests/test_index_processes.py and
# tests/test_sync_kill.py; here it would add ~18 s to a suite that must stay well under 10 min.
@pytest.fixture(params=[b for b in BACKENDS if b == "postgresql-s3"])
def backend(request: pytest.FixtureRequest, postgres, monkeypatch) -> tuple[str, dict[str, str]]:
    """(case, environment): the index/library backends, set for this process and handed to the
    workers."""
    case = str(request.param)
    endpoint = request.getfixturevalue("s3_server") if case.endswith("-s3") else None
    for key in ("DAMKIT_INDEX_URL", "DAMKIT_LIBRARY_URL", "DAMKIT_S3_ENDPOINT_URL", *AWS_UNSET):
        monkeypatch.delenv(key, raising=False)
    env = backend_env(case, postgres=postgres, name="queue_kill_index", s3_endpoint=endpoint)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return case, env


def bucket_keys(env: dict[str, str]) -> set[str]:
    """Every key of the library's bucket, read with boto3 (not through damkit or fsspec)."""
    import boto3

    bucket = env["DAMKIT_LIBRARY_URL"].removeprefix("s3://").split("/", 1)[0]
    client = boto3.client("s3", endpoint_url=env["DAMKIT_S3_ENDPOINT_URL"],
                          region_name=env["AWS_DEFAULT_REGION"],
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys |= {o["Key"] for o in page.get("Contents", [])}
    return keys


def test_three_workers_one_killed_exact_library(tmp_path, fresh_sandbox, postgres, backend):
    case, backend_vars = backend
    sb = fresh_sandbox(assets=16, latency_ms=60, rate_limit=None,
                       providers=("bynder", "percolate"))
    root = tmp_path / "ws"
    with open_ws(root) as ws:
        assert workspace_backends(ws) == backend_names(case)
        names = add_connections(ws, sb.manifest(), 30)
        expected = expected_assets(ws, names)
    assert len(names) == 30 and all(expected[n] for n in names)
    url = postgres.database_url("queue_kill")
    env = worker_env(root, url, backend_vars)

    queued = damkit("sync", "--enqueue", "--all", "--rate", "200", "--json", env=env)
    assert queued.returncode == 0, queued.stderr
    jobs = json.loads(queued.stdout)["jobs"]
    assert sorted(j["connection"] for j in jobs) == sorted(names)
    assert len({j["job_id"] for j in jobs}) == 30 and not any(j["already_queued"] for j in jobs)

    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    args = ("--concurrency", "2", "--stalled-after", "5")
    # the victim starts first and alone, so it surely holds jobs whatever the machine's load;
    # the two others start once it runs one, and the kill waits until they are registered
    procs = [start_worker(env, *args, log=logs[0])]
    victim = procs[0]
    killed_at: dict[str, float] = {}
    try:
        with open_ws(root) as ws:

            def victim_running(for_s: float) -> bool:
                runs = job_runs(ws)
                return any(r["worker"] == worker_id(victim) and r["finished"] is None
                           and time.time() - r["started"] > for_s
                           for rs in runs.values() for r in rs)

            assert wait_until(lambda: victim_running(0), timeout=180, procs=procs), \
                "the first worker never started a job: " + logs[0].read_text()[-2000:]
            procs += [start_worker(env, *args, log=logs[i]) for i in (1, 2)]
            assert wait_until(lambda: registered_workers(url) >= 3, timeout=180,
                              procs=procs[1:]), \
                "the other workers did not start: " + logs[1].read_text()[-2000:]
            # kill the victim while it runs a job (its start is recorded, its end is not), one
            # under way for a quarter of a second: files are being fetched
            assert wait_until(lambda: victim_running(0.25), timeout=180, procs=procs), \
                "the first worker ran no job to kill: " + logs[0].read_text()[-2000:]
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
            killed_at[worker_id(victim)] = time.time()
        assert wait_drained(url, timeout=300, procs=procs[1:]), \
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
        files, partial = library_files(ws)
        indexed = {n: ws.index.assets(connection=n) for n in names}
    assert result["problems"] == []
    assert result["lost"] == 0 and result["duplicated"] == 0
    # the exact sets, spelled out: per connection, one index record per listed asset, synced,
    # and one file (object) per record, whole, and nothing else anywhere in the library
    assert partial == []
    for name in names:
        records = indexed[name]
        assert sorted(r["provider_id"] for r in records) == sorted(expected[name])
        assert {r["status"] for r in records} == {"synced"}
        mine = {rel: size for rel, size in files.items()
                if rel.startswith(f"DAM Import/{name}/")}
        assert mine == {r["local_path"]: expected[name][r["provider_id"]] for r in records}
    assert set(files) == set(result["files"])
    assert len(files) == sum(len(v) for v in expected.values())
    if case.endswith("-s3"):  # the bucket itself, read apart from damkit, holds exactly those
        assert bucket_keys(backend_vars) == {
            f"{BUCKET_PREFIX}/{rel.removeprefix('DAM Import/')}" for rel in files}
        assert not [p for p in (root / "DAM Import").rglob("*") if p.is_file()]
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
