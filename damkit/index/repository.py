"""The library index: a small repository API over sharded TinyDB files.

Nothing outside this package sees TinyDB ``Query`` objects: callers get and pass plain dicts.

State in memory: asset shards (key -> document) and the small tables. A commit, under the
inter-process lock, writes only what changed under new file names (a rewritten shard, or a
delta segment when a page touches many shards lightly) and then atomically replaces
``manifest.json``, the commit point. Other processes notice the new manifest by its stat key and
re-read only the files whose names changed. See ``docs/index.md``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock, Timeout

from ..errors import IndexCorruptError, IndexLockedError, NotFoundError
from . import backups
from .shards import (
    DATA_FILE_RE,
    LOCK_FILE,
    MANIFEST,
    TABLES,
    TMP_FILE_RE,
    asset_key,
    decode_delta,
    decode_shard,
    decode_table,
    delta_file_name,
    empty_manifest,
    encode_delta,
    encode_shard,
    encode_table,
    load_manifest,
    shard_file_name,
    table_file_name,
)
from .storage import corrupt_error, fsync_dir, write_bytes_atomic

SHARD_MAX_DOCS = 4000
"""New assets go to the newest shard until it holds this many documents."""
MAX_EVENTS = 5000
"""Only the newest events are kept."""
REWRITE_FRACTION = 4
"""A shard is rewritten when at least 1/REWRITE_FRACTION of it changed, else its changes go to a delta."""
COMPACT_MIN_DOCS = 8000
"""Deltas are folded back into their shards when they hold more than max(this, assets/8) entries."""
MAX_DELTAS = 16
"""... or when there are more than this many delta segments."""

_KEY_FIELDS = ("connection", "provider_id")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextlib.contextmanager
def _gc_paused(promote: bool = False) -> Iterator[None]:
    """Pause the cyclic GC while parsing: it would rescan every new dict (3x slower loads).

    With ``promote``, the parsed documents then move straight to the oldest GC generation
    (``freeze`` + ``unfreeze``: two list splices) instead of being scanned by the next young
    collection; skipped if the host process uses ``gc.freeze`` itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if promote and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (orjson round trip: fast, and proves it is JSON)."""
    return orjson.loads(orjson.dumps(value))


def _json_copy(doc: Any, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise TypeError(f"{what} must be a dict, not {type(doc).__name__}")
    try:
        return orjson.loads(orjson.dumps(doc))
    except TypeError as exc:
        raise TypeError(f"{what} is not JSON-serialisable: {exc}") from exc


@dataclass
class _Shard:
    sid: int
    file: str | None  # None: not on disk yet
    gen: int  # generation the file was written at
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)


class Transaction:
    """A batch of changes committed at once, under one hold of the index lock.

    Obtained from :meth:`LibraryIndex.transaction`; has the index's mutating methods. Changes
    are visible to reads in the same thread at once and to everyone else after the commit.
    """

    def __init__(self, index: LibraryIndex) -> None:
        self._ix = index
        self.dirty_tables: set[str] = set()
        self.dirty_shards: set[int] = set()
        # (shard id, key) -> document, or None for a removal
        self.changes: dict[tuple[int, str], dict[str, Any] | None] = {}
        self.active = True

    def _check(self) -> None:
        if not self.active:
            raise RuntimeError("this transaction is finished")

    # -- connections ---------------------------------------------------------------------
    def put_connection(self, doc: dict[str, Any]) -> None:
        """Insert or replace the connection named ``doc["name"]`` (settings without secrets)."""
        self._check()
        stored = _json_copy(doc, "connection")
        if not isinstance(stored.get("name"), str) or not stored["name"]:
            raise ValueError("a connection needs a non-empty 'name'")
        self._ix._connections[stored["name"]] = stored
        self.dirty_tables.add("connections")

    def remove_connection(self, name: str) -> bool:
        """Remove a connection (not its assets); returns whether it existed."""
        self._check()
        if self._ix._connections.pop(name, None) is None:
            return False
        self.dirty_tables.add("connections")
        return True

    # -- assets ----------------------------------------------------------------------------
    def _put(self, key: str, doc: dict[str, Any]) -> None:
        ix = self._ix
        sid = ix._where.get(key)
        if sid is None:
            shard = ix._tail_shard()
            ix._where[key] = shard.sid
        else:
            shard = ix._shards[sid]
        shard.docs[key] = doc
        self.dirty_shards.add(shard.sid)
        self.changes[(shard.sid, key)] = doc

    def upsert_assets(self, docs: list[dict[str, Any]]) -> None:
        """Insert or update assets by (connection, provider_id); given fields replace stored ones."""
        self._check()
        batch = [_json_copy(d, "asset") for d in docs]
        for doc in batch:
            conn, pid = doc.get("connection"), doc.get("provider_id")
            if not isinstance(conn, str) or not conn or not isinstance(pid, str) or not pid:
                raise ValueError("an asset needs non-empty string 'connection' and 'provider_id'")
            if "/" in conn:
                raise ValueError(f"connection name {conn!r} must not contain '/'")
        for doc in batch:
            key = asset_key(doc["connection"], doc["provider_id"])
            old = self._ix._get(key)
            self._put(key, doc if old is None else {**old, **doc})

    def update_assets(self, connection: str, changes: dict[str, dict[str, Any]]) -> None:
        """Merge partial fields into existing assets; raises NotFoundError (changing nothing) if one is missing."""
        self._check()
        copies = {pid: _json_copy(f, "asset fields") for pid, f in changes.items()}
        found: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        missing: list[str] = []
        for pid, fields in copies.items():
            key = asset_key(connection, pid)
            old = self._ix._get(key)
            if old is None:
                missing.append(pid)
                continue
            for name in _KEY_FIELDS:
                if name in fields and fields[name] != old[name]:
                    raise ValueError(f"update_assets cannot change an asset's {name}")
            found.append((key, old, fields))
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise NotFoundError(f"no such asset in connection {connection!r}: {shown}")
        for key, old, fields in found:
            self._put(key, {**old, **fields})

    def remove_assets(self, connection: str, provider_ids: list[str]) -> None:
        """Remove assets; ids that are not in the index are ignored."""
        self._check()
        ix = self._ix
        for pid in provider_ids:
            key = asset_key(connection, pid)
            sid = ix._where.pop(key, None)
            if sid is None:
                continue
            del ix._shards[sid].docs[key]
            self.dirty_shards.add(sid)
            self.changes[(sid, key)] = None

    # -- runs, events, folders -----------------------------------------------------------
    def add_run(self, doc: dict[str, Any]) -> str:
        """Record a sync run; returns its id (``doc["id"]`` if given)."""
        self._check()
        stored = _json_copy(doc, "run")
        run_id = stored.get("id") or (
            datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        )
        if not isinstance(run_id, str):
            raise ValueError("a run id must be a string")
        stored["id"] = run_id
        stored.setdefault("started", _now())
        self._ix._runs[run_id] = stored
        self.dirty_tables.add("runs")
        return run_id

    def update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        """Merge fields into a run; raises NotFoundError if there is none with that id."""
        self._check()
        old = self._ix._runs.get(run_id)
        if old is None:
            raise NotFoundError(f"no sync run {run_id!r}")
        self._ix._runs[run_id] = {**old, **_json_copy(fields, "run fields"), "id": run_id}
        self.dirty_tables.add("runs")

    def add_event(self, doc: dict[str, Any]) -> None:
        """Append an event (``at`` defaults to now); only the newest MAX_EVENTS are kept."""
        self._check()
        stored = _json_copy(doc, "event")
        stored.setdefault("at", _now())
        events = self._ix._events
        events.append(stored)
        if len(events) > MAX_EVENTS:
            del events[: len(events) - MAX_EVENTS]
        self.dirty_tables.add("events")

    def ensure_folder(self, path: str) -> dict[str, Any]:
        """Create the library folder ``path`` (and its parents) if missing; returns it."""
        self._check()
        norm = _folder_path(path)
        parts = norm.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in self._ix._folders:
                self._ix._folders[sub] = {
                    "path": sub,
                    "name": parts[i - 1],
                    "parent": "/".join(parts[: i - 1]) or None,
                    "created": _now(),
                }
                self.dirty_tables.add("folders")
        return _copy(self._ix._folders[norm])


def _folder_path(path: str) -> str:
    parts = [p for p in str(path).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"bad folder path {path!r}")
    return "/".join(parts)


class LibraryIndex:
    """The local library index (assets, connections, sync runs, events, folders).

    Safe to use from several threads and several processes at once. Every mutating call is one
    atomic, durable commit; use :meth:`transaction` to batch several into one. Reads see other
    processes' commits (a cheap ``stat`` of the manifest on each call). Returned dicts are copies.
    """

    def __init__(self, directory: Path, *, lock_timeout: float = 30.0) -> None:
        """Use :meth:`open`."""
        self.directory = Path(directory)
        self._manifest_path = self.directory / MANIFEST
        self._lock_timeout = lock_timeout
        self._flock = FileLock(
            self.directory / LOCK_FILE,
            timeout=lock_timeout,
            poll_interval=0.002,
            preserve_lock_file=True,
        )
        self._mutex = threading.RLock()
        self._tx: Transaction | None = None
        self._tx_thread: int | None = None
        self._closed = False
        # loaded state
        self._manifest: dict[str, Any] = {}
        self._manifest_key: tuple[int, int, int, int] | None = None
        self._manifest_fd: int | None = None  # pins the inode so the stat key cannot be reused
        self._next_shard = 1
        self._shards: dict[int, _Shard] = {}
        self._where: dict[str, int] = {}
        self._deltas_loaded: set[str] = set()
        self._pending: dict[int, set[str]] = {}  # shard id -> keys changed by listed deltas
        self._raw_manifest = b""
        self._table_files: dict[str, str | None] = {t: None for t in TABLES}
        self._connections: dict[str, dict[str, Any]] = {}
        self._folders: dict[str, dict[str, Any]] = {}
        self._runs: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._meta: list[dict[str, Any]] = []

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path, *, lock_timeout: float = 30.0) -> LibraryIndex:
        """Open the index in ``directory``, creating an empty one if there is none.

        Raises :class:`IndexCorruptError` (naming the file and the latest backup) if any index
        file is unreadable, and :class:`IndexLockedError` if the lock is not free within
        ``lock_timeout`` seconds. Backs up the index when it changed since the last backup and
        removes leftovers of interrupted commits.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        index = cls(directory, lock_timeout=lock_timeout)
        try:
            with index._mutex, index._locked():
                if not index._manifest_path.exists():
                    index._create()
                index._refresh_locked()
                index._sweep()
                backups.make_backup(directory, index._manifest, index._raw_manifest)
        except BaseException:
            index._close_fd()
            raise
        return index

    @classmethod
    def restore(cls, directory: Path, backup: Path | None = None, *, lock_timeout: float = 30.0) -> Path:
        """Replace a damaged index with a backup (default: the latest).

        The damaged files are moved, untouched, into a ``damaged.<stamp>/`` folder, which is
        returned. Other processes must reopen the index afterwards.
        """
        directory = Path(directory)
        lock = FileLock(directory / LOCK_FILE, timeout=lock_timeout, preserve_lock_file=True)
        try:
            with lock:
                return backups.restore(directory, backup)
        except Timeout as exc:
            raise IndexLockedError(f"the index lock {directory / LOCK_FILE} is held by another process") from exc

    def _create(self) -> None:
        if any(DATA_FILE_RE.match(n) for n in os.listdir(self.directory)):
            raise self._corrupt(
                IndexCorruptError(f"index file {self._manifest_path} is missing but data files exist"),
                self._manifest_path,
            )
        token = secrets.token_hex(4)
        meta_name = table_file_name("meta", 0, token)
        write_bytes_atomic(
            self.directory / meta_name,
            encode_table("meta", [{"schema": 1, "created": _now()}]),
            sync_dir=False,
        )
        manifest = empty_manifest(token)
        manifest["tables"]["meta"] = meta_name
        write_bytes_atomic(self._manifest_path, orjson.dumps(manifest))

    def close(self) -> None:
        """Release file handles. The instance cannot be used afterwards."""
        with self._mutex:
            self._closed = True
            self._close_fd()

    def _pin(self, fd: int) -> None:
        """Keep the loaded manifest's inode open so its number cannot be reused by a later
        manifest with the same size and mtime (POSIX; Windows cannot replace open files)."""
        self._close_fd()
        if os.name == "posix":
            self._manifest_fd = fd
        else:
            os.close(fd)

    def _close_fd(self) -> None:
        if self._manifest_fd is not None:
            os.close(self._manifest_fd)
            self._manifest_fd = None

    def __enter__(self) -> LibraryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LibraryIndex({str(self.directory)!r}, assets={len(self._where)})"

    # -- locking and loading -------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self._flock.acquire()
        except Timeout as exc:
            raise IndexLockedError(
                f"another process held the index lock {self._flock.lock_file} for more than "
                f"{self._lock_timeout:g} s",
                hint="close the other damkit window or wait for its sync to finish",
            ) from exc
        try:
            yield
        finally:
            self._flock.release()

    def _corrupt(self, exc: IndexCorruptError, path: Path | None = None) -> IndexCorruptError:
        """The error to raise: names the damaged file and the latest backup."""
        path = path or getattr(exc, "path", None)
        latest = backups.latest_backup(self.directory)
        message = f"{exc.message}; latest backup: {latest if latest else 'none'}"
        hint = (
            "the damaged file was left untouched; `damkit library restore` puts the latest "
            "backup back and keeps the damaged files aside"
            if latest
            else "the damaged file was left untouched; no backup exists yet"
        )
        err = IndexCorruptError(message, hint=hint)
        err.path = path  # type: ignore[attr-defined]
        err.backup = latest  # type: ignore[attr-defined]
        return err

    def _read_manifest(self) -> tuple[dict[str, Any], bytes, tuple[int, int, int, int], int]:
        fd = os.open(self._manifest_path, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            raw = b"".join(chunks)
            manifest = load_manifest(self._manifest_path, raw)
        except BaseException:
            os.close(fd)
            raise
        return manifest, raw, (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size), fd

    def _stat_key(self) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(self._manifest_path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def _ensure_open(self) -> None:
        if self._closed:
            raise ValueError("the library index is closed")

    def _refresh_locked(self, *, force: bool = False) -> bool:
        """Load whatever changed since the last load. Caller holds the mutex."""
        if not force and self._manifest_key is not None and self._stat_key() == self._manifest_key:
            return False
        reloaded: set[int] = set()
        for attempt in range(20):
            try:
                manifest, raw, key, fd = self._read_manifest()
            except FileNotFoundError as exc:
                raise self._corrupt(
                    IndexCorruptError(f"index file {self._manifest_path} is missing"), self._manifest_path
                ) from exc
            except IndexCorruptError as exc:
                raise self._corrupt(exc, self._manifest_path) from exc
            try:
                big = len(manifest["shards"]) > 4  # a large (re)load: > ~16k documents
                with _gc_paused(promote=big):
                    self._apply(manifest, reloaded)
            except FileNotFoundError as exc:
                os.close(fd)
                # a writer superseded a file after we read the manifest: read the new one
                if self._stat_key() != key or attempt < 2:
                    continue
                missing = Path(exc.filename) if exc.filename else self._manifest_path
                raise self._corrupt(IndexCorruptError(f"index file {missing} is missing"), missing) from exc
            except IndexCorruptError as exc:
                os.close(fd)
                if self._stat_key() != key:
                    continue  # it changed under us; a half-read superseded file is no damage
                raise self._corrupt(exc) from exc
            except BaseException:
                os.close(fd)
                raise
            self._pin(fd)
            self._manifest_key = key
            self._manifest = manifest
            self._raw_manifest = raw
            self._next_shard = manifest["next_shard"]
            return True
        raise IndexLockedError("the index kept changing while it was being read; try again")

    def _apply(
        self,
        manifest: dict[str, Any],
        reloaded: set[int],
        force_shards: set[int] = frozenset(),  # type: ignore[assignment]
        force_tables: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        """Bring memory in line with ``manifest``, re-reading only files whose names changed."""
        d = self.directory
        for table in TABLES:
            name = manifest["tables"].get(table)
            if table in force_tables or name != self._table_files[table]:
                docs = decode_table(d / name, table) if name else []
                self._set_table(table, docs, d / name if name else None)
                self._table_files[table] = name
        listed = {s["id"]: s for s in manifest["shards"]}
        shards = self._shards
        removed: set[str] = set()  # keys that left a shard: their home is settled at the end
        for sid in [s for s in shards if s not in listed]:
            removed.update(shards.pop(sid).docs)
        for sid, entry in listed.items():
            shard = shards.get(sid)
            if shard is not None and shard.file == entry["file"] and sid not in force_shards:
                continue
            docs = decode_shard(d / entry["file"])
            if shard is not None:
                removed.update(shard.docs)
            shards[sid] = _Shard(sid, entry["file"], entry["gen"], docs)
            reloaded.add(sid)
        affected = set(reloaded)
        pending = self._pending
        for sid in list(pending):
            if sid not in shards:
                del pending[sid]
        for sid in reloaded:
            if sid in shards:
                pending[sid] = set()
        for seg in manifest["deltas"]:
            new = seg["file"] not in self._deltas_loaded
            if not new and not reloaded.intersection(seg["shards"]):
                continue
            gen = seg["gen"]
            for entry in decode_delta(d / seg["file"]):
                shard = shards.get(entry["shard"])
                if shard is None or shard.gen >= gen or (not new and shard.sid not in reloaded):
                    continue
                if entry["op"] == "put":
                    doc = entry["doc"]
                    key = asset_key(doc["connection"], doc["provider_id"])
                    shard.docs[key] = doc
                else:
                    key = entry["key"]
                    shard.docs.pop(key, None)
                    removed.add(key)
                affected.add(shard.sid)
                pending.setdefault(shard.sid, set()).add(key)
        self._deltas_loaded = {seg["file"] for seg in manifest["deltas"]}
        where = self._where
        for key in removed:
            sid = where.get(key)
            if sid is not None and (sid not in shards or key not in shards[sid].docs):
                del where[key]
        for sid in affected:
            shard = shards.get(sid)
            if shard is not None:
                where.update(dict.fromkeys(shard.docs, sid))

    def _set_table(self, table: str, docs: list[dict[str, Any]], path: Path | None) -> None:
        def keyed(field_name: str) -> dict[str, dict[str, Any]]:
            out = {}
            for doc in docs:
                value = doc.get(field_name)
                if not isinstance(value, str):
                    raise corrupt_error(Path(str(path)), f"is corrupt: {table} without {field_name!r}")
                out[value] = doc
            return out

        if table == "connections":
            self._connections = keyed("name")
        elif table == "folders":
            self._folders = keyed("path")
        elif table == "runs":
            self._runs = keyed("id")
        elif table == "events":
            self._events = docs
        else:
            self._meta = docs

    def _sweep(self) -> None:
        """Delete temp files and data files no manifest names (leftovers of crashes). Under the lock."""
        live = set(backups.manifest_files(self._manifest))
        for name in os.listdir(self.directory):
            if TMP_FILE_RE.match(name) or (DATA_FILE_RE.match(name) and name not in live):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / name)

    def refresh(self) -> bool:
        """Reload if another process committed since the last read; returns whether anything changed."""
        with self._mutex:
            self._ensure_open()
            if self._tx is not None and self._tx_thread == threading.get_ident():
                return False
            return self._refresh_locked()

    def _read(self) -> None:
        """Before every read: pick up other processes' commits (one stat when nothing changed)."""
        self._ensure_open()
        if self._tx is None:
            self._refresh_locked()

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Batch changes into one commit under one lock hold; rolled back if the block raises.

        Nested use in the same thread joins the outer transaction.
        """
        with self._mutex:
            self._ensure_open()
            if self._tx is not None:
                yield self._tx
                return
            with self._locked():
                self._refresh_locked()
                tx = Transaction(self)
                self._tx, self._tx_thread = tx, threading.get_ident()
                try:
                    yield tx
                    tx.active = False
                    if tx.dirty_shards or tx.dirty_tables:
                        self._commit(tx)
                except BaseException:
                    tx.active = False
                    self._rollback(tx)
                    raise
                finally:
                    self._tx, self._tx_thread = None, None

    def _tail_shard(self) -> _Shard:
        if self._shards:
            tail = self._shards[max(self._shards)]
            if len(tail.docs) < SHARD_MAX_DOCS:
                return tail
        sid = self._next_shard
        self._next_shard += 1
        shard = _Shard(sid, None, 0)
        self._shards[sid] = shard
        return shard

    def _rollback(self, tx: Transaction) -> None:
        self._next_shard = self._manifest["next_shard"]
        try:
            with _gc_paused():
                self._apply(self._manifest, set(), tx.dirty_shards, tx.dirty_tables)
        except BaseException:
            # could not restore memory from disk: forget everything, reload on next use
            self._shards.clear()
            self._where.clear()
            self._deltas_loaded = set()
            self._pending.clear()
            self._table_files = {t: None for t in TABLES}
            self._manifest_key = None
            raise

    def _commit(self, tx: Transaction) -> None:
        """Write changed files under new names, then replace the manifest (the commit point)."""
        old = self._manifest
        gen = old["generation"] + 1
        token = secrets.token_hex(4)
        d = self.directory
        written: list[str] = []
        superseded: list[str] = []
        tables = dict(old["tables"])
        pending = {sid: set(keys) for sid, keys in self._pending.items() if keys}
        try:
            for table in sorted(tx.dirty_tables):
                name = table_file_name(table, gen, token)
                write_bytes_atomic(d / name, encode_table(table, self._table_docs(table)), sync_dir=False)
                written.append(name)
                if tables.get(table):
                    superseded.append(tables[table])
                tables[table] = name

            # a shard is rewritten when much of it changed; light changes go to a delta segment
            per_shard = Counter(sid for sid, _ in tx.changes)
            rewrite: set[int] = set()
            for sid in tx.dirty_shards:
                shard = self._shards[sid]
                if shard.file is None or per_shard[sid] * REWRITE_FRACTION >= len(shard.docs):
                    rewrite.add(sid)
            delta_keys: dict[int, set[str]] = {}
            for sid, key in tx.changes:
                if sid not in rewrite:
                    delta_keys.setdefault(sid, set()).add(key)
            deltas = list(old["deltas"])
            if delta_keys:
                for sid, keys in delta_keys.items():
                    pending.setdefault(sid, set()).update(keys)
                total = sum(len(k) for sid, k in pending.items() if sid not in rewrite)
                if total > max(COMPACT_MIN_DOCS, len(self._where) // 8):
                    rewrite.update(pending)  # compaction: fold all deltas into their shards
                    delta_keys = {}
                elif len(deltas) >= MAX_DELTAS:
                    # merge every segment into one, written from memory
                    delta_keys = {sid: k for sid, k in pending.items() if sid not in rewrite}
                    superseded.extend(seg["file"] for seg in deltas)
                    deltas = []
            for sid in rewrite:
                pending.pop(sid, None)

            shard_list = {s["id"]: dict(s) for s in old["shards"]}
            for sid in sorted(rewrite):
                shard = self._shards.get(sid)
                if shard is None:
                    continue
                if shard.file:
                    superseded.append(shard.file)
                if not shard.docs:
                    shard_list.pop(sid, None)
                    continue
                name = shard_file_name(sid, gen, token)
                write_bytes_atomic(d / name, encode_shard(shard.docs.values()), sync_dir=False)
                written.append(name)
                shard_list[sid] = {"id": sid, "file": name, "gen": gen, "count": len(shard.docs)}
            if delta_keys:
                entries: list[dict[str, Any]] = []
                for sid in sorted(delta_keys):
                    docs = self._shards[sid].docs
                    for key in sorted(delta_keys[sid]):
                        doc = docs.get(key)
                        entries.append(
                            {"op": "put", "shard": sid, "doc": doc}
                            if doc is not None and self._where.get(key) == sid
                            else {"op": "del", "shard": sid, "key": key}
                        )
                name = delta_file_name(gen, token)
                write_bytes_atomic(d / name, encode_delta(entries), sync_dir=False)
                written.append(name)
                deltas.append({"file": name, "gen": gen, "shards": sorted(delta_keys), "count": len(entries)})
            # a segment is obsolete once each of its shards was rewritten after it (or is gone)
            kept = []
            for seg in deltas:
                if any(sid in shard_list and shard_list[sid]["gen"] < seg["gen"] for sid in seg["shards"]):
                    kept.append(seg)
                else:
                    superseded.append(seg["file"])
            manifest = {
                **old,
                "generation": gen,
                "commit": token,
                "next_shard": self._next_shard,
                "tables": tables,
                "shards": [shard_list[s] for s in sorted(shard_list)],
                "deltas": kept,
            }
            raw = orjson.dumps(manifest)
            fsync_dir(d)  # the new data files are durable before the manifest names them
            write_bytes_atomic(self._manifest_path, raw, sync_dir=False)  # the commit point
        except BaseException:
            for name in written:
                with contextlib.suppress(OSError):
                    os.unlink(d / name)
            raise
        fsync_dir(d)  # the manifest rename is durable before any superseded file goes
        # committed: memory already holds the new state; record what is on disk now
        for sid in rewrite:
            shard = self._shards.get(sid)
            if shard is None:
                continue
            if not shard.docs:
                del self._shards[sid]
            else:
                shard.file, shard.gen = shard_list[sid]["file"], gen
        for table in tx.dirty_tables:
            self._table_files[table] = tables[table]
        self._pending = pending
        self._deltas_loaded = {seg["file"] for seg in kept}
        self._manifest, self._raw_manifest = manifest, raw
        fd = os.open(self._manifest_path, os.O_RDONLY)
        st = os.fstat(fd)
        self._pin(fd)
        self._manifest_key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        for name in superseded:
            with contextlib.suppress(OSError):
                os.unlink(d / name)

    def _table_docs(self, table: str) -> list[dict[str, Any]]:
        if table == "connections":
            return list(self._connections.values())
        if table == "folders":
            return list(self._folders.values())
        if table == "runs":
            return list(self._runs.values())
        if table == "events":
            return self._events
        return self._meta

    def _get(self, key: str) -> dict[str, Any] | None:
        sid = self._where.get(key)
        return None if sid is None else self._shards[sid].docs[key]

    # -- connections ---------------------------------------------------------------------
    def get_connection(self, name: str) -> dict[str, Any] | None:
        """The connection's settings (without secrets), or ``None``."""
        with self._mutex:
            self._read()
            doc = self._connections.get(name)
            return None if doc is None else _copy(doc)

    def list_connections(self) -> list[dict[str, Any]]:
        """All connections, sorted by name."""
        with self._mutex:
            self._read()
            return _copy([self._connections[n] for n in sorted(self._connections)])

    def put_connection(self, doc: dict[str, Any]) -> None:
        """Insert or replace the connection named ``doc["name"]``."""
        with self.transaction() as tx:
            tx.put_connection(doc)

    def remove_connection(self, name: str) -> bool:
        """Remove a connection (its assets stay); returns whether it existed."""
        with self.transaction() as tx:
            return tx.remove_connection(name)

    # -- assets ----------------------------------------------------------------------------
    def get_asset(self, connection: str, provider_id: str) -> dict[str, Any] | None:
        """One asset by connection and provider id, or ``None``."""
        with self._mutex:
            self._read()
            doc = self._get(asset_key(connection, provider_id))
            return None if doc is None else _copy(doc)

    def assets(
        self,
        *,
        connection: str | None = None,
        provider: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        name_contains: str | None = None,
    ) -> list[dict[str, Any]]:
        """Assets matching every given filter (``tag``: exact tag; ``name_contains``: case-insensitive)."""
        needle = name_contains.casefold() if name_contains is not None else None
        with self._mutex:
            self._read()
            out = []
            prefix = f"{connection}/" if connection is not None else None
            for shard in self._shards.values():
                for key, doc in shard.docs.items():
                    if prefix is not None and not key.startswith(prefix):
                        continue
                    if provider is not None and doc.get("provider") != provider:
                        continue
                    if status is not None and doc.get("status") != status:
                        continue
                    if tag is not None:
                        tags = doc.get("tags")
                        if not isinstance(tags, list) or tag not in tags:
                            continue
                    if needle is not None and needle not in str(doc.get("name", "")).casefold():
                        continue
                    out.append(doc)
            return _copy(out)

    def asset_keys(self, connection: str) -> set[str]:
        """Provider ids of the connection's assets."""
        prefix = f"{connection}/"
        cut = len(prefix)
        with self._mutex:
            self._read()
            return {k[cut:] for k in self._where if k.startswith(prefix)}

    def upsert_assets(self, docs: list[dict[str, Any]]) -> None:
        """Insert or update assets (one commit); each doc has ``connection`` and ``provider_id``."""
        with self.transaction() as tx:
            tx.upsert_assets(docs)

    def update_assets(self, connection: str, changes: dict[str, dict[str, Any]]) -> None:
        """Merge partial fields into existing assets (one commit): provider id -> fields."""
        with self.transaction() as tx:
            tx.update_assets(connection, changes)

    def remove_assets(self, connection: str, provider_ids: list[str]) -> None:
        """Remove assets (one commit); unknown ids are ignored."""
        with self.transaction() as tx:
            tx.remove_assets(connection, provider_ids)

    def stats(self, connection: str | None = None) -> dict[str, Any]:
        """Counts: ``{"assets", "bytes", "by_status", "by_connection": {name: {...}}}``."""
        with self._mutex:
            self._read()
            per: dict[str, dict[str, Any]] = {}
            prefix = f"{connection}/" if connection is not None else None
            for shard in self._shards.values():
                for key, doc in shard.docs.items():
                    if prefix is not None and not key.startswith(prefix):
                        continue
                    entry = per.get(doc["connection"])
                    if entry is None:
                        entry = per[doc["connection"]] = {"assets": 0, "bytes": 0, "by_status": {}}
                    entry["assets"] += 1
                    size = doc.get("size")
                    if isinstance(size, int) and not isinstance(size, bool):
                        entry["bytes"] += size
                    st = str(doc.get("status"))
                    entry["by_status"][st] = entry["by_status"].get(st, 0) + 1
            total: dict[str, Any] = {"assets": 0, "bytes": 0, "by_status": {}}
            for entry in per.values():
                total["assets"] += entry["assets"]
                total["bytes"] += entry["bytes"]
                for st, n in entry["by_status"].items():
                    total["by_status"][st] = total["by_status"].get(st, 0) + n
            total["by_connection"] = {name: per[name] for name in sorted(per)}
            return total

    # -- runs and events -----------------------------------------------------------------
    def add_run(self, doc: dict[str, Any]) -> str:
        """Record a sync run; returns its id."""
        with self.transaction() as tx:
            return tx.add_run(doc)

    def update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        """Merge fields into a sync run; NotFoundError if it does not exist."""
        with self.transaction() as tx:
            tx.update_run(run_id, fields)

    def runs(self, connection: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Sync runs, newest first, optionally of one connection."""
        with self._mutex:
            self._read()
            out = [r for r in reversed(self._runs.values()) if connection is None or r.get("connection") == connection]
            return _copy(out if limit is None else out[:limit])

    def add_event(self, doc: dict[str, Any]) -> None:
        """Append an event (one commit)."""
        with self.transaction() as tx:
            tx.add_event(doc)

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest events, newest first."""
        with self._mutex:
            self._read()
            return _copy(self._events[-limit:][::-1]) if limit > 0 else []

    # -- folders -------------------------------------------------------------------------
    def folders(self) -> list[dict[str, Any]]:
        """Library folders, sorted by path."""
        with self._mutex:
            self._read()
            return _copy([self._folders[p] for p in sorted(self._folders)])

    def ensure_folder(self, path: str) -> dict[str, Any]:
        """The folder ``path`` (e.g. ``"DAM Import/acme"``), created with its parents if missing."""
        norm = _folder_path(path)
        with self._mutex:
            self._read()
            doc = self._folders.get(norm)
            if doc is not None:
                return _copy(doc)
        with self.transaction() as tx:
            return tx.ensure_folder(norm)

