"""Where library files live: the local folder (the default) or an S3-compatible bucket.

The sync engine writes, reads and deletes library files only through a :class:`LibraryStore`,
so it has one code path for both. Files are named by their *record path*, the ``local_path`` of
an index record: ``"DAM Import/<connection>/<file>"`` (the names are made by
:mod:`damkit.library`, the same for every store).

The rules every store keeps:

* nothing partial is ever visible under a final name: a download is streamed to a local file in
  :meth:`LibraryStore.staging`, verified, and only then :meth:`LibraryStore.publish`-ed, in one
  step that is atomic for that file (``os.replace`` on disk; one ``PutObject`` of the whole
  body, or a multipart upload completed only after its last part, in a bucket);
* files are deleted only by prune, a rename upstream (the old name, once the new one is in
  place) or an explicit ``remove_connection(delete_files=True)``;
* no credential reaches a repr, a log or an error (:attr:`LibraryStore.url` has none).

Choose one with :func:`open_store` (``library_url`` in the workspace config, or the
``DAMKIT_LIBRARY_URL`` environment variable).
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import urlsplit

from ..errors import SettingsError
from ..library import LIBRARY_FOLDER, connection_dir

ENV_LIBRARY_URL = "DAMKIT_LIBRARY_URL"
ENV_S3_ENDPOINT = "DAMKIT_S3_ENDPOINT_URL"
SERVER_EXTRA_HINT = "install the server extra: pip install 'damkit[server]'"

SizeOf = Callable[[str], int | None]


class LibraryStore(ABC):
    """Where library files live. Methods block (run them in a thread from async code)."""

    kind: str = ""

    @property
    @abstractmethod
    def url(self) -> str:
        """Where the library is, for people: a folder or ``s3://bucket/prefix`` (no secret)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def check(self, rel: str) -> None:
        """Raise ``ValueError`` when ``rel`` is not a path inside the library."""
        split_rel(rel)

    @abstractmethod
    def staging(self, connection: str) -> Path:
        """The local folder downloads of ``connection`` are written to before they are whole."""

    @abstractmethod
    def publish(self, part: Path, rel: str) -> None:
        """Make the finished, verified local file ``part`` the library file ``rel``, atomically
        (``part`` is consumed). Raises ``LocalStorageError`` when the storage refuses."""

    @abstractmethod
    def size(self, rel: str) -> int | None:
        """The byte count of library file ``rel``; None when it is absent."""

    @abstractmethod
    def size_lookup(self, connection: str) -> SizeOf:
        """A :meth:`size` for many files of one connection (a bucket is listed once)."""

    @abstractmethod
    def open(self, rel: str) -> AbstractContextManager[BinaryIO]:
        """Read library file ``rel`` (``OSError`` when it cannot)."""

    @abstractmethod
    def remove(self, rel: str) -> None:
        """Delete library file ``rel`` (absent is fine); ``LocalStorageError`` when refused."""

    @abstractmethod
    def files(self, connection: str) -> dict[str, int]:
        """Every final file of ``connection`` (nothing in staging): record path -> size."""

    def sweep(self, connection: str) -> int:
        """Remove what a killed run left in staging (call under the connection's sync lock)."""
        removed = 0
        try:
            entries = list(os.scandir(self.staging(connection)))
        except OSError:
            return 0
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    continue
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
        return removed

    def tidy(self, connection: str) -> None:
        """After a run: remove the staging folder when it is empty."""
        with contextlib.suppress(OSError):
            self.staging(connection).rmdir()

    def settle(self, rels: Iterable[str]) -> None:  # noqa: B027 - optional
        """Make published files durable before the index names them (a disk's folders)."""

    def folds_case(self, connection: str) -> bool:
        """Do names that differ only in case name one file here? (never in a bucket)"""
        return False

    @abstractmethod
    def remove_connection(self, connection: str) -> None:
        """Delete every file of ``connection`` (``damkit remove --delete-files``)."""


def split_rel(rel: str) -> tuple[str, str]:
    """``"DAM Import/<connection>/<file>"`` -> ``(connection, file)``; refuses anything else."""
    path = PurePosixPath(str(rel).replace("\\", "/"))
    parts = path.parts
    if (path.is_absolute() or len(parts) != 3 or parts[0] != LIBRARY_FOLDER
            or any(p in ("", ".", "..") for p in parts)):
        raise ValueError(f"path escapes the library: {str(rel)!r}")
    connection_dir(Path("."), parts[1])  # a plain, safe folder name
    return parts[1], parts[2]


def rel_path(connection: str, name: str) -> str:
    return f"{LIBRARY_FOLDER}/{connection}/{name}"


def parse_library_url(value: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``; a clear error otherwise."""
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"'{text}' is not an s3://bucket/prefix URL (leave library_url unset "
                         "for the local folder)")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError("library_url is s3://bucket/prefix: no credentials, query or fragment "
                         "(credentials come from the AWS environment or config)")
    bucket = parts.netloc
    prefix = "/".join(p for p in parts.path.split("/") if p)
    if any(p in (".", "..") for p in prefix.split("/")):
        raise ValueError(f"'{text}': the prefix may not contain '.' or '..'")
    return bucket, prefix


def check_endpoint_url(value: str) -> str:
    """An S3-compatible server's address: http(s)://host[:port], without credentials."""
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{text}' is not an http(s):// address")
    if parts.username or parts.password or parts.query:
        raise ValueError("the S3 endpoint URL takes no credentials or query: they come from "
                         "the AWS environment or config")
    return text


def open_store(root: Path, *, library_url: str | None = None, endpoint_url: str | None = None,
               env: Mapping[str, str] | None = None) -> LibraryStore:
    """The store for a workspace at ``root``: ``DAMKIT_LIBRARY_URL`` (else ``library_url``),
    ``DAMKIT_S3_ENDPOINT_URL`` (else ``endpoint_url``); the local folder when neither is set.
    The variables are read from ``env`` over the process environment, as the index's are."""
    environ = os.environ if env is None else {**os.environ, **env}
    url = environ.get(ENV_LIBRARY_URL) or library_url
    if not url:
        from .local import LocalStore

        return LocalStore(root)
    source = ENV_LIBRARY_URL if environ.get(ENV_LIBRARY_URL) else "library_url"
    try:
        bucket, prefix = parse_library_url(url)
        endpoint = environ.get(ENV_S3_ENDPOINT) or endpoint_url
        endpoint = check_endpoint_url(endpoint) if endpoint else None
    except ValueError as exc:
        where = ("fix the environment variable (export DAMKIT_LIBRARY_URL=s3://bucket/prefix, "
                 "or unset it for the local folder)" if source == ENV_LIBRARY_URL else
                 "fix it (`damkit config set library_url s3://bucket/prefix`)")
        raise SettingsError(f"{source}: {exc}", hint=where) from None
    try:
        from .objects import ObjectStore
    except ImportError:
        raise SettingsError(f"{source} is {url.strip()}, but the S3 support is not installed",
                            hint=SERVER_EXTRA_HINT) from None
    return ObjectStore(root / "state", bucket, prefix, endpoint_url=endpoint)


def chunks(handle: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := handle.read(size):
        yield chunk


__all__ = ["ENV_LIBRARY_URL", "ENV_S3_ENDPOINT", "LibraryStore", "SizeOf", "check_endpoint_url",
           "chunks", "open_store", "parse_library_url", "rel_path", "split_rel"]
