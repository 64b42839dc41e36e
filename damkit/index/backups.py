"""Rotated backups of the library index, and restoring one.

A backup is a copy of the manifest (``backups/manifest.<UTC stamp>.<commit>.json``) plus copies
of the data files it names (``backups/objects/``). Data files are immutable and uniquely named,
so consecutive backups share them and a backup only copies files that changed since the last
one. Copies (not hard links) so that damage to a live file never reaches its backup.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import IndexCorruptError, NotFoundError
from .shards import (
    BACKUP_DIR,
    DATA_FILE_RE,
    MANIFEST,
    TMP_FILE_RE,
    decode_delta,
    decode_shard,
    decode_table,
    load_manifest,
)
from .storage import TMP_SUFFIX, corrupt_error, fsync_dir, write_bytes_atomic

KEEP_BACKUPS = 3


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S_%f")


def manifest_files(manifest: dict[str, Any]) -> list[str]:
    """Every data file a manifest refers to."""
    names = list(manifest["tables"].values())
    names += [s["file"] for s in manifest["shards"]]
    names += [d["file"] for d in manifest["deltas"]]
    return names


def list_backups(directory: Path) -> list[Path]:
    """Backup manifests of the index in ``directory``, newest first."""
    root = Path(directory) / BACKUP_DIR
    try:
        names = [n for n in os.listdir(root) if n.startswith("manifest.") and n.endswith(".json")]
    except FileNotFoundError:
        return []
    return [root / n for n in sorted(names, reverse=True)]


def latest_backup(directory: Path) -> Path | None:
    """The newest backup manifest, or ``None``."""
    backups = list_backups(directory)
    return backups[0] if backups else None


def _copy_durable(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.copy{TMP_SUFFIX}")
    try:
        shutil.copyfile(src, tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def verify_file(path: Path, manifest: dict[str, Any]) -> None:
    """Parse one data file the way the index reads it (IndexCorruptError if damaged)."""
    name = path.name
    if name.startswith("assets-"):
        decode_shard(path)
    elif name.startswith("delta."):
        decode_delta(path)
    else:
        table = next((t for t, f in manifest["tables"].items() if f == name), name.split(".")[0])
        decode_table(path, table)


def to_copy(directory: Path, manifest: dict[str, Any]) -> list[str]:
    """The data files a backup of ``manifest`` would copy (none when it is backed up already)."""
    newest = latest_backup(directory)
    if manifest["generation"] == 0 or (
        newest is not None and newest.name.endswith(f".{manifest['commit']}.json")
    ):
        return []
    objects = Path(directory) / BACKUP_DIR / "objects"
    return [n for n in manifest_files(manifest) if not (objects / n).exists()]


def make_backup(directory: Path, manifest: dict[str, Any], raw_manifest: bytes, *,
                assets_verified: bool = False) -> Path | None:
    """Back up the current state unless the newest backup already holds this commit.

    The caller holds the index lock and has loaded ``manifest`` successfully. Every file copied
    is parsed first (raises IndexCorruptError naming it), shards and deltas unless the caller
    has just loaded them (``assets_verified``): a damaged file never reaches a backup.
    Files already in the backup are not copied again. Keeps the newest :data:`KEEP_BACKUPS`
    backups and deletes objects no kept backup refers to.
    """
    directory = Path(directory)
    root = directory / BACKUP_DIR
    objects = root / "objects"
    newest = latest_backup(directory)
    commit = str(manifest["commit"])
    if newest is not None and newest.name.endswith(f".{commit}.json"):
        return None
    if manifest["generation"] == 0:
        return None  # a new, empty index
    objects.mkdir(parents=True, exist_ok=True)
    for name in manifest_files(manifest):
        if not (objects / name).exists():
            if not (assets_verified and name.startswith(("assets-", "delta."))):
                verify_file(directory / name, manifest)
            _copy_durable(directory / name, objects / name)
    fsync_dir(objects)
    target = root / f"manifest.{_stamp()}.{commit}.json"
    write_bytes_atomic(target, raw_manifest)
    _prune(directory)
    return target


def _prune(directory: Path) -> None:
    root = Path(directory) / BACKUP_DIR
    backups = list_backups(directory)
    for old in backups[KEEP_BACKUPS:]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    keep: set[str] = set()
    for path in backups[:KEEP_BACKUPS]:
        try:
            keep.update(manifest_files(load_manifest(path, path.read_bytes())))
        except (OSError, IndexCorruptError):
            return  # never delete objects while a kept backup cannot be read
    objects = root / "objects"
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(objects):
            if (DATA_FILE_RE.match(name) and name not in keep) or TMP_FILE_RE.match(name):
                with contextlib.suppress(FileNotFoundError):
                    (objects / name).unlink()


def verify_files(directory: Path, manifest: dict[str, Any]) -> None:
    """Parse every file ``manifest`` names in ``directory`` (raises IndexCorruptError)."""
    for table, name in manifest["tables"].items():
        decode_table(directory / name, table)
    for shard in manifest["shards"]:
        decode_shard(directory / shard["file"])
    for delta in manifest["deltas"]:
        decode_delta(directory / delta["file"])


def index_files(directory: Path) -> Iterable[str]:
    """Names of the live index files in ``directory``: manifest, data files, temp files."""
    for name in os.listdir(directory):
        if name == MANIFEST or DATA_FILE_RE.match(name) or TMP_FILE_RE.match(name):
            yield name


def restore(directory: Path, backup: Path | None = None) -> Path:
    """Replace the live index with a backup. The caller holds the index lock.

    The damaged live files are moved, untouched, into ``damaged.<stamp>/``; that folder is
    returned. Raises :class:`NotFoundError` if there is no backup and
    :class:`IndexCorruptError` if the backup itself is unreadable.
    """
    directory = Path(directory)
    backup = backup or latest_backup(directory)
    if backup is None or not Path(backup).is_file():
        raise NotFoundError(f"no index backup found in {directory / BACKUP_DIR}")
    backup = Path(backup)
    raw = backup.read_bytes()
    manifest = load_manifest(backup, raw)
    objects = directory / BACKUP_DIR / "objects"
    for name in manifest_files(manifest):
        if not (objects / name).is_file():
            raise corrupt_error(objects / name, f"is missing (backup {backup} is incomplete)")
    verify_files(objects, manifest)
    aside = directory / f"damaged.{_stamp()}"
    aside.mkdir()
    moved: list[str] = []
    try:
        for name in list(index_files(directory)):
            os.replace(directory / name, aside / name)
            moved.append(name)
        fsync_dir(directory)
        for name in manifest_files(manifest):
            _copy_durable(objects / name, directory / name)
        fsync_dir(directory)
        write_bytes_atomic(directory / MANIFEST, raw)
    except BaseException:  # e.g. the disk is full: put the live files back, as they were
        for name in manifest_files(manifest):
            if name not in moved:
                with contextlib.suppress(OSError):
                    os.unlink(directory / name)
        for name in moved:
            os.replace(aside / name, directory / name)
        with contextlib.suppress(OSError):
            aside.rmdir()
        raise
    return aside


__all__ = [
    "KEEP_BACKUPS",
    "latest_backup",
    "list_backups",
    "make_backup",
    "manifest_files",
    "restore",
    "to_copy",
    "verify_file",
    "verify_files",
]
