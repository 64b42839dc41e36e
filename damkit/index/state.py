"""The index held in memory, and how it follows the manifest on disk.

:class:`IndexState` is what one process has loaded: the small tables, the manifest they came
from and, once an asset is first read or written (:meth:`IndexState.load_assets`), the asset
shards (key -> document) and where each key lives. :meth:`IndexState.apply` brings it in line
with a (newer) manifest, re-reading only the files whose names changed. No locking here: the
repository holds its mutex (and, for writes, the file lock) around every call.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from . import tuning
from .columns import TagColumn
from .shards import (
    TABLES,
    asset_key,
    decode_delta,
    decode_shard,
    decode_shard_keys,
    decode_table,
)
from .storage import corrupt_error

Doc = dict[str, Any]


def now_iso() -> str:
    """UTC now, milliseconds, ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextlib.contextmanager
def gc_paused(promote: bool = False) -> Iterator[None]:
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


TRIM_EVERY = 8
"""Shards parsed between two returns of free memory to the OS (:func:`give_back_memory`)."""

_trim: Any = None  # glibc's malloc_trim once looked up; False where there is none


def give_back_memory() -> None:
    """Hand the allocator's free pages back to the OS (glibc's ``malloc_trim``; elsewhere
    nothing). A parsed shard's documents are allocated among the parse's own short-lived
    buffers; once those are freed glibc keeps the holes between the documents, so a library read
    shard by shard held 8-25 MB more (at 100,000 assets, depending on the order of the reads)
    than one read at once, and a closed index kept most of what it had held. A trim takes
    1-4 ms."""
    global _trim
    if _trim is None:
        try:
            import ctypes

            _trim = ctypes.CDLL(None).malloc_trim
        except (ImportError, OSError, AttributeError, TypeError):  # not glibc (macOS, Windows, musl)
            _trim = False
    if _trim:
        _trim(0)


def copy_json(value: Any) -> Any:
    """A deep copy of JSON data (orjson round trip: fast, and proves it is JSON).

    A large copy (a query's matches, a page) pauses the cyclic GC like a load does: what it
    allocates is acyclic, and a full pass over a loaded library (about 0.2 s at 100,000 assets)
    would otherwise land in whichever read happens to cross the threshold.
    """
    if not isinstance(value, (list, dict)) or len(value) < 64:
        return orjson.loads(orjson.dumps(value))
    with gc_paused():
        return orjson.loads(orjson.dumps(value))


def json_copy(doc: Any, what: str) -> Doc:
    """A deep copy of a caller's document; TypeError naming ``what`` if it is not a JSON object."""
    if not isinstance(doc, dict):
        raise TypeError(f"{what} must be a dict, not {type(doc).__name__}")
    try:
        out: Doc = orjson.loads(orjson.dumps(doc))
    except TypeError as exc:
        raise TypeError(f"{what} is not JSON-serialisable: {exc}") from exc
    return out


def folder_path(path: str) -> str:
    """A library folder path normalised to ``a/b/c``; ValueError for empty or ``..`` paths."""
    parts = [p for p in str(path).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"bad folder path {path!r}")
    return "/".join(parts)


@dataclass
class Shard:
    """One asset shard in memory: its documents once parsed, before that the keys it holds.

    A shard is first known by its key table (which assets it holds) and parsed on the first use
    of one of its documents; the changes of delta segments read meanwhile wait in ``overlay``.
    """

    sid: int
    file: str | None  # None: not on disk yet
    gen: int  # generation the file was written at
    docs: dict[str, Doc] = field(default_factory=dict)  # asset key -> document, once parsed
    keys: dict[str, None] | None = None  # until parsed: the keys it holds, in order
    listed: list[str] = field(default_factory=list)  # until parsed: its file's key table
    overlay: list[tuple[str, Doc | None]] = field(default_factory=list)  # until parsed
    cols: TagColumn | None = None  # the tags of its documents, built by a query by tag

    def tag_column(self) -> TagColumn:
        """The tag column of the (parsed) documents, built on first use."""
        if self.cols is None:
            self.cols = TagColumn(self.docs)
        return self.cols

    def put(self, key: str, doc: Doc) -> None:
        """Store ``doc`` under ``key`` (parsed shards only)."""
        self.docs[key] = doc
        self.cols = None  # the next query by tag builds it again

    def delete(self, key: str) -> None:
        """Remove ``key`` (parsed shards only; KeyError if absent)."""
        del self.docs[key]
        self.cols = None

    @property
    def parsed(self) -> bool:
        """Are the documents in memory?"""
        return self.keys is None

    def names(self) -> dict[str, Any]:
        """Its asset keys (a mapping keyed by them), parsed or not."""
        return self.docs if self.keys is None else self.keys

    @property
    def count(self) -> int:
        """How many assets it holds."""
        return len(self.docs if self.keys is None else self.keys)

    def change(self, key: str, doc: Doc | None) -> None:
        """Apply a delta entry: put ``doc`` (or remove the key, for None)."""
        if self.keys is None:
            if doc is not None:
                self.put(key, doc)
            elif key in self.docs:
                self.delete(key)
            return
        if doc is None:
            self.keys.pop(key, None)
        else:
            self.keys[key] = None
        self.overlay.append((key, doc))


