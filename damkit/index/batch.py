"""The batch and commit machinery: what a transaction changed, and how it reaches the disk.

A :class:`Batch` records what changed in memory (tables, shards, asset keys). :func:`commit`
writes only that, under new file names (a rewritten shard, or a delta segment when a page touches
many shards lightly), then atomically replaces ``manifest.json``: the commit point. The caller
holds the inter-process lock. See ``docs/index.md`` ("Commit protocol").
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

import orjson

from . import tuning
from .shards import (
    MANIFEST,
    delta_file_name,
    encode_delta,
    encode_shard,
    encode_table,
    shard_file_name,
    table_file_name,
)
from .state import Doc, IndexState, Shard, gc_paused
from .storage import fsync_dir, write_bytes_atomic


class Batch:
    """The changes of one transaction, applied to memory at once and written by :func:`commit`."""

    def __init__(self, state: IndexState,
                 need_assets: Callable[[Collection[str] | None, Collection[int]], None]) -> None:
        self._st = state
        # where every asset is, and the documents of the given keys and shards (None: all)
        self._need_assets = need_assets
        self.dirty_tables: set[str] = set()
        self.dirty_shards: set[int] = set()
        # (shard id, key) -> document, or None for a removal
        self.changes: dict[tuple[int, str], Doc | None] = {}
        self.active = True

    def _check(self) -> None:
        if not self.active:
            raise RuntimeError("this transaction is finished")

    def _stored(self, key: str) -> Doc | None:
        """The stored document of ``key`` (its shard parsed on first use), or None."""
        sid = self._st.where.get(key)
        if sid is None:
            return None
        if not self._st.shards[sid].parsed:
            self._need_assets((), (sid,))
        return self._st.shards[sid].docs[key]

    def _put(self, key: str, doc: Doc) -> None:
        st = self._st
        sid = st.where.get(key)
        if sid is None:
            shard = st.tail_shard()
            if not shard.parsed:
                self._need_assets((), (shard.sid,))
            st.where[key] = shard.sid
        else:
            shard = st.shards[sid]
            if not shard.parsed:
                self._need_assets((), (sid,))
        self._put_in(shard, key, doc)

    def _put_in(self, shard: Shard, key: str, doc: Doc) -> None:
        """Store ``doc`` in ``shard`` (parsed, where ``key`` lives or goes) and record the change."""
        shard.put(key, doc)
        self.dirty_shards.add(shard.sid)
        self.changes[(shard.sid, key)] = doc

    def _remove(self, key: str) -> None:
        st = self._st
        sid = st.where.get(key)
        if sid is None:
            return
        if not st.shards[sid].parsed:
            self._need_assets((), (sid,))
        del st.where[key]
        st.shards[sid].delete(key)
        self.dirty_shards.add(sid)
        self.changes[(sid, key)] = None

    @property
    def empty(self) -> bool:
        """Nothing to write."""
        return not (self.dirty_shards or self.dirty_tables)


def rollback(state: IndexState, batch: Batch) -> None:
    """Reload what ``batch`` changed from the files the current manifest names."""
    state.next_shard = state.manifest["next_shard"]
    try:
        with gc_paused():
            state.apply(state.manifest, set(), batch.dirty_shards, batch.dirty_tables)
    except BaseException:
        state.forget()  # memory cannot be restored from disk: reload everything on next use
        raise


def _compaction(pending: dict[int, set[str]], state: IndexState, rewrite: set[int],
                total: int, limit: int) -> set[int]:
    """Shards whose pending deltas to fold back now, the most pending first: within the budget
    of COMPACT_DOCS_PER_COMMIT documents, or as many as it takes to get back under ``limit`` when
    the pending entries passed twice the limit (pages so large and spread that the budget cannot
    keep up: the bound on the deltas holds whatever the page shape)."""
    chosen: set[int] = set()
    budget = tuning.COMPACT_DOCS_PER_COMMIT
    catch_up = total > 2 * limit
    for sid in sorted(pending, key=lambda s: len(pending[s]), reverse=True):
        shard = state.shards.get(sid)
        if sid in rewrite or shard is None or not pending[sid]:
            continue
        if catch_up:
            if total <= limit:
                break
        elif chosen and shard.count > budget:
            break
        chosen.add(sid)
        budget -= shard.count
        total -= len(pending[sid])
    return chosen


def _live(state: IndexState, sid: int, seg_gen: int, rewrite: set[int]) -> bool:
    """Do a segment's entries for shard ``sid`` still count (the shard file predates it)?"""
    shard = state.shards.get(sid)
    return shard is not None and sid not in rewrite and shard.file is not None \
        and shard.gen < seg_gen


def _carried(state: IndexState, deltas: list[Doc], rewrite: set[int]) -> list[Doc]:
    """The segments whose live entries the new segment takes over, so that at most MAX_DELTAS
    stay listed: those with the fewest live entries (a segment dies by itself once each of its
    shards was rewritten after it). The new segment holds the current documents of every key it
    takes over and is listed last, so it wins over any older entry for those keys. A commit thus
    writes what it changed plus a few small segments' worth, never every pending entry."""
    live: list[tuple[int, int, Doc]] = []
    for i, seg in enumerate(deltas):
        held = state.seg_keys.get(seg["file"])
        if held is None:
            continue  # not read by this process (cannot happen once the assets are loaded)
        count = sum(len(k) for sid, k in held.items() if _live(state, sid, seg["gen"], rewrite))
        if count:
            live.append((count, i, seg))
    excess = len(live) + 1 - tuning.MAX_DELTAS
    if excess <= 0:
        return []
    return [seg for _, _, seg in sorted(live, key=lambda t: (t[0], t[1]))[:excess]]


