"""Assets in the index: one document per (connection, provider id), written in batches.

Point reads (``get_asset``, ``get_assets`` for a page of ids) and a stream over a connection's
assets (``iter_assets``) that hands out copies a chunk at a time, so a caller walking 100,000
assets never holds a second copy of the library.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import orjson

from ..errors import NotFoundError
from .batch import Batch
from .core import IndexCore
from .shards import asset_key
from .state import Doc, copy_json, json_copy

if TYPE_CHECKING:
    pass

KEY_FIELDS = ("connection", "provider_id")
STREAM_CHUNK = 1000
"""Documents copied per hold of the mutex while streaming."""


def _copies(docs: list[Doc]) -> list[Doc]:
    """Deep copies of a page of caller's documents: one orjson round trip for the page; when it
    fails, one per document, so that the error names what is wrong."""
    if isinstance(docs, list) and all(type(d) is dict for d in docs):
        try:
            return orjson.loads(orjson.dumps(docs))  # type: ignore[no-any-return]
        except TypeError:
            pass
    return [json_copy(d, "asset") for d in docs]


class AssetWrites(Batch):
    """Transaction methods for assets."""

    def upsert_assets(self, docs: list[Doc]) -> None:
        """Insert or update assets by (connection, provider_id); given fields replace stored ones."""
        self._check()
        self._need_assets((), ())
        batch = _copies(docs)
        keys = []
        for doc in batch:
            conn, pid = doc.get("connection"), doc.get("provider_id")
            if not isinstance(conn, str) or not conn or not isinstance(pid, str) or not pid:
                raise ValueError("an asset needs non-empty string 'connection' and 'provider_id'")
            if "/" in conn:
                raise ValueError(f"connection name {conn!r} must not contain '/'")
            keys.append(asset_key(conn, pid))
        self._need_assets(keys, ())
        where, shards = self._st.where, self._st.shards
        for key, doc in zip(keys, batch, strict=True):
            sid = where.get(key)
            shard = None if sid is None else shards[sid]
            if shard is not None and shard.parsed:  # an update: the common case, inline
                self._put_in(shard, key, {**shard.docs[key], **doc})
                continue
            old = self._stored(key)
            self._put(key, doc if old is None else {**old, **doc})

    def update_assets(self, connection: str, changes: dict[str, Doc]) -> None:
        """Merge partial fields into existing assets; raises NotFoundError (changing nothing) if one
        is missing."""
        self._check()
        copies = {pid: json_copy(f, "asset fields") for pid, f in changes.items()}
        self._need_assets([asset_key(connection, pid) for pid in copies], ())
        found: list[tuple[str, Doc, Doc]] = []
        missing: list[str] = []
        for pid, fields in copies.items():
            key = asset_key(connection, pid)
            old = self._stored(key)
            if old is None:
                missing.append(pid)
                continue
            for name in KEY_FIELDS:
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
        self._need_assets([asset_key(connection, pid) for pid in provider_ids], ())
        for pid in provider_ids:
            self._remove(asset_key(connection, pid))


class AssetReads(IndexCore):
    """Index methods for single assets, pages of assets and streams of assets."""

    def get_asset(self, connection: str, provider_id: str) -> Doc | None:
        """One asset by connection and provider id, or ``None``."""
        key = asset_key(connection, provider_id)
        with self._mutex:
            self._read(keys=(key,))
            doc = self._st.get(key)
            return None if doc is None else copy_json(doc)

    def get_assets(self, connection: str, provider_ids: Iterable[str]) -> dict[str, Doc]:
        """The assets of ``connection`` among ``provider_ids`` (one lookup for a page): id -> doc."""
        keys = {pid: asset_key(connection, pid) for pid in provider_ids}
        with self._mutex:
            self._read(keys=keys.values())
            found = {}
            for pid, key in keys.items():
                doc = self._st.get(key)
                if doc is not None:
                    found[pid] = doc
            return copy_json(found)  # type: ignore[no-any-return]

    def asset_keys(self, connection: str) -> set[str]:
        """Provider ids of the connection's assets."""
        prefix = f"{connection}/"
        cut = len(prefix)
        with self._mutex:
            self._read(keys=())
            return {k[cut:] for k in self._st.where if k.startswith(prefix)}

    def count_assets(self, connection: str | None = None) -> int:
        """How many assets the index holds (of one connection)."""
        with self._mutex:
            self._read(keys=())
            if connection is None:
                return len(self._st.where)
            prefix = f"{connection}/"
            return sum(1 for k in self._st.where if k.startswith(prefix))

    def iter_assets(self, connection: str | None = None, *, chunk: int = STREAM_CHUNK) -> Iterator[Doc]:
        """Every asset (of one connection), as copies, a chunk at a time.

        A snapshot: the documents committed when the walk starts (stored documents are replaced,
        never changed in place, so holding references costs one pointer per asset, not a copy).
        """
        prefix = f"{connection}/" if connection is not None else None
        with self._mutex:
            self._read(assets=True)
            refs = [
                doc
                for shard in self._st.shards.values()
                for key, doc in shard.docs.items()
                if prefix is None or key.startswith(prefix)
            ]
        for start in range(0, len(refs), chunk):
            part = refs[start : start + chunk]
            refs[start : start + chunk] = [None] * len(part)  # type: ignore[list-item]
            yield from copy_json(part)


__all__ = ["STREAM_CHUNK", "AssetReads", "AssetWrites"]
