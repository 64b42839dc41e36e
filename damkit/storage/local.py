"""The library as a local folder: ``<workspace>/DAM Import/<connection>/<file>`` (the default).

Downloads are written to ``DAM Import/<connection>/.partial/`` (the same file system, so the
final ``os.replace`` is atomic); the folders are fsynced before the index names their files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import LocalStorageError, local_storage_error
from ..index.storage import fsync_dir
from ..library import LIBRARY_FOLDER, connection_dir, inside, partial_dir
from . import LibraryStore, SizeOf, rel_path

_probed: dict[str, bool] = {}


def probe_case(folder: Path) -> bool:
    """True when ``folder``'s file system treats names that differ in case as one entry."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f".damkit-case-probe-{secrets.token_hex(6)}"
    lower = folder / name
    try:
        fd = os.open(lower, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return False  # cannot tell (read-only?): nothing will be written there anyway
    os.close(fd)
    try:
        return os.path.exists(folder / name.upper())
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lower)


class LocalStore(LibraryStore):
    """Library files in the workspace's ``DAM Import`` folder."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.library_dir = root / LIBRARY_FOLDER
        self._prefix = os.path.join(os.fspath(root), "")  # sizes are asked 10,000 times a re-sync

    @property
    def url(self) -> str:
        return str(self.library_dir)

    def path(self, rel: str) -> Path:
        """The file behind a record path (refuses one that would leave the library)."""
        return inside(self.root, rel)

    def check(self, rel: str) -> None:
        super().check(rel)
        self.path(rel)  # also refuses a symlink that leads out of the library

    def staging(self, connection: str) -> Path:
        return partial_dir(self.library_dir, connection)

    def publish(self, part: Path, rel: str) -> None:
        target = self.path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, target)

    def size(self, rel: str) -> int | None:
        try:
            return os.stat(self._prefix + rel).st_size  # a string join: pathlib costs 30 µs
        except (OSError, ValueError):
            return None

    def size_lookup(self, connection: str) -> SizeOf:
        return self.size  # stat, as the file system compares names (case, normalization)

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[BinaryIO]:
        with open(self.path(rel), "rb") as handle:
            yield handle

    def remove(self, rel: str) -> None:
        path = self.path(rel)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise local_storage_error(exc, path.parent) or LocalStorageError(
                f"cannot delete {path.name}: {exc.strerror or exc}", path=str(path),
                hint="close what holds the file, or delete it by hand") from None

    def files(self, connection: str) -> dict[str, int]:
        out: dict[str, int] = {}
        try:
            entries = list(os.scandir(connection_dir(self.library_dir, connection)))
        except FileNotFoundError:
            return out
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                out[rel_path(connection, entry.name)] = entry.stat(follow_symlinks=False).st_size
        return out

    def settle(self, rels: Iterable[str]) -> None:
        for folder in {(self.root / rel).parent for rel in rels}:
            with contextlib.suppress(OSError):
                fsync_dir(folder)

    def folds_case(self, connection: str) -> bool:
        """:func:`probe_case` on the connection's folder, once per folder and process."""
        folder = connection_dir(self.library_dir, connection)
        key = os.path.realpath(folder)
        if key not in _probed:
            _probed[key] = probe_case(folder)
        return _probed[key]

    def remove_connection(self, connection: str) -> None:
        shutil.rmtree(connection_dir(self.library_dir, connection), ignore_errors=True)


__all__ = ["LocalStore", "probe_case"]
