"""The event consumer's own small state: seen MessageIds and pending work, kept across restarts.

Not the library index: an event must not rewrite a large file. Two files in ``<workspace>/events/``:

- ``log.jsonl``: one JSON record per line, appended and ``fsync``-ed before the HTTP answer
  (a 200 tells SNS it may forget the message, so the work must be on disk first). Concurrent
  requests share one ``fsync`` (group commit);
- ``state.json``: a snapshot, written atomically when the log grows long and at start-up, after
  which the log starts empty. Records are idempotent, so replaying a log over a snapshot that
  already contains it changes nothing (a crash between the two steps is harmless).

Records: ``{"s": id, "at": t}`` MessageId seen; ``{"w": [conn, asset], "g": n}`` work wanted at
generation ``n``; ``{"d": [conn, asset], "g": n}`` work done up to generation ``n`` (also used
when work is dropped, e.g. its connection was removed); ``{"u": topic, "at": t}`` unsubscribed.

A key is pending while its wanted generation is above its done generation: a sync that started
at generation 5 and finished after a notification raised it to 6 leaves the key pending.

``consumer.lock`` (an inter-process lock) keeps a second consumer off the same workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from ..errors import DamkitError
from ..index.storage import fsync_dir, write_json_atomic
from ..oslock import FileLock, LockTimeout

log = logging.getLogger("damkit.events")

Key = tuple[str, str]  # (connection, asset id)

SEEN_TTL_SECONDS = 2 * 3600.0  # > the verifier's 1 h replay window + 5 min clock skew
COMPACT_EVERY = 20_000  # log records


class ConsumerBusyError(DamkitError):
    """Another event consumer holds this workspace."""


class EventStore:
    """Seen MessageIds, pending work and unsubscribed topics, durable on return of each write."""

    def __init__(self, directory: Path, *, seen_ttl: float = SEEN_TTL_SECONDS,
                 compact_every: int = COMPACT_EVERY, now: Callable[[], float] = time.time,
                 lock_timeout: float = 0.0) -> None:
        self.directory = directory
        self.seen_ttl = seen_ttl
        self.compact_every = compact_every
        self.now = now
        self.lock_timeout = lock_timeout
        self.seen: dict[str, float] = {}
        self.wanted: dict[Key, int] = {}
        self.done_gen: dict[Key, int] = {}
        self.unsubscribed: dict[str, float] = {}
        self.generation = 0
        self.records = 0  # records in the current log
        self.fsyncs = 0
        self._fh: Any = None
        self._lock: FileLock | None = None
        self._buffer: list[bytes] = []
        self._batch: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    # --- files ---------------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.directory / "log.jsonl"

    @property
    def snapshot_path(self) -> Path:
        return self.directory / "state.json"

    def open(self) -> EventStore:
        """Take the consumer lock, load snapshot + log, compact. Idempotent per instance."""
        if self._fh is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        # opened by the server's start-up, closed by whichever thread stops it: one shared hold
        lock = FileLock(str(self.directory / "consumer.lock"), timeout=self.lock_timeout,
                        thread_local=False)
        try:
            lock.acquire()
        except LockTimeout:
            raise ConsumerBusyError(
                f"another event consumer is running on this workspace ({self.directory})",
                hint="stop it first: one consumer per workspace keeps MessageIds deduplicated",
            ) from None
        self._lock = lock
        try:
            self._load()
            self._compact_sync()
        except BaseException:
            lock.release()
            self._lock = None
            raise
        return self

    def close(self) -> None:
        """Close the log and release the lock (pending work stays on disk)."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.flush()
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> EventStore:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load(self) -> None:
        if self.snapshot_path.exists():
            from ..index.storage import read_json

            snap = read_json(self.snapshot_path)
            self.seen = {str(k): float(v) for k, v in snap.get("seen", {}).items()}
            for conn, asset, want, done in snap.get("pending", []):
                self.wanted[(conn, asset)] = int(want)
                self.done_gen[(conn, asset)] = int(done)
            self.unsubscribed = {str(k): float(v) for k, v in snap.get("unsubscribed", {}).items()}
            self.generation = int(snap.get("generation", 0))
        if self.log_path.exists():
            raw = self.log_path.read_bytes()
            lines = raw.split(b"\n")
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    self._apply(orjson.loads(line))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    # the last line may be torn by a crash mid-append; anything else is logged
                    if number != len(lines):
                        log.warning("events log %s: unreadable line %d skipped",
                                    self.log_path, number)

    def _apply(self, rec: dict[str, Any]) -> None:
        if "s" in rec:
            self.seen[str(rec["s"])] = float(rec["at"])
        elif "w" in rec:
            key = (str(rec["w"][0]), str(rec["w"][1]))
            gen = int(rec["g"])
            self.wanted[key] = max(self.wanted.get(key, 0), gen)
            self.generation = max(self.generation, gen)
        elif "d" in rec:
            key = (str(rec["d"][0]), str(rec["d"][1]))
            self.done_gen[key] = max(self.done_gen.get(key, 0), int(rec["g"]))
        elif "u" in rec:
            self.unsubscribed[str(rec["u"])] = float(rec["at"])
        else:
            raise ValueError("unknown record")

    def _snapshot(self) -> dict[str, Any]:
        horizon = self.now() - self.seen_ttl
        self.seen = {k: v for k, v in self.seen.items() if v >= horizon}
        pending = [[c, a, w, self.done_gen.get((c, a), 0)]
                   for (c, a), w in self.wanted.items() if w > self.done_gen.get((c, a), 0)]
        # finished keys are forgotten: their generations only matter while they are pending
        keep = {(c, a) for c, a, _, _ in pending}
        self.wanted = {k: v for k, v in self.wanted.items() if k in keep}
        self.done_gen = {k: v for k, v in self.done_gen.items() if k in keep}
        return {"version": 1, "generation": self.generation, "seen": self.seen,
                "pending": pending, "unsubscribed": self.unsubscribed}

    def _compact_sync(self, snapshot: dict[str, Any] | None = None) -> None:
        """Snapshot, then start an empty log. Called at open and by the flusher (one writer);
        the snapshot is built on the event loop (the thread must not iterate live dicts)."""
        write_json_atomic(self.snapshot_path, snapshot if snapshot is not None else self._snapshot())
        if self._fh is not None:
            self._fh.close()
        tmp = self.log_path.with_name(".log.jsonl.tmp")
        with open(tmp, "wb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.log_path)
        fsync_dir(self.directory)
        self._fh = open(self.log_path, "ab")  # noqa: SIM115 - kept open for appends
        self.records = 0

    def _write_sync(self, lines: list[bytes]) -> None:
        self._fh.write(b"".join(lines))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.fsyncs += 1
        self.records += len(lines)

    # --- durable writes (group commit) ---------------------------------------------------------

    async def _commit(self, records: Iterable[dict[str, Any]]) -> None:
        if self._fh is None:
            raise DamkitError("the event store is not open")
        loop = asyncio.get_running_loop()
        if self._batch is None:
            self._batch = loop.create_future()
        batch = self._batch
        self._buffer.extend(orjson.dumps(r) + b"\n" for r in records)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_loop())
        await asyncio.shield(batch)

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._buffer:
            lines, self._buffer = self._buffer, []
            batch, self._batch = self._batch, loop.create_future()
            try:
                await asyncio.to_thread(self._write_sync, lines)
            except BaseException as exc:
                if batch is not None and not batch.done():
                    batch.set_exception(exc)
                    batch.exception()  # mark retrieved: waiters re-raise it themselves
                if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
                    raise
            else:
                if batch is not None and not batch.done():
                    batch.set_result(None)
                if self.records >= self.compact_every:
                    snapshot = orjson.loads(orjson.dumps(self._snapshot()))  # a copy
                    try:
                        await asyncio.to_thread(self._compact_sync, snapshot)
                    except OSError as exc:  # the log keeps growing; retried after the next write
                        log.warning("events store compaction failed: %s", exc)
        # nothing buffered: the next commit starts a fresh batch future
        if self._batch is not None and not self._buffer:
            self._batch.cancel()
            self._batch = None

    # --- API -----------------------------------------------------------------------------------

    def is_seen(self, message_id: str) -> bool:
        return message_id in self.seen

    async def accept(self, message_id: str, keys: Iterable[Key] = ()) -> bool:
        """Record a MessageId and the work it asks for; ``False`` (nothing written) if seen.

        Durable on return. On a write error the MessageId is forgotten again, so SNS's retry of
        the same message is accepted.
        """
        if message_id in self.seen:
            return False
        now = self.now()
        self.seen[message_id] = now
        records: list[dict[str, Any]] = [{"s": message_id, "at": now}]
        for conn, asset in keys:
            self.generation += 1
            self.wanted[(conn, asset)] = self.generation
            records.append({"w": [conn, asset], "g": self.generation})
        try:
            await self._commit(records)
        except BaseException:
            self.seen.pop(message_id, None)
            raise
        return True

    def generation_of(self, key: Key) -> int:
        return self.wanted.get(key, 0)

    def is_pending(self, key: Key) -> bool:
        return self.wanted.get(key, 0) > self.done_gen.get(key, 0)

    def pending(self) -> list[Key]:
        """Keys with work not yet done, oldest request first."""
        keys = [k for k, g in self.wanted.items() if g > self.done_gen.get(k, 0)]
        return sorted(keys, key=lambda k: self.wanted[k])

    async def done(self, key: Key, generation: int) -> None:
        """The work of ``key`` up to ``generation`` is done (or dropped). Durable on return."""
        if generation <= self.done_gen.get(key, 0):
            return
        self.done_gen[key] = generation
        await self._commit([{"d": list(key), "g": generation}])

    async def unsubscribe(self, topic: str) -> None:
        now = self.now()
        self.unsubscribed[topic] = now
        await self._commit([{"u": topic, "at": now}])

    async def drain(self) -> None:
        """Wait until everything buffered is on disk."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    def stats(self) -> dict[str, Any]:
        return {"seen": len(self.seen), "pending": len(self.pending()),
                "unsubscribed": sorted(self.unsubscribed), "log_records": self.records,
                "fsyncs": self.fsyncs}


__all__ = ["ConsumerBusyError", "EventStore", "Key"]
