"""The per-connection sync lock on PostgreSQL: a session advisory lock on a connection of its
own, so it holds across machines and the server releases it when the holder's connection ends
(the process died, the machine went away)."""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg

from ...errors import IndexLockedError
from .connect import connect, unavailable


class PgSyncLock:
    """``try_acquire``/``release``, or ``with``; not re-entrant (a second holder is refused, in
    this process too: each lock object has its own database session)."""

    def __init__(self, url: str, shown: str, connection: str) -> None:
        self._url = url
        self._shown = shown
        self.connection = connection
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False

    def try_acquire(self) -> bool:
        if self._held:
            return False
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url)
        try:
            row = self._conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                (f"damkit.sync/{self.connection}",)).fetchone()
        except psycopg.OperationalError as exc:
            self._drop()
            raise unavailable(self._shown, exc) from None
        self._held = bool(row and row[0])
        return self._held

    def release(self) -> None:
        """Give the lock back by ending its session (the server drops the lock with it)."""
        self._held = False
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> PgSyncLock:
        if not self.try_acquire():
            raise IndexLockedError(f"a sync of '{self.connection}' is already running")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit psycopg may be gone already
            self._drop()


__all__ = ["PgSyncLock"]