class IndexState:
    """What this process has loaded of the index in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.manifest: Doc = {}
        self.raw_manifest = b""
        self.next_shard = 1
        self.assets_loaded = False  # the key tables are read on first use of an asset
        self.parsed_since_trim = 0  # shards parsed since free memory was last given back
        self.tag_queries = 0  # queries by tag so far: the tag columns are built from the second
        self.shards: dict[int, Shard] = {}
        self.where: dict[str, int] = {}  # asset key -> shard id
        self.deltas_loaded: set[str] = set()
        self.pending: dict[int, set[str]] = {}  # shard id -> keys changed by listed deltas
        # delta segment file -> shard id -> the keys it holds (files are immutable: read once)
        self.seg_keys: dict[str, dict[int, set[str]]] = {}
        self.table_files: dict[str, str | None] = {t: None for t in TABLES}
        self.connections: dict[str, Doc] = {}
        self.folders: dict[str, Doc] = {}
        self.runs: dict[str, Doc] = {}
        self.events: list[Doc] = []
        self.meta: list[Doc] = []

    # -- lookups -----------------------------------------------------------------------------
    def get(self, key: str) -> Doc | None:
        """The stored document of an asset key (not a copy), or None; its shard is parsed."""
        sid = self.where.get(key)
        if sid is None:
            return None
        shard = self.shards[sid]
        if shard.keys is not None:
            raise RuntimeError(f"shard {sid} is read before it is parsed")
        return shard.docs[key]

    def tail_shard(self) -> Shard:
        """The shard new assets go to (a new one once the newest is full)."""
        if self.shards:
            tail = self.shards[max(self.shards)]
            if tail.count < tuning.SHARD_MAX_DOCS:
                return tail
        sid = self.next_shard
        self.next_shard += 1
        shard = Shard(sid, None, 0)
        self.shards[sid] = shard
        return shard

    def table_docs(self, table: str) -> list[Doc]:
        """The documents of a small table, in file order."""
        if table == "connections":
            return list(self.connections.values())
        if table == "folders":
            return list(self.folders.values())
        if table == "runs":
            return list(self.runs.values())
        if table == "events":
            return self.events
        return self.meta

    def forget(self) -> None:
        """Drop everything loaded: the next refresh reloads from disk."""
        self.drop_assets(keep_loading=True)
        self.table_files = {t: None for t in TABLES}

    def drop_assets(self, *, keep_loading: bool = False) -> None:
        """Forget the shards (and, unless ``keep_loading``, that they are wanted)."""
        self.shards = {}
        self.where = {}
        self.deltas_loaded = set()
        self.pending = {}
        self.seg_keys = {}
        if not keep_loading:
            self.assets_loaded = False

    def load_assets(self, *, parse: bool = False) -> None:
        """Read the key table of every shard and every delta the current manifest names (first
        use of an asset): where each asset is, not the assets themselves (:meth:`parse`); with
        ``parse``, every shard whole instead (a first use that reads every asset).

        Raises like :meth:`apply`; the caller then calls :meth:`drop_assets`.
        """
        self.drop_assets()
        self.assets_loaded = True
        self._apply_assets(self.manifest, set(), frozenset(), parse=parse)

    def unparsed(self, sids: Iterable[int] | None = None) -> list[int]:
        """Which of ``sids`` (None: every shard) are not parsed yet."""
        shards = self.shards
        if sids is None:
            return [sid for sid, shard in shards.items() if shard.keys is not None]
        return [sid for sid in set(sids) if sid in shards and shards[sid].keys is not None]

    def parse(self, sids: Iterable[int]) -> None:
        """Parse the documents of shards known by their key tables, then apply the delta entries
        read meanwhile. Raises FileNotFoundError or IndexCorruptError like :meth:`apply`."""
        for sid in sids:
            shard = self.shards[sid]
            if shard.keys is None or shard.file is None:
                continue
            self.parsed_since_trim += 1
            # the assets alone are parsed, and must be the keys the file's key table listed
            docs = decode_shard(self.directory / shard.file, shard.listed)
            for key, doc in shard.overlay:
                if doc is None:
                    docs.pop(key, None)
                else:
                    docs[key] = doc
            # keyed by the strings ``where`` holds already, not a second copy of each key: the
            # same keys in the same order (the delta entries were applied to both alike)
            docs = dict(zip(shard.keys, docs.values(), strict=True))
            shard.docs, shard.keys, shard.listed = docs, None, []
            shard.overlay, shard.cols = [], None

    # -- loading -----------------------------------------------------------------------------
    def set_table(self, table: str, docs: list[Doc], path: Path | None) -> None:
        """Install a small table read from ``path`` (IndexCorruptError if a key field is missing)."""

        def keyed(field_name: str) -> dict[str, Doc]:
            out = {}
            for doc in docs:
                value = doc.get(field_name)
                if not isinstance(value, str):
                    raise corrupt_error(Path(str(path)), f"is corrupt: {table} without {field_name!r}")
                out[value] = doc
            return out

        if table == "connections":
            self.connections = keyed("name")
        elif table == "folders":
            self.folders = keyed("path")
        elif table == "runs":
            self.runs = keyed("id")
        elif table == "events":
            self.events = docs
        else:
            self.meta = docs

    def apply(
        self,
        manifest: Doc,
        reloaded: set[int],
        force_shards: frozenset[int] | set[int] = frozenset(),
        force_tables: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        """Bring memory in line with ``manifest``, re-reading only files whose names changed.

        ``reloaded`` collects the shard ids read from disk (kept across retries by the caller).
        Raises FileNotFoundError when a named file is gone (a writer superseded it meanwhile) and
        IndexCorruptError when one is damaged.
        """
        d = self.directory
        for table in TABLES:
            name = manifest["tables"].get(table)
            if table in force_tables or name != self.table_files[table]:
                docs = decode_table(d / name, table) if name else []
                self.set_table(table, docs, d / name if name else None)
                self.table_files[table] = name
        if self.assets_loaded:
            self._apply_assets(manifest, reloaded, force_shards)

    def _apply_assets(self, manifest: Doc, reloaded: set[int],
                      force_shards: frozenset[int] | set[int], *, parse: bool = False) -> None:
        d = self.directory
        listed = {s["id"]: s for s in manifest["shards"]}
        shards = self.shards
        removed: set[str] = set()  # keys that left a shard: their home is settled at the end
        for sid in [s for s in shards if s not in listed]:
            removed.update(shards.pop(sid).names())
        for sid, entry in listed.items():
            shard = shards.get(sid)
            if shard is not None and shard.file == entry["file"] and sid not in force_shards:
                continue
            path = d / entry["file"]
            # a shard this process had parsed is parsed again; any other is known by its keys
            parsed = parse or (shard is not None and shard.parsed)
            keys = None if parsed else decode_shard_keys(path, entry)
            if shard is not None:
                removed.update(shard.names())
            if keys is None:
                shards[sid] = Shard(sid, entry["file"], entry["gen"], decode_shard(path))
                self.parsed_since_trim += 1
            else:
                shards[sid] = Shard(sid, entry["file"], entry["gen"], keys=dict.fromkeys(keys),
                                    listed=keys)
            reloaded.add(sid)
        affected = set(reloaded)
        pending = self.pending
        for sid in list(pending):
            if sid not in shards:
                del pending[sid]
        for sid in reloaded:
            if sid in shards:
                pending[sid] = set()
        seg_keys = self.seg_keys
        for seg in manifest["deltas"]:
            new = seg["file"] not in self.deltas_loaded
            if not new and not reloaded.intersection(seg["shards"]):
                continue
            gen = seg["gen"]
            held: dict[int, set[str]] = {}
            for entry in decode_delta(d / seg["file"]):
                op, sid = entry["op"], entry["shard"]
                if op == "put":
                    doc = entry["doc"]
                    key = asset_key(doc["connection"], doc["provider_id"])
                else:
                    key = entry["key"]
                held.setdefault(sid, set()).add(key)
                shard = shards.get(sid)
                if shard is None or shard.gen >= gen or (not new and sid not in reloaded):
                    continue
                if op == "put":
                    shard.change(key, doc)
                else:
                    shard.change(key, None)
                    removed.add(key)
                affected.add(sid)
                pending.setdefault(sid, set()).add(key)
            seg_keys[seg["file"]] = held
        self.deltas_loaded = {seg["file"] for seg in manifest["deltas"]}
        self.seg_keys = {f: seg_keys[f] for f in self.deltas_loaded if f in seg_keys}
        where = self.where
        for key in removed:
            owner = where.get(key)
            if owner is not None and (owner not in shards or key not in shards[owner].names()):
                del where[key]
        for sid in affected:
            shard = shards.get(sid)
            if shard is not None:
                where.update(dict.fromkeys(shard.names(), sid))


__all__ = ["Doc", "IndexState", "Shard", "copy_json", "folder_path", "gc_paused",
           "give_back_memory", "json_copy", "now_iso"]
