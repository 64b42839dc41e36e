"""The index across real processes: visibility, SIGKILL mid-commit, concurrent writers; on the
file index and on PostgreSQL (``index_location``, tests/index_support.py)."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from damkit.index import LibraryIndex, open_index

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and flock")

ROOT = Path(__file__).resolve().parent.parent

CRASH_CHILD = textwrap.dedent(
    """
    import random, sys
    from pathlib import Path
    import damkit.index.tuning as repo
    repo.SHARD_MAX_DOCS = 40       # small shards, frequent deltas, carries and compactions
    repo.COMPACT_MIN_DOCS = 60
    repo.MAX_DELTAS = 4
    repo.MAX_EVENTS = 10**6        # keep every batch's event for the check
    from damkit.index import open_index

    location, batch = sys.argv[1], int(sys.argv[2])
    ix = open_index(location)
    existing = sorted(k for k in ix.asset_keys("c") if not k.startswith("s"))
    rng = random.Random(batch)
    print("ready", flush=True)
    while True:
        with ix.transaction() as tx:
            tx.upsert_assets([
                {"connection": "c", "provider_id": f"{batch}-{j}", "batch": batch, "tags": ["t"],
                 "pad": "x" * rng.randint(0, 400)}
                for j in range(8)
            ])
            if existing:
                touched = rng.sample(existing, min(6, len(existing)))
                tx.update_assets("c", {pid: {"touched": batch} for pid in touched})
            scratch = sorted(k for k in ix.asset_keys("c") if k.startswith("s"))
            tx.remove_assets("c", scratch)
            tx.upsert_assets([{"connection": "c", "provider_id": f"s{batch}-{j}", "batch": batch}
                              for j in range(2)])
            tx.add_event({"batch": batch})
        existing += [f"{batch}-{j}" for j in range(8)]
        print(f"committed {batch}", flush=True)
        batch += 1
    """
)


def _lines(proc: subprocess.Popen[bytes], buf: bytearray, timeout: float, *, first: bool = False) -> list[str]:
    """Lines the child printed within ``timeout`` seconds (or until it exits; or the first line)."""
    out: list[str] = []
    fd = proc.stdout.fileno()  # type: ignore[union-attr]
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf.extend(chunk)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            out.append(line.decode())
        if first and out:
            break
    return out


def _manifest(directory: Path) -> dict[str, Any]:
    import orjson

    return orjson.loads((directory / "manifest.json").read_bytes())  # type: ignore[no-any-return]


def _interrupted_commit(directory: Path) -> bool:
    """Whether the killed child left a commit half done (temp or unreferenced data files)."""
    man = _manifest(directory)
    live = set(man["tables"].values()) | {s["file"] for s in man["shards"]} | {d["file"] for d in man["deltas"]}
    names = [n for n in os.listdir(directory) if n.endswith((".tmp", ".json")) and n != "manifest.json"]
    return any(n not in live for n in names)


def _rollbacks(url: str) -> int:
    """Transactions the server rolled back in the test's database (pg_stat_database)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SELECT pg_stat_clear_snapshot()")
        row = db.execute("SELECT xact_rollback FROM pg_stat_database "
                         "WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def _check_index(location: str, printed: set[int]) -> int:
    """Every printed batch is complete, no batch is partial; returns the next batch number."""
    ix = open_index(location)
    try:
        docs = ix.assets(connection="c")
        events = {e["batch"] for e in ix.events(limit=10_000)}
    finally:
        ix.close()
    per_batch: dict[int, int] = {}
    scratch: dict[int, int] = {}
    for doc in docs:
        target = scratch if doc["provider_id"].startswith("s") else per_batch
        target[doc["batch"]] = target.get(doc["batch"], 0) + 1
    assert printed <= set(per_batch), sorted(printed - set(per_batch))
    assert all(n == 8 for n in per_batch.values()), {b: n for b, n in per_batch.items() if n != 8}
    assert set(per_batch) == events  # the event of a batch commits with its assets
    last = max(per_batch, default=-1)
    assert scratch == ({last: 2} if last >= 0 else {})  # removals commit with their batch
    return last + 1


def test_sigkill_while_committing_loses_no_committed_batch(tmp_path: Path, index_location: str) -> None:
    files = not index_location.startswith("postgresql")
    directory = Path(index_location)
    # The file index is killed 60 times: its commit is a protocol of several files and renames.
    # On PostgreSQL the commit is the server's (a transaction the dropped session never
    # committed is rolled back); 20 kills check that no batch is ever half there.
    most, least = (60, 50) if files else (20, 15)
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = tmp_path / "child.py"
    script.write_text(CRASH_CHILD)
    printed: set[int] = set()
    next_batch = 0
    kills = mid_commit = carried = 0
    rolled_back = 0 if files else _rollbacks(index_location)
    started = time.monotonic()
    def more() -> bool:  # the file index: 50-60 kills; loaded, more until 50 batches committed
        enough = kills >= most or (kills >= least and time.monotonic() - started > 30)
        return not enough or (len(printed) <= least and kills < 150)

    while more():
        proc = subprocess.Popen(
            [sys.executable, str(script), index_location, str(next_batch)],
            stdout=subprocess.PIPE,
            env=env,
        )
        buf = bytearray()
        if rng.random() < 0.2:  # sometimes during start-up: open, sweep, backup
            lines = _lines(proc, buf, rng.uniform(0.1, 0.4))
        else:
            lines = _lines(proc, buf, 20.0, first=True)
            assert lines[:1] == ["ready"], lines  # a loaded machine may read a commit with it
            lines = lines[1:] + _lines(proc, buf, rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lines += _lines(proc, buf, 1.0)
        kills += 1
        printed |= {int(line.split()[1]) for line in lines if line.startswith("committed ")}
        if files:
            mid_commit += _interrupted_commit(directory)
        next_batch = _check_index(index_location, printed)
        if files:
            deltas = _manifest(directory)["deltas"]
            assert len(deltas) <= 4  # the child's MAX_DELTAS
            carried += any(d["count"] > 18 for d in deltas)  # a commit writes at most 18 of its own
    assert kills >= least
    assert len(printed) > least  # the children did commit between kills
    if not files:
        # no files to sweep, no backups; the transactions the server rolled back are the kills
        # that landed inside a commit (counted when the killed session ends)
        deadline = time.monotonic() + 10
        while _rollbacks(index_location) - rolled_back < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _rollbacks(index_location) - rolled_back >= 3
        return
    assert mid_commit >= 3, mid_commit  # some kills did land inside a commit
    assert carried >= 3, carried  # segments past the bound were carried into newer ones
    leftovers = [n for n in os.listdir(directory) if n.endswith(".tmp")]
    assert leftovers == []  # swept by the last open
    # the newest backup, taken by a child's open between kills, is itself a consistent index
    LibraryIndex.restore(directory)
    _check_index(index_location, set())


WRITER_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from damkit.index import open_index

    location, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ix = open_index(location)
    for i in range(n):
        with ix.transaction() as tx:
            counter = ix.get_asset("c", "counter")
            tx.update_assets("c", {"counter": {"n": counter["n"] + 1}})
            tx.upsert_assets([{"connection": "c", "provider_id": f"{name}-{i}", "writer": name}])
            if i % 50 == 0:
                tx.add_event({"writer": name, "i": i})
    ix.close()
    print("done", flush=True)
    """
)


def test_two_processes_committing_lose_nothing(tmp_path: Path, index_location: str) -> None:
    ix = open_index(index_location)
    ix.upsert_assets([{"connection": "c", "provider_id": "counter", "n": 0}])
    script = tmp_path / "writer.py"
    script.write_text(WRITER_CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, str(script), index_location, name, "500"], stdout=subprocess.PIPE, env=env)
        for name in ("tui", "notebook")
    ]
    seen_growth = []
    while any(p.poll() is None for p in procs):
        seen_growth.append(len(ix.asset_keys("c")))  # a live reader in a third process
        time.sleep(0.05)
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0 and out.strip() == b"done"
    keys = ix.asset_keys("c")
    assert keys == {"counter"} | {f"{w}-{i}" for w in ("tui", "notebook") for i in range(500)}
    assert ix.get_asset("c", "counter")["n"] == 1000  # no lost read-modify-write
    assert len(ix.events(limit=100)) == 20
    assert len(set(seen_growth)) > 2  # the reader saw commits as they happened
    ix.close()


VISIBILITY_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from damkit.index import open_index

    ix = open_index(sys.argv[1])
    print("ready", flush=True)
    deadline = time.monotonic() + 20
    while ix.get_asset("c", "from-parent") is None:
        if time.monotonic() > deadline:
            print("timeout", flush=True)
            raise SystemExit(1)
        time.sleep(0.01)
    ix.upsert_assets([{"connection": "c", "provider_id": "from-child"}])
    print("seen", flush=True)
    """
)


def test_other_process_sees_commit_without_restart(tmp_path: Path, index_location: str) -> None:
    ix = open_index(index_location)
    script = tmp_path / "visible.py"
    script.write_text(VISIBILITY_CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), index_location],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    assert ix.get_asset("c", "from-child") is None
    ix.upsert_assets([{"connection": "c", "provider_id": "from-parent"}])
    assert proc.stdout.readline().strip() == b"seen"
    assert proc.wait(timeout=20) == 0
    assert ix.get_asset("c", "from-child") == {"connection": "c", "provider_id": "from-child"}
    ix.close()
