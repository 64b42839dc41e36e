"""The OS file lock (damkit.oslock): real processes hold it, one is killed holding it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from damkit.oslock import FileLock, LockTimeout

HOLDER = """
import sys
from damkit.oslock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
sys.stdin.read()
lock.release()
print("released", flush=True)
"""


def holder(path: Path) -> subprocess.Popen[str]:
    """Another process that takes the lock and holds it until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def free_in_another_process(path: Path) -> bool:
    """Whether a fresh process can take the lock at once."""
    code = ("import sys\nfrom damkit.oslock import FileLock, LockTimeout\n"
            "try:\n    FileLock(sys.argv[1], timeout=0).acquire()\n"
            "except LockTimeout:\n    sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], timeout=60)
    assert done.returncode in (0, 3)
    return done.returncode == 0


def test_another_process_holding_it_times_out_then_frees_it(tmp_path: Path) -> None:
    path = tmp_path / "a.lock"
    proc = holder(path)
    try:
        lock = FileLock(path, timeout=0.2)
        with pytest.raises(LockTimeout) as info:
            lock.acquire()
        assert str(path) in str(info.value)
        assert not lock.is_locked
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        assert proc.stdout.readline().strip() == "released"
        with lock:  # the holder let go: taken at once
            assert lock.is_locked
            assert not free_in_another_process(path)
        assert not lock.is_locked
        assert free_in_another_process(path)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert path.exists()  # the lock file stays


def test_a_holder_killed_leaves_no_lock_behind(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "b.lock"  # folders made on first use
    proc = holder(path)
    assert not free_in_another_process(path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    lock = FileLock(path, timeout=0)
    lock.acquire()
    lock.release()


def test_reentrant_count_and_force(tmp_path: Path) -> None:
    path = tmp_path / "c.lock"
    lock = FileLock(path)
    lock.acquire()
    lock.acquire(timeout=0)
    lock.release()
    assert lock.is_locked and not free_in_another_process(path)
    lock.release()
    assert not lock.is_locked and free_in_another_process(path)
    lock.acquire()
    lock.acquire()
    lock.release(force=True)
    assert not lock.is_locked and free_in_another_process(path)
    lock.release()  # releasing a lock not held does nothing


def test_thread_local_a_second_thread_waits(tmp_path: Path) -> None:
    path = tmp_path / "d.lock"
    lock = FileLock(path, timeout=0.1)
    outcome: list[str] = []

    def other() -> None:
        try:
            lock.acquire()
        except LockTimeout:
            outcome.append("timed out")
        else:
            outcome.append("acquired")
            lock.release()

    with lock:
        t = threading.Thread(target=other)
        t.start()
        t.join(60)
    assert outcome == ["timed out"]
    t = threading.Thread(target=other)
    t.start()
    t.join(60)
    assert outcome == ["timed out", "acquired"]


def test_shared_hold_released_by_another_thread(tmp_path: Path) -> None:
    path = tmp_path / "e.lock"
    lock = FileLock(path, thread_local=False)
    lock.acquire()
    seen: list[bool] = []
    t = threading.Thread(target=lambda: (seen.append(lock.is_locked), lock.release()))
    t.start()
    t.join(60)
    assert seen == [True]
    assert not lock.is_locked and free_in_another_process(path)


def test_a_lock_dropped_while_another_thread_holds_it_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "f.lock"
    lock: FileLock | None = FileLock(path)
    t = threading.Thread(target=lambda: lock.acquire() if lock is not None else None)
    t.start()
    t.join(60)
    assert not free_in_another_process(path)  # held by that thread's handle
    lock = None  # the last reference
    assert free_in_another_process(path)