def commit(state: IndexState, batch: Batch) -> None:
    """Write changed files under new names, then replace the manifest (the commit point).

    Memory already holds the new state; on return it also records what is on disk. On failure
    every file written so far is removed and the manifest is untouched.
    """
    old = state.manifest
    gen = old["generation"] + 1
    token = secrets.token_hex(4)
    d = state.directory
    written: list[str] = []
    superseded: list[str] = []
    tables = dict(old["tables"])
    pending = {sid: set(keys) for sid, keys in state.pending.items() if keys}
    try:
        for table in sorted(batch.dirty_tables):
            name = table_file_name(table, gen, token)
            write_bytes_atomic(d / name, encode_table(table, state.table_docs(table)), sync_dir=False)
            written.append(name)
            if tables.get(table):
                superseded.append(tables[table])
            tables[table] = name

        # a shard is rewritten when much of it changed; light changes go to a delta segment
        per_shard = Counter(sid for sid, _ in batch.changes)
        rewrite: set[int] = set()
        for sid in batch.dirty_shards:
            shard = state.shards[sid]
            if shard.file is None or per_shard[sid] * tuning.REWRITE_FRACTION >= shard.count:
                rewrite.add(sid)
        delta_keys: dict[int, set[str]] = {}
        for sid, key in batch.changes:
            if sid not in rewrite:
                delta_keys.setdefault(sid, set()).add(key)
        deltas = list(old["deltas"])
        if delta_keys:
            for sid, keys in delta_keys.items():
                pending.setdefault(sid, set()).update(keys)
            total = sum(len(k) for sid, k in pending.items() if sid not in rewrite)
            limit = max(tuning.COMPACT_MIN_DOCS, len(state.where) // 8)
            if total > limit:
                # compaction, a few shards per commit: the most pending entries first
                folded = _compaction(pending, state, rewrite, total, limit)
                rewrite |= folded
                delta_keys = {sid: k for sid, k in delta_keys.items() if sid not in folded}
            if delta_keys:
                # past MAX_DELTAS segments, the smallest ones are carried into the new one
                for seg in _carried(state, deltas, rewrite):
                    for sid, keys in state.seg_keys[seg["file"]].items():
                        if _live(state, sid, seg["gen"], rewrite):
                            delta_keys.setdefault(sid, set()).update(keys)
                    deltas.remove(seg)
                    superseded.append(seg["file"])
        for sid in rewrite:
            pending.pop(sid, None)

        # folded and carried shards are read in full (a no-op for those already parsed)
        if rewrite or delta_keys:
            batch._need_assets((), rewrite | set(delta_keys))
        shard_list = {s["id"]: dict(s) for s in old["shards"]}
        for sid in sorted(rewrite):
            rewritten = state.shards.get(sid)
            if rewritten is None:
                continue
            shard = rewritten
            if shard.file:
                superseded.append(shard.file)
            if not shard.docs:
                shard_list.pop(sid, None)
                continue
            name = shard_file_name(sid, gen, token)
            raw, head = encode_shard(shard.docs)
            write_bytes_atomic(d / name, raw, sync_dir=False)
            written.append(name)
            shard_list[sid] = {"id": sid, "file": name, "gen": gen, "count": len(shard.docs),
                               "head": head, "bytes": len(raw)}
        if delta_keys:
            entries: list[dict[str, Any]] = []
            for sid in sorted(delta_keys):
                docs = state.shards[sid].docs
                for key in sorted(delta_keys[sid]):
                    doc = docs.get(key)
                    entries.append(
                        {"op": "put", "shard": sid, "doc": doc}
                        if doc is not None and state.where.get(key) == sid
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
            "next_shard": state.next_shard,
            "tables": tables,
            "shards": [shard_list[s] for s in sorted(shard_list)],
            "deltas": kept,
        }
        raw = orjson.dumps(manifest)
        fsync_dir(d)  # the new data files are durable before the manifest names them
        write_bytes_atomic(d / MANIFEST, raw, sync_dir=False)  # the commit point
    except BaseException:
        for name in written:
            with contextlib.suppress(OSError):
                os.unlink(d / name)
        raise
    fsync_dir(d)  # the manifest rename is durable before any superseded file goes
    for sid in rewrite:
        done = state.shards.get(sid)
        if done is None:
            continue
        shard = done
        if not shard.docs:
            del state.shards[sid]
        else:
            shard.file, shard.gen = shard_list[sid]["file"], gen
    for table in batch.dirty_tables:
        state.table_files[table] = tables[table]
    state.pending = pending
    state.deltas_loaded = {seg["file"] for seg in kept}
    if delta_keys:
        state.seg_keys[deltas[-1]["file"]] = {sid: set(k) for sid, k in delta_keys.items()}
    state.seg_keys = {f: state.seg_keys[f] for f in state.deltas_loaded if f in state.seg_keys}
    state.manifest, state.raw_manifest = manifest, raw
    for name in superseded:
        with contextlib.suppress(OSError):
            os.unlink(d / name)


__all__ = ["Batch", "commit", "rollback"]
