"""An inter-process lock that the operating system holds on a file.

``flock`` on POSIX, ``msvcrt.locking`` on Windows: the OS drops the lock when the process
holding it dies, so a crash never leaves a lock behind, and the lock file itself is never
removed (removing it would race with a process that has just opened it). damkit takes these
locks on the index, the secrets file, each connection's sync, Canto's token refresh and the
event consumer.

Why not the filelock package: importing it costs about 25 ms, a tenth of what ``damkit check``
spends in damkit's own code, for the handful of calls damkit makes. The semantics damkit relied
on are kept: a lock object is re-entrant (a count); with ``thread_local`` (the default) each
thread holds it through a handle of its own, so a second thread of the same process waits as
another process would, and without it the object's hold is shared by every thread (acquired in
one thread, released in another); a lock object dropped while held, by any thread, lets go
of the file; ``timeout`` < 0 waits for ever, 0 tries once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time

__all__ = ["FileLock", "LockTimeout"]

_BUSY = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK}


class LockTimeout(TimeoutError):
    """The lock stayed held by another process (or thread) for longer than the timeout."""

    def __init__(self, lock_file: str) -> None:
        super().__init__(f"the lock {lock_file} is held by another process")
        self.lock_file = lock_file


if sys.platform == "win32":  # pragma: no cover - not run on this project's machines
    import msvcrt

    def _take(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _take(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _lock(fd: int) -> bool:
    """Take the OS lock on ``fd`` without waiting: False while another handle holds it."""
    try:
        _take(fd)
    except OSError as exc:
        if exc.errno in _BUSY:
            return False
        raise
    return True


class _Hold:
    """One holder's handle on the lock file and how many times it has acquired it."""

    __slots__ = ("count", "fd")

    def __init__(self) -> None:
        self.fd: int | None = None
        self.count = 0


class FileLock:
    """``with FileLock(path, timeout=10): ...``, or ``acquire()`` / ``release()``."""

    def __init__(self, lock_file: str | os.PathLike[str], timeout: float = -1.0, *,
                 poll_interval: float = 0.05, thread_local: bool = True) -> None:
        self.lock_file = os.fspath(lock_file)
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._local = threading.local() if thread_local else None
        self._shared = _Hold()
        self._holds = [self._shared]  # every thread's, so that dropping the lock frees them all
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"FileLock({self.lock_file!r}, locked={self.is_locked})"

    def _hold(self) -> _Hold:
        if self._local is None:
            return self._shared
        hold: _Hold | None = getattr(self._local, "hold", None)
        if hold is None:
            hold = self._local.hold = _Hold()
            with self._guard:
                self._holds.append(hold)
        return hold

    @property
    def is_locked(self) -> bool:
        """Whether this holder (this thread, with ``thread_local``) holds the lock."""
        return self._hold().count > 0

    def _try(self) -> int | None:
        """Open the lock file and take the OS lock without waiting: its handle, or None."""
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.lock_file, flags, 0o644)
        except FileNotFoundError:  # its folder does not exist yet
            os.makedirs(os.path.dirname(self.lock_file) or ".", exist_ok=True)
            fd = os.open(self.lock_file, flags, 0o644)
        try:
            if _lock(fd) and (sys.platform == "win32" or os.fstat(fd).st_nlink > 0):
                return fd  # (a file removed after it was opened locks nothing: try again)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        return None

    def acquire(self, timeout: float | None = None) -> FileLock:
        """Take the lock, waiting at most ``timeout`` seconds (the object's by default);
        :class:`LockTimeout` if it stays held."""
        wait = self.timeout if timeout is None else timeout
        deadline = None if wait < 0 else time.monotonic() + wait
        hold = self._hold()
        while True:
            with self._guard:
                if hold.count > 0:
                    hold.count += 1
                    return self
                fd = self._try()
                if fd is not None:
                    hold.fd, hold.count = fd, 1
                    return self
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeout(self.lock_file)
            time.sleep(self.poll_interval if deadline is None
                       else max(0.0, min(self.poll_interval, deadline - time.monotonic())))

    def release(self, force: bool = False) -> None:
        """Undo one :meth:`acquire` (all of them with ``force``); the OS lock goes with the last."""
        hold = self._hold()
        with self._guard:
            if hold.count == 0:
                return
            hold.count = 0 if force else hold.count - 1
            if hold.count == 0 and hold.fd is not None:
                fd, hold.fd = hold.fd, None
                try:
                    _unlock(fd)
                finally:
                    os.close(fd)

    def __del__(self) -> None:
        # a lock object dropped while held, in any thread, lets go of the file (as closing the
        # process would): a hold must not outlive every reference to it
        for hold in getattr(self, "_holds", ()):
            if hold.fd is not None:
                with contextlib.suppress(OSError):
                    os.close(hold.fd)
                hold.fd, hold.count = None, 0

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
