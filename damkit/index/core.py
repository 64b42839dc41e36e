"""Opening the index: the file lock, reading the manifest, picking up other processes' commits,
and running transactions. The concept modules (connections, assets, runs, folders, queries) build
the public API on top of :class:`IndexCore`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from ..errors import IndexCorruptError, IndexLockedError, local_storage_error
from ..oslock import FileLock, LockTimeout
from . import backups
from .batch import Batch, commit, rollback
from .shards import (
    DATA_FILE_RE,
    LOCK_FILE,
    MANIFEST,
    TMP_FILE_RE,
    empty_manifest,
    encode_table,
    load_manifest,
    table_file_name,
)
from .state import TRIM_EVERY, Doc, IndexState, gc_paused, give_back_memory, now_iso
from .storage import write_bytes_atomic

log = logging.getLogger("damkit.index")

if TYPE_CHECKING:
    from .transaction import Transaction

StatKey = tuple[int, int, int, int]


class IndexCore:
    """Lock, load and refresh; one :class:`IndexState` per instance, guarded by ``_mutex``."""

    _transaction_class: ClassVar[type[Batch]] = Batch  # the repository sets its Transaction

    def __init__(self, directory: Path, *, lock_timeout: float = 30.0) -> None:
        """Use :meth:`open`."""
        self.directory = Path(directory)
        self._manifest_path = self.directory / MANIFEST
        self._lock_timeout = lock_timeout
        self._flock = FileLock(
            self.directory / LOCK_FILE,
            timeout=lock_timeout,
            poll_interval=0.002,
        )
        self._mutex = threading.RLock()
        self._tx: Batch | None = None
        self._tx_thread: int | None = None
        self._closed = False
        self._st = IndexState(self.directory)
        self._manifest_key: StatKey | None = None
        self._manifest_fd: int | None = None  # pins the inode so the stat key cannot be reused

    @property
    def _manifest(self) -> Doc:
        """The manifest of the loaded state (read-only use)."""
        return self._st.manifest

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def _open(cls, directory: Path, *, lock_timeout: float) -> Any:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        index = cls(directory, lock_timeout=lock_timeout)
        try:
            with index._mutex, index._locked():
                if not index._manifest_path.exists():
                    index._create()
                index._refresh_locked()
                index._sweep()
                index._back_up_if_room()
        except BaseException:
            index._close_fd()
            raise
        return index

    def _back_up_if_room(self) -> None:
        """The backup on open, skipped when the disk refuses the write (full, read-only): opening
        the index must not need to write, so read-only commands work on a full disk. The backup
        is made by the next open that has room."""
        try:
            self._back_up()
        except OSError as exc:
            if local_storage_error(exc) is None:
                raise
            log.warning("index: no backup made on open (%s); the next open with room makes it",
                        exc.strerror or exc)

    def _back_up(self) -> None:
        """Back up the loaded commit if it is new; every file copied is parsed first, so no
        damaged file reaches a backup. When shards or deltas must be copied, they are parsed by
        loading the assets (this process then has them; later opens parse none)."""
        st = self._st
        copy = backups.to_copy(self.directory, st.manifest)
        if any(n.startswith(("assets-", "delta.")) for n in copy):
            self._need_assets()
        try:
            backups.make_backup(self.directory, st.manifest, st.raw_manifest,
                                assets_verified=st.assets_loaded and not st.unparsed())
        except IndexCorruptError as exc:
            raise self._corrupt(exc) from exc

    @classmethod
    def restore(cls, directory: Path, backup: Path | None = None, *, lock_timeout: float = 30.0) -> Path:
        """Replace a damaged index with a backup (default: the latest).

        The damaged files are moved, untouched, into a ``damaged.<stamp>/`` folder, which is
        returned. Other processes must reopen the index afterwards.
        """
        directory = Path(directory)
        lock = FileLock(directory / LOCK_FILE, timeout=lock_timeout)
        try:
            with lock:
                return backups.restore(directory, backup)
        except LockTimeout as exc:
            raise IndexLockedError(
                f"the index lock {directory / LOCK_FILE} is held by another process") from exc

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
            encode_table("meta", [{"schema": 1, "created": now_iso()}]),
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
            if self._st.assets_loaded:  # a long-lived process gets what the assets held back
                self._st.drop_assets()
                give_back_memory()

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

    def __repr__(self) -> str:
        assets = len(self._st.where) if self._st.assets_loaded else "not loaded"
        return f"LibraryIndex({str(self.directory)!r}, assets={assets})"

    # -- locking and loading -------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self._flock.acquire()
        except LockTimeout as exc:
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

    def _read_manifest(self) -> tuple[Doc, bytes, StatKey, int]:
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

    def _stat_key(self) -> StatKey | None:
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
                with gc_paused(promote=big):
                    self._st.apply(manifest, reloaded)
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
            self._st.manifest = manifest
            self._st.raw_manifest = raw
            self._st.next_shard = manifest["next_shard"]
            return True
        raise IndexLockedError("the index kept changing while it was being read; try again")

    def _sweep(self) -> None:
        """Delete temp files and data files no manifest names (leftovers of crashes). Under the lock."""
        live = set(backups.manifest_files(self._st.manifest))
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

    def _read(self, *, assets: bool = False, keys: Collection[str] | None = None) -> None:
        """Before every read: pick up other processes' commits (one stat when nothing changed).
        With ``assets``, every asset is then in memory (parsed on first use); with ``keys``,
        where every asset is (the shards' key tables) and the documents of those keys. Caller
        holds the mutex."""
        self._ensure_open()
        if self._tx is None:
            self._refresh_locked()
        if assets:
            self._need_assets()
        elif keys is not None:
            self._need_assets(keys)

    def _need_assets(self, keys: Collection[str] | None = None, shards: Collection[int] = ()) -> None:
        """Make assets readable (caller holds the mutex): the key table of every shard and the
        delta segments, once, so that where each asset is is known; then the documents of every
        shard (``keys`` None), or of the shards holding ``keys`` and of ``shards``, each parsed
        once.

        Opening reads only the manifest and the small tables, so that commands that touch no
        asset (a check, the connection list) parse nothing; a lookup parses one shard, not the
        whole library.
        """
        st = self._st
        for _ in range(20):
            try:
                if not st.assets_loaded:  # every shard at once when every asset is wanted
                    with gc_paused(promote=len(st.manifest["shards"]) > 4):
                        st.load_assets(parse=keys is None)
                if keys is None:
                    todo = st.unparsed()
                else:
                    where = st.where
                    todo = st.unparsed([where[k] for k in keys if k in where] + list(shards))
                if todo:
                    with gc_paused(promote=len(todo) > 4):
                        st.parse(todo)
                if st.parsed_since_trim >= TRIM_EVERY:
                    st.parsed_since_trim = 0
                    give_back_memory()
                return
            except (FileNotFoundError, IndexCorruptError) as exc:
                st.drop_assets()
                if self._tx is None and self._stat_key() != self._manifest_key:
                    self._refresh_locked()  # a writer superseded files meanwhile: read anew
                    continue
                if isinstance(exc, IndexCorruptError):
                    raise self._corrupt(exc) from exc
                missing = Path(exc.filename) if exc.filename else self._manifest_path
                raise self._corrupt(IndexCorruptError(f"index file {missing} is missing"), missing) from exc
            except BaseException:
                st.drop_assets()
                raise
        raise IndexLockedError("the index kept changing while it was being read; try again")

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Batch changes into one commit under one lock hold; rolled back if the block raises.

        Nested use in the same thread joins the outer transaction.
        """
        with self._mutex:
            self._ensure_open()
            if self._tx is not None:
                yield self._tx  # type: ignore[misc]
                return
            # no cyclic GC pass while the lock is held: a full pass over 100,000 loaded documents
            # costs about 0.2 s, and what a commit allocates is acyclic JSON; the pass runs after
            with self._locked(), gc_paused():
                self._refresh_locked()
                tx = self._transaction_class(self._st, self._need_assets)
                self._tx, self._tx_thread = tx, threading.get_ident()
                try:
                    yield tx  # type: ignore[misc]
                    tx.active = False
                    if not tx.empty:
                        commit(self._st, tx)
                        self._pin_current()
                except BaseException:
                    tx.active = False
                    try:
                        rollback(self._st, tx)
                    except BaseException:
                        self._manifest_key = None
                        raise
                    raise
                finally:
                    self._tx, self._tx_thread = None, None

    def _pin_current(self) -> None:
        """After our own commit: remember the manifest just written (no reload needed)."""
        fd = os.open(self._manifest_path, os.O_RDONLY)
        st = os.fstat(fd)
        self._pin(fd)
        self._manifest_key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


__all__ = ["IndexCore"]
