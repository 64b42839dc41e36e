"""The library in an S3-compatible bucket: ``s3://bucket/prefix/<connection>/<file>`` (fsspec's
s3fs, the ``damkit[server]`` extra).

Publishing a file is one request that is atomic for its object: a ``PutObject`` of the whole body
(files under 16 MiB), or a multipart upload of 8 MiB parts that is *completed* only after its
last part; S3 shows an object under its key only once that request succeeds, so a reader never
sees part of a file, and a killed upload leaves no object at all. No staging key plus
copy-then-delete: S3 has no rename, a copy rewrites every byte and a kill between the copy and the
delete leaves a stray object, while the single request is already all-or-nothing. The body was
verified (size, provider checksum) in a local staging file before the upload, and botocore sends a
checksum of the body that the server checks. An upload killed before completion leaves an
invisible, incomplete multipart upload: the next run of the connection aborts those under its
prefix (:meth:`ObjectStore.sweep`).

Credentials come from the standard AWS chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE`` and ``~/.aws``, an instance role); ``endpoint_url`` points at an S3-compatible
server. They are never stored by damkit and never appear in a repr, a log or an error.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import s3fs
from botocore.exceptions import BotoCoreError

from ..errors import LocalStorageError
from ..library import connection_dir
from ..redact import redact, register_secret
from . import LibraryStore, SizeOf, rel_path, split_rel

CHUNK = 8 << 20  # multipart part size; bodies under 2 parts go in one PutObject
READ_BLOCK = 1 << 20
HINT = ("check that the bucket exists, that the AWS credentials (environment, AWS_PROFILE, "
        "~/.aws or the instance role) may list, read, write and delete under the prefix, and "
        "the endpoint URL (DAMKIT_S3_ENDPOINT_URL), then sync again: finished files are kept")
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class ObjectStore(LibraryStore):
    """Library files as objects of one bucket, under one prefix."""

    kind = "s3"

    def __init__(self, staging_root: Path, bucket: str, prefix: str, *,
                 endpoint_url: str | None = None) -> None:
        for name in _SECRET_ENV:  # masked in every log and error, should one ever echo it
            if os.environ.get(name):
                register_secret(os.environ[name])
        self.staging_root = staging_root
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self._fs: Any = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"ObjectStore({self.url!r}{where})"

    @property
    def fs(self) -> Any:
        """The s3fs file system, made on first use (no request before a file is touched)."""
        with self._lock:
            if self._fs is None:
                client = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
                self._fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False,
                                             client_kwargs=client)
            return self._fs

    # --- names --------------------------------------------------------------------------------

    def _folder(self, connection: str) -> str:
        return "/".join(p for p in (self.bucket, self.prefix, connection) if p)

    def key(self, rel: str) -> str:
        """``bucket/prefix/<connection>/<file>`` for a record path."""
        connection, name = split_rel(rel)
        return f"{self._folder(connection)}/{name}"

    def _refused(self, what: str, exc: BaseException) -> LocalStorageError:
        reason = redact(str(exc).strip() or type(exc).__name__)
        return LocalStorageError(f"the library bucket refused to {what} ({self.url}): {reason}",
                                 cause=type(exc).__name__, path=self.url, hint=HINT)

    # --- the interface ------------------------------------------------------------------------

    def staging(self, connection: str) -> Path:
        return connection_dir(self.staging_root, connection) / "partial"

    def publish(self, part: Path, rel: str) -> None:
        key = self.key(rel)
        kind, _ = mimetypes.guess_type(rel)
        extra = {"ContentType": kind} if kind else {}
        try:
            self.fs.put_file(str(part), key, chunksize=CHUNK, max_concurrency=1, **extra)
        except (OSError, BotoCoreError) as exc:
            raise self._refused("store a file", exc) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(part)

    def size(self, rel: str) -> int | None:
        try:
            info = self.fs.info(self.key(rel))
        except (FileNotFoundError, ValueError):  # absent, or not a library path
            return None
        except (OSError, BotoCoreError) as exc:
            raise self._refused("read a file's size", exc) from None
        return int(info["size"]) if info.get("type") == "file" else None

    def size_lookup(self, connection: str) -> SizeOf:
        return self.files(connection).get

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[BinaryIO]:
        with self.fs.open(self.key(rel), "rb", block_size=READ_BLOCK) as handle:
            yield cast(BinaryIO, handle)

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm_file(self.key(rel))
        except FileNotFoundError:
            pass
        except (OSError, BotoCoreError) as exc:
            raise self._refused("delete a file", exc) from None

    def files(self, connection: str) -> dict[str, int]:
        try:
            entries = self.fs.ls(self._folder(connection), detail=True)
        except FileNotFoundError:
            return {}
        except (OSError, BotoCoreError) as exc:
            raise self._refused("list the library", exc) from None
        return {rel_path(connection, e["name"].rsplit("/", 1)[-1]): int(e["size"])
                for e in entries if e.get("type") == "file"}

    def sweep(self, connection: str) -> int:
        """Local staging files, and the incomplete uploads of a killed run (invisible, but
        billed) under the connection's prefix."""
        removed = super().sweep(connection)
        folder = self._folder(connection).split("/", 1)
        prefix = (folder[1] if len(folder) > 1 else "") + "/"
        try:
            answer = self.fs.call_s3("list_multipart_uploads", Bucket=self.bucket, Prefix=prefix)
            for upload in answer.get("Uploads", []):
                self.fs.call_s3("abort_multipart_upload", Bucket=self.bucket,
                                Key=upload["Key"], UploadId=upload["UploadId"])
                removed += 1
        except (OSError, BotoCoreError) as exc:
            raise self._refused("list unfinished uploads", exc) from None
        return removed

    def remove_connection(self, connection: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._folder(connection), recursive=True)
        shutil.rmtree(self.staging(connection), ignore_errors=True)


__all__ = ["ObjectStore"]
