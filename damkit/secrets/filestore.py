"""A secrets file: the whole-file JSON store that the encrypted and plaintext stores share."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import SecretStoreError
from ..redact import register_secret
from .base import Backend

#: Seconds to wait for another process holding the secrets file lock.
FILE_LOCK_TIMEOUT = 10.0


class FileBackend(Backend):
    """A whole-file JSON store: ``{"connections": {conn: {field: value}}}``.

    Every write happens under a sidecar file lock: reload from disk, change, write to a temporary
    file in the same folder (0600), fsync, ``os.replace``. Reads reload when another process
    replaced the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        self._lock = threading.RLock()
        self._data: dict[str, dict[str, str]] = {}
        self._stamp: tuple[int, int, int] | None = None

    # subclasses: bytes <-> data
    def _decode(self, raw: bytes) -> dict[str, dict[str, str]]:
        raise NotImplementedError

    def _encode(self, data: dict[str, dict[str, str]]) -> bytes:
        raise NotImplementedError

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self) -> None:
        """(Re)read the file if it changed since the last read. Raises SecretStoreError."""
        with self._lock:
            stamp = self._stat()
            if stamp == self._stamp and (stamp is not None or not self._data):
                return
            if stamp is None:
                self._data, self._stamp = {}, None
                return
            try:
                raw = self.path.read_bytes()
            except OSError as exc:
                raise SecretStoreError(f"cannot read {self.path}: {exc.strerror or exc}") from None
            data = self._decode(raw)
            for fields in data.values():
                for value in fields.values():
                    register_secret(value)
            self._data, self._stamp = data, stamp

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        from ..oslock import FileLock, LockTimeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path) + ".lock", timeout=FILE_LOCK_TIMEOUT)
        with self._lock:
            try:
                lock.acquire()
            except LockTimeout:
                raise SecretStoreError(
                    f"another damkit process held the lock on {self.path} for over "
                    f"{FILE_LOCK_TIMEOUT:g} s",
                    hint="retry when the other process is done",
                ) from None
            try:
                yield
            finally:
                lock.release()

    def _write(self, data: dict[str, dict[str, str]]) -> None:
        payload = self._encode(data)
        folder = self.path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                os.chmod(tmp, 0o600)  # mkstemp creates 0600 already; be explicit
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError, AttributeError):
            dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._data = data
        self._stamp = self._stat()

    def get(self, connection: str, field: str) -> str | None:
        with self._lock:
            self.load()
            return self._data.get(connection, {}).get(field)

    def set(self, connection: str, field: str, value: str) -> None:
        with self._locked():
            self._stamp = None  # force a fresh read under the lock
            self.load()
            data = {c: dict(f) for c, f in self._data.items()}
            data.setdefault(connection, {})[field] = value
            self._write(data)

    def delete_many(self, connection: str, fields: list[str]) -> None:
        with self._lock:
            if not self.path.exists():
                return
        with self._locked():
            self._stamp = None
            self.load()
            current = self._data.get(connection, {})
            if not any(f in current for f in fields):
                return
            data = {c: dict(f) for c, f in self._data.items()}
            for f in fields:
                data[connection].pop(f, None)
            if not data[connection]:
                del data[connection]
            self._write(data)


def check_data(obj: Any, path: Path) -> dict[str, dict[str, str]]:
    conns = obj.get("connections") if isinstance(obj, dict) else None
    if not isinstance(conns, dict) or not all(
        isinstance(f, dict) and all(isinstance(v, str) for v in f.values()) for f in conns.values()
    ):
        raise SecretStoreError(f"{path} is not a damkit secrets file (unexpected content)",
                               hint="restore it from a backup, or move it away to start afresh")
    return {str(c): dict(f) for c, f in conns.items()}


__all__ = ["FILE_LOCK_TIMEOUT", "FileBackend", "check_data"]
