"""The library index's repository API: round trips, batches, queries, stats, transactions.

Tests that take ``ix`` or ``index_location`` run on both backends (the file index and
PostgreSQL, tests/index_support.py); the others test the file index's own files, shards and lock.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
from tinydb import TinyDB

import damkit.index.tuning as repo
from damkit.errors import NotFoundError
from damkit.index import AtomicJSONStorage, LibraryIndex, Transaction, open_index

from index_support import generation, is_files


def asset(pid: str, conn: str = "acme", **fields: Any) -> dict[str, Any]:
    doc = {
        "connection": conn,
        "provider_id": pid,
        "provider": "bynder",
        "name": f"Photo {pid}.jpg",
        "type": "image",
        "size": 100,
        "checksum": None,
        "tags": ["dam"],
        "status": "new",
    }
    doc.update(fields)
    return doc


@pytest.fixture
def ix(index_location: str) -> Any:
    index = open_index(index_location)
    yield index
    index.close()


@pytest.fixture
def file_ix(tmp_path: Path) -> LibraryIndex:
    """The file index only: for tests of its files."""
    index = LibraryIndex.open(tmp_path / "index")
    yield index
    index.close()


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny shards and thresholds so that deltas, merges and compactions happen quickly."""
    monkeypatch.setattr(repo, "SHARD_MAX_DOCS", 20)
    monkeypatch.setattr(repo, "COMPACT_MIN_DOCS", 25)
    monkeypatch.setattr(repo, "MAX_DELTAS", 3)


def test_open_creates_empty_index(tmp_path: Path, index_location: str) -> None:
    if index_location.startswith("postgresql"):
        index = open_index(index_location)
        assert index.refresh() is False
        index.close()
        index = open_index(index_location)  # a second open finds the schema in place
    else:
        index = LibraryIndex.open(tmp_path / "new" / "index")
        assert (tmp_path / "new" / "index" / "manifest.json").is_file()
    assert index.assets() == [] and index.list_connections() == []
    assert index.stats() == {"assets": 0, "bytes": 0, "by_status": {}, "by_connection": {}}
    assert index.refresh() is False
    index.close()
    with pytest.raises(ValueError):
        index.assets()


def test_connections_round_trip(ix: LibraryIndex) -> None:
    ix.put_connection({"name": "acme", "provider": "bynder", "domain": "acme.bynder.com"})
    ix.put_connection({"name": "beta", "provider": "canto"})
    assert ix.get_connection("acme") == {"name": "acme", "provider": "bynder", "domain": "acme.bynder.com"}
    ix.put_connection({"name": "acme", "provider": "bynder", "domain": "new.bynder.com"})
    assert ix.get_connection("acme")["domain"] == "new.bynder.com"
    assert [c["name"] for c in ix.list_connections()] == ["acme", "beta"]
    assert ix.remove_connection("beta") is True
    assert ix.remove_connection("beta") is False
    assert ix.get_connection("beta") is None
    with pytest.raises(ValueError):
        ix.put_connection({"provider": "canto"})
    with pytest.raises(TypeError):
        ix.put_connection({"name": "x", "secret": object()})
    assert ix.get_connection("x") is None


def test_asset_round_trip_and_merge(ix: LibraryIndex) -> None:
    ix.upsert_assets([asset("1"), asset("2", tags=["a", "b"])])
    assert ix.get_asset("acme", "1") == asset("1")
    assert ix.get_asset("acme", "3") is None
    assert ix.get_asset("other", "1") is None
    ix.upsert_assets([{"connection": "acme", "provider_id": "1", "status": "synced"}])
    got = ix.get_asset("acme", "1")
    assert got["status"] == "synced" and got["name"] == "Photo 1.jpg"
    assert ix.asset_keys("acme") == {"1", "2"}
    assert ix.asset_keys("acm") == set()


def test_upsert_rejects_bad_docs_without_partial_writes(ix: LibraryIndex) -> None:
    with pytest.raises(ValueError):
        ix.upsert_assets([asset("1"), {"connection": "acme"}])
    with pytest.raises(ValueError):
        ix.upsert_assets([asset("1", conn="a/b")])
    with pytest.raises(TypeError):
        ix.upsert_assets([asset("1", extra={1, 2})])
    assert ix.assets() == []


def test_update_assets(ix: LibraryIndex) -> None:
    ix.upsert_assets([asset(str(i)) for i in range(10)])
    ix.update_assets("acme", {"3": {"status": "synced", "local_path": "DAM Import/acme/3.jpg"}, "4": {"status": "failed"}})
    assert ix.get_asset("acme", "3")["local_path"] == "DAM Import/acme/3.jpg"
    assert ix.get_asset("acme", "4")["status"] == "failed"
    with pytest.raises(NotFoundError):
        ix.update_assets("acme", {"5": {"status": "synced"}, "missing": {"status": "x"}})
    assert ix.get_asset("acme", "5")["status"] == "new"  # nothing applied
    with pytest.raises(ValueError):
        ix.update_assets("acme", {"5": {"provider_id": "6"}})


def test_remove_assets(ix: LibraryIndex) -> None:
    ix.upsert_assets([asset(str(i)) for i in range(10)] + [asset("1", conn="beta")])
    ix.remove_assets("acme", ["1", "2", "nope"])
    assert ix.asset_keys("acme") == {str(i) for i in range(10)} - {"1", "2"}
    assert ix.get_asset("beta", "1") is not None
    ix.upsert_assets([asset("1")])
    assert ix.get_asset("acme", "1") == asset("1")


def test_queries(ix: LibraryIndex) -> None:
    ix.upsert_assets(
        [
            asset("1", provider="bynder", status="synced", tags=["hero", "spring"], name="Hero Shot.JPG"),
            asset("2", provider="bynder", status="failed", tags=["hero"]),
            asset("3", provider="canto", conn="c2", status="synced", tags=["hero"]),
            asset("4", provider="bynder", status="synced", tags=["other"]),
            asset("5", provider="bynder", status="synced", tags=None),
        ]
    )
    pick = lambda docs: sorted(d["provider_id"] for d in docs)  # noqa: E731
    assert pick(ix.assets(tag="hero", provider="bynder", status="synced")) == ["1"]
    assert pick(ix.assets(tag="hero")) == ["1", "2", "3"]
    assert pick(ix.assets(connection="c2")) == ["3"]
    assert pick(ix.assets(connection="acme", status="synced")) == ["1", "4", "5"]
    assert pick(ix.assets(name_contains="hero shot")) == ["1"]
    assert pick(ix.assets(provider="percolate")) == []
    assert len(ix.assets()) == 5


def test_stats(ix: LibraryIndex) -> None:
    ix.upsert_assets(
        [asset("1", size=10, status="synced"), asset("2", size=5, status="new"), asset("3", conn="b", size=7, status="synced")]
    )
    stats = ix.stats()
    assert stats["assets"] == 3 and stats["bytes"] == 22
    assert stats["by_status"] == {"synced": 2, "new": 1}
    assert stats["by_connection"]["acme"] == {"assets": 2, "bytes": 15, "by_status": {"synced": 1, "new": 1}}
    assert ix.stats("b") == {
        "assets": 1,
        "bytes": 7,
        "by_status": {"synced": 1},
        "by_connection": {"b": {"assets": 1, "bytes": 7, "by_status": {"synced": 1}}},
    }


def test_stats_count_odd_values_alike(ix: LibraryIndex) -> None:
    """Statuses that are missing or no string, sizes that are no integer: both backends agree."""
    nameless = asset("1", size=4)
    del nameless["status"]
    ix.upsert_assets([nameless, asset("2", status=None, size=1.5), asset("3", status=3, size=True),
                      asset("4", status="ok", size="10"), asset("5", status="ok", size=2**40)])
    assert ix.stats() == {
        "assets": 5, "bytes": 4 + 2**40, "by_status": {"None": 2, "3": 1, "ok": 2},
        "by_connection": {"acme": {"assets": 5, "bytes": 4 + 2**40,
                                   "by_status": {"None": 2, "3": 1, "ok": 2}}},
    }
    assert [a["provider_id"] for a in ix.assets(status="ok")] == ["4", "5"]


def test_returned_dicts_are_copies(ix: LibraryIndex) -> None:
    doc = asset("1", tags=["a"])
    ix.upsert_assets([doc])
    doc["tags"].append("mutated-after-upsert")
    got = ix.get_asset("acme", "1")
    got["tags"].append("x")
    got["status"] = "hacked"
    ix.assets()[0]["tags"].append("y")
    ix.put_connection({"name": "acme", "opts": {"a": 1}})
    ix.get_connection("acme")["opts"]["a"] = 2
    ix.list_connections()[0]["opts"]["a"] = 3
    assert ix.get_asset("acme", "1") == asset("1", tags=["a"])
    assert ix.get_connection("acme") == {"name": "acme", "opts": {"a": 1}}
    rid = ix.add_run({"connection": "acme"})
    ix.runs()[0]["status"] = "x"
    ix.add_event({"kind": "e", "data": [1]})
    ix.events()[0]["data"].append(2)
    assert "status" not in ix.runs()[0] and ix.events()[0]["data"] == [1]
    assert ix.runs()[0]["id"] == rid


def test_runs_events_folders(ix: LibraryIndex) -> None:
    r1 = ix.add_run({"connection": "acme", "status": "running"})
    r2 = ix.add_run({"connection": "beta", "status": "running", "id": "fixed-id"})
    assert r2 == "fixed-id"
    ix.update_run(r1, {"status": "done", "synced": 3})
    runs = ix.runs()
    assert [r["id"] for r in runs] == [r2, r1]
    assert ix.runs("acme")[0]["status"] == "done" and ix.runs("acme")[0]["started"]
    assert len(ix.runs(limit=1)) == 1
    with pytest.raises(NotFoundError):
        ix.update_run("nope", {"status": "x"})
    for i in range(5):
        ix.add_event({"kind": "sns", "n": i})
    assert [e["n"] for e in ix.events(limit=3)] == [4, 3, 2]
    assert ix.events(limit=0) == []
    folder = ix.ensure_folder("DAM Import/acme/")
    assert folder["path"] == "DAM Import/acme" and folder["parent"] == "DAM Import"
    assert ix.ensure_folder("DAM Import/acme") == folder
    assert [f["path"] for f in ix.folders()] == ["DAM Import", "DAM Import/acme"]
    with pytest.raises(ValueError):
        ix.ensure_folder("DAM Import/../etc")


def test_events_are_capped(ix: LibraryIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repo, "MAX_EVENTS", 10)
    with ix.transaction() as tx:
        for i in range(25):
            tx.add_event({"n": i})
    assert [e["n"] for e in ix.events(limit=100)] == list(range(24, 14, -1))


def test_transaction_is_one_commit(ix: LibraryIndex) -> None:
    gen = generation(ix)
    with ix.transaction() as tx:
        if is_files(ix):
            assert isinstance(tx, Transaction)
        else:
            from damkit.index.postgres import PgTransaction

            assert isinstance(tx, PgTransaction)
        tx.put_connection({"name": "acme"})
        tx.upsert_assets([asset(str(i)) for i in range(5)])
        tx.update_assets("acme", {"1": {"status": "synced"}})
        tx.remove_assets("acme", ["4"])
        run = tx.add_run({"connection": "acme"})
        tx.update_run(run, {"status": "done"})
        tx.add_event({"kind": "sync"})
        tx.ensure_folder("DAM Import/acme")
        ix.upsert_assets([asset("nested")])  # joins the outer transaction
        assert ix.get_asset("acme", "1")["status"] == "synced"  # visible inside
    assert generation(ix) == gen + 1
    assert ix.asset_keys("acme") == {"0", "1", "2", "3", "nested"}
    with pytest.raises(RuntimeError):
        tx.add_event({"late": True})


def test_transaction_rolls_back_on_error(ix: LibraryIndex, index_location: str,
                                         small_shards: None) -> None:
    ix.put_connection({"name": "acme", "v": 1})
    ix.upsert_assets([asset(str(i)) for i in range(50)])
    before = ix.assets()
    other = open_index(index_location)
    with pytest.raises(KeyError), ix.transaction() as tx:
        tx.upsert_assets([asset(str(i), status="x") for i in range(45, 70)])
        tx.update_assets("acme", {"3": {"status": "y"}})
        tx.remove_assets("acme", ["0", "1", "30"])
        tx.put_connection({"name": "acme", "v": 2})
        tx.add_event({"kind": "lost"})
        raise KeyError("boom")
    assert ix.assets() == before
    assert ix.get_connection("acme") == {"name": "acme", "v": 1}
    assert ix.events() == []
    assert other.assets() == before
    # the instance still works after the rollback
    ix.upsert_assets([asset("60")])
    assert other.get_asset("acme", "60") == asset("60")
    assert len(open_index(index_location).assets()) == 51
    other.close()


def test_second_instance_sees_commits(ix: LibraryIndex, index_location: str) -> None:
    other = open_index(index_location)
    assert other.get_asset("acme", "1") is None
    ix.upsert_assets([asset("1")])
    assert other.get_asset("acme", "1") == asset("1")
    ix.put_connection({"name": "acme"})
    assert other.refresh() is True
    assert other.refresh() is False
    assert other.get_connection("acme") == {"name": "acme"}
    other.remove_assets("acme", ["1"])
    assert ix.get_asset("acme", "1") is None
    other.close()


def test_deltas_carries_and_compaction_keep_state(tmp_path: Path, small_shards: None) -> None:
    """Random updates go to delta segments; readers and fresh opens agree with the writer."""
    rng = random.Random(3)
    writer = LibraryIndex.open(tmp_path / "ix")
    reader = LibraryIndex.open(tmp_path / "ix")
    lagging = LibraryIndex.open(tmp_path / "ix")  # catches up on several commits at once
    expected: dict[str, dict[str, Any]] = {}
    seen_delta = seen_carry = seen_compaction = False
    for step in range(120):
        before = writer._manifest
        op = rng.random()
        if op < 0.3 or len(expected) < 30:
            docs = [asset(f"n{step}-{j}", size=step) for j in range(rng.randint(1, 8))]
            writer.upsert_assets(docs)
        elif op < 0.8:
            pids = rng.sample(sorted(expected), 3)
            writer.update_assets("acme", {p: {"status": f"s{step}"} for p in pids})
        elif op < 0.9:
            writer.remove_assets("acme", rng.sample(sorted(expected), 4))
        else:
            pids = rng.sample(sorted(expected), 2)
            with writer.transaction() as tx:
                tx.remove_assets("acme", pids)
                tx.upsert_assets([asset(pids[0], status="back")])  # re-added: may move shard
        expected = {d["provider_id"]: d for d in writer.assets()}
        deltas = writer._manifest["deltas"]
        assert len(deltas) <= 3  # MAX_DELTAS
        seen_delta |= bool(deltas)
        seen_carry |= _carried(before, writer._manifest)
        seen_compaction |= not deltas and step > 40
        got = {d["provider_id"]: d for d in reader.assets()}
        assert got == expected, step
        if step % 7 == 0:
            assert {d["provider_id"]: d for d in lagging.assets()} == expected, step
            assert len(lagging.asset_keys("acme")) == len(expected)
        if step % 20 == 0:
            fresh = LibraryIndex.open(tmp_path / "ix")
            assert {d["provider_id"]: d for d in fresh.assets()} == expected
            fresh.close()
    assert seen_delta and seen_carry and seen_compaction
    files = {n for n in os.listdir(tmp_path / "ix") if n.endswith(".json") and n != "manifest.json"}
    live = set(writer._manifest["tables"].values())
    live |= {s["file"] for s in writer._manifest["shards"]} | {d["file"] for d in writer._manifest["deltas"]}
    assert files == live  # superseded files are deleted
    assert all(s["count"] <= 20 for s in writer._manifest["shards"])


def _carried(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Did the commit from ``before`` to ``after`` drop a segment that still had live entries (a
    shard it names was not rewritten), i.e. carry them into the new segment?"""
    files = {s["id"]: s["file"] for s in after["shards"]}
    old_files = {s["id"]: s["file"] for s in before["shards"]}
    kept = {d["file"] for d in after["deltas"]}
    return any(
        seg["file"] not in kept and any(sid in files and files[sid] == old_files.get(sid)
                                        for sid in seg["shards"])
        for seg in before["deltas"]
    )


def test_segments_past_the_bound_are_carried_not_merged(tmp_path: Path, small_shards: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_DELTAS, a commit takes over the smallest segments' live entries: it writes its
    own changes plus at most an average segment's worth, never every pending entry at once."""
    monkeypatch.setattr(repo, "COMPACT_MIN_DOCS", 10_000)  # no compaction: only carries
    monkeypatch.setattr(repo, "MAX_DELTAS", 4)
    rng = random.Random(9)
    writer = LibraryIndex.open(tmp_path / "ix")
    reader = LibraryIndex.open(tmp_path / "ix")
    writer.upsert_assets([asset(str(i)) for i in range(400)])  # 20 shards of 20
    reader.assets()  # loaded: it follows the carries commit by commit
    carries = 0
    for step in range(80):
        before = writer._manifest
        pids = rng.sample(range(400), rng.randint(1, 6))  # light changes: deltas
        writer.update_assets("acme", {str(p): {"status": f"s{step}"} for p in pids})
        after = writer._manifest
        assert len(after["deltas"]) <= 4
        new = [d for d in after["deltas"] if d["gen"] == after["generation"]]
        assert len(new) == 1
        old = before["deltas"]
        if len(old) >= 3:
            assert new[0]["count"] <= len(pids) + sum(d["count"] for d in old) / len(old)
        carries += _carried(before, after)
        assert reader.assets() == writer.assets(), step
    assert carries > 20
    pending = sum(len(keys) for keys in writer._st.pending.values())
    assert pending > 60  # the entries live on in the segments, carried forward
    fresh = LibraryIndex.open(tmp_path / "ix")
    assert fresh.assets() == writer.assets()
    for ix in (fresh, reader, writer):
        ix.close()


def test_queries_by_tag_agree_with_a_scan(tmp_path: Path, small_shards: None) -> None:
    """From the second query by tag on, the shards' tag columns answer it: through changed,
    added and removed assets, odd tags (not a list, not strings, with the column's separator,
    repeated) and another process's commits, they find exactly what a scan of every document
    finds, in the same order."""
    rng = random.Random(5)
    odd: list[Any] = [None, "hero", {"hero": 1}, ["hero", "hero"], ["he", "ro"], [1, "hero"],
                      ["hero\x00x"], ["x\x00hero"], [], ["\x00"], [["hero"]]]
    ix = LibraryIndex.open(tmp_path / "ix")
    other = LibraryIndex.open(tmp_path / "ix")

    def expected(tag: str) -> list[str]:  # a scan, outside the index
        docs = ix.assets()
        return [d["provider_id"] for d in docs
                if isinstance(d.get("tags"), list) and tag in d["tags"]]

    def tags() -> Any:
        return rng.choice(odd) if rng.random() < 0.3 else rng.sample(["hero", "x", "y"], 2)

    ix.upsert_assets([asset(str(i), tags=tags()) for i in range(70)])
    for step in range(30):
        writer = ix if step % 3 else other
        pids = [str(rng.randrange(90)) for _ in range(rng.randint(1, 12))]
        if step % 5 == 4:
            writer.remove_assets("acme", pids)
        else:
            writer.upsert_assets([asset(p, tags=tags()) for p in pids])
        for tag in ("hero", "he", "\x00", "hero\x00x", "x\x00hero", "y"):
            got = [d["provider_id"] for d in ix.assets(tag=tag)]
            assert got == expected(tag), (step, tag)
    assert ix._st.tag_queries > 1 and any(s.cols is not None for s in ix._st.shards.values())
    # shards whose tags are all lists of strings, one of them with an empty tag beside a tag
    # that holds the separator (the SEP counts of the two would cancel out)
    ix.remove_assets("acme", [str(i) for i in range(90)])
    ix.upsert_assets([asset(str(i), tags=rng.sample(["hero", "x", "y", "z"], 2)) for i in range(40)]
                     + [asset("e", tags=[""]), asset("s", tags=["hero\x00x"]), asset("n", tags=[])])
    for tag in ("hero", "x", "", "\x00", "hero\x00x", "nope"):
        assert [d["provider_id"] for d in ix.assets(tag=tag)] == expected(tag), tag
        assert [d["provider_id"] for d in ix.assets(tag=tag)] == expected(tag), tag
    assert any(s.cols is not None and s.cols.postings for s in ix._st.shards.values())
    ix.close()
    other.close()


def test_a_lookup_parses_one_shard(tmp_path: Path, small_shards: None) -> None:
    """Opening parses no shard, counting reads the key tables alone, a lookup parses the one
    shard that holds the asset, and a query every shard."""
    directory = tmp_path / "ix"
    ix = LibraryIndex.open(directory)
    ix.upsert_assets([asset(str(i)) for i in range(100)])
    ix.update_assets("acme", {"7": {"status": "synced"}})  # a delta entry for a shard
    ix.close()
    LibraryIndex.open(directory).close()  # the backup parses everything it copies, once
    ix = LibraryIndex.open(directory)
    assert ix._st.shards == {}
    assert ix.count_assets() == 100
    assert not any(s.parsed for s in ix._st.shards.values())
    assert ix.get_asset("acme", "7")["status"] == "synced"
    assert [s.sid for s in ix._st.shards.values() if s.parsed] == [ix._st.where["acme/7"]]
    assert len(ix.assets()) == 100 and all(s.parsed for s in ix._st.shards.values())
    ix.close()


def test_free_memory_goes_back_every_few_shards_and_at_close(
        tmp_path: Path, small_shards: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading shard by shard gives the allocator's free pages back every TRIM_EVERY shards
    parsed, and closing drops the assets (then gives their memory back). On this platform
    (Linux, glibc) the trim is really there, not silently skipped."""
    import sys

    import damkit.index.core as core
    import damkit.index.state as state

    monkeypatch.setattr(core, "TRIM_EVERY", 2)
    directory = tmp_path / "ix"
    ix = LibraryIndex.open(directory)
    ix.upsert_assets([asset(str(i)) for i in range(100)])
    ix.close()
    LibraryIndex.open(directory).close()  # the backup parses everything it copies, once
    ix = LibraryIndex.open(directory)
    seen = []
    for i in range(100):
        assert ix.get_asset("acme", str(i)) is not None
        seen.append(ix._st.parsed_since_trim)
    assert sum(s.parsed for s in ix._st.shards.values()) == 5
    assert max(seen) == 1 and seen[-1] == 1  # 2 shards parsed: given back; 5 = 2 + 2 + 1
    ix.close()
    assert ix._st.shards == {} and ix._st.where == {} and not ix._st.assets_loaded
    if sys.platform.startswith("linux"):
        assert callable(state._trim)


def test_a_shard_whose_key_table_lies_stops_reads(tmp_path: Path, small_shards: None) -> None:
    """A shard file whose key table does not list its assets (same size, edited in place) is
    damage: the first read of one of its assets stops with IndexCorruptError naming it."""
    from damkit.errors import IndexCorruptError

    directory = tmp_path / "ix"
    ix = LibraryIndex.open(directory)
    ix.upsert_assets([asset(str(i)) for i in range(10)])
    ix.close()
    LibraryIndex.open(directory).close()
    ix = LibraryIndex.open(directory)
    shard = directory / ix._manifest["shards"][0]["file"]
    raw = shard.read_bytes()
    shard.write_bytes(raw.replace(b'"acme/3"', b'"acme/X"', 1))
    assert ix.count_assets() == 10  # the key table alone reads
    with pytest.raises(IndexCorruptError) as info:
        ix.get_asset("acme", "4")
    assert info.value.path == shard
    ix.close()


def test_files_are_tinydb_document_sets(file_ix: LibraryIndex) -> None:
    ix = file_ix
    ix.put_connection({"name": "acme", "provider": "bynder"})
    ix.upsert_assets([asset(str(i)) for i in range(3)])
    shard = ix.directory / ix._manifest["shards"][0]["file"]
    db = TinyDB(shard, storage=AtomicJSONStorage, access_mode="r")
    assert sorted(d["provider_id"] for d in db.table("assets").all()) == ["0", "1", "2"]
    conns = TinyDB(ix.directory / ix._manifest["tables"]["connections"], storage=AtomicJSONStorage)
    assert conns.table("connections").all() == [{"name": "acme", "provider": "bynder"}]
    assert oct((ix.directory / "manifest.json").stat().st_mode & 0o777) in ("0o644", "0o640", "0o600")


def test_atomic_storage_with_tinydb(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    db = TinyDB(path, storage=AtomicJSONStorage)
    db.insert({"a": 1})
    db.table("x").insert({"b": 2})
    assert TinyDB(path, storage=AtomicJSONStorage).table("x").all() == [{"b": 2}]
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_threads_share_one_instance_safely(ix: LibraryIndex, index_location: str) -> None:
    import threading

    ix.upsert_assets([asset("counter", n=0)])
    other = open_index(index_location)  # a second instance in the same process
    errors: list[BaseException] = []

    def work(index: LibraryIndex, name: str) -> None:
        try:
            for i in range(25):
                with index.transaction() as tx:
                    n = index.get_asset("acme", "counter")["n"]
                    tx.update_assets("acme", {"counter": {"n": n + 1}})
                    tx.upsert_assets([asset(f"{name}-{i}")])
                index.assets(status="new")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(ix if k % 2 else other, f"t{k}")) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ix.get_asset("acme", "counter")["n"] == 100
    assert len(ix.asset_keys("acme")) == 101
    other.close()


def test_lock_timeout_raises_index_locked(tmp_path: Path) -> None:
    import fcntl

    from damkit.errors import IndexLockedError

    index = LibraryIndex.open(tmp_path / "ix", lock_timeout=0.2)
    # the OS lock itself, taken as any other program would take it
    with open(tmp_path / "ix" / "index.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(IndexLockedError) as info:
            index.upsert_assets([asset("1")])
        assert "index.lock" in str(info.value)
        assert index.get_asset("acme", "1") is None  # reads never wait for the lock
    index.upsert_assets([asset("1")])
    assert index.get_asset("acme", "1") is not None
    index.close()


def test_a_writer_waits_for_another_then_index_locked(index_location: str) -> None:
    """A transaction open in one instance holds back the writes of another (up to
    ``lock_timeout``), never its reads."""
    from damkit.errors import IndexLockedError

    holder = open_index(index_location)
    waiter = open_index(index_location, lock_timeout=0.2)
    with holder.transaction() as tx:
        tx.upsert_assets([asset("held")])
        with pytest.raises(IndexLockedError):
            waiter.upsert_assets([asset("1")])
        assert waiter.get_asset("acme", "held") is None  # not committed yet; reads do not wait
    waiter.upsert_assets([asset("1")])
    assert {a["provider_id"] for a in holder.assets()} == {"held", "1"}
    holder.close()
    waiter.close()


def test_loading_restores_gc_state(tmp_path: Path, small_shards: None) -> None:
    import gc

    index = LibraryIndex.open(tmp_path / "ix")
    index.upsert_assets([asset(str(i)) for i in range(200)])  # > 4 shards: the "large load" path
    index.close()
    assert gc.isenabled()
    LibraryIndex.open(tmp_path / "ix").close()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        assert len(LibraryIndex.open(tmp_path / "ix").assets()) == 200
        assert not gc.isenabled()
    finally:
        gc.enable()
    index = LibraryIndex.open(tmp_path / "ix")
    with index.transaction() as tx:  # no cyclic GC pass while a commit holds the lock
        assert not gc.isenabled()
        tx.upsert_assets([asset("x")])
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), index.transaction():
        raise RuntimeError("rolled back")
    assert gc.isenabled()
    index.close()


def test_typed_records_beside_the_dicts(ix: LibraryIndex) -> None:
    from damkit.index import AssetRecord, ConnectionRecord, LibraryStats, RunRecord

    ix.put_connection({"name": "acme", "provider": "bynder", "settings": {"domain": "x"},
                       "secrets": {"token": "secret:env-only:acme/token"}, "future": [1]})
    rec = ix.connection_record("acme")
    assert isinstance(rec, ConnectionRecord) and rec.settings == {"domain": "x"}
    assert rec.model_extra == {"future": [1]}  # fields the model does not name survive
    assert ix.connection_record("nope") is None
    assert [c.name for c in ix.connection_records()] == ["acme"]
    ix.put_connection(rec.model_copy(update={"provider": "canto"}))  # a record goes back in
    assert ix.get_connection("acme") == {**rec.to_doc(), "provider": "canto"}

    ix.upsert_assets([asset("1", size=5), asset("2", status="synced", version=3)])
    one = ix.asset_record("acme", "1")
    assert isinstance(one, AssetRecord) and one.size == 5 and one.tags == ["dam"]
    assert ix.asset_record("acme", "9") is None
    assert [a.provider_id for a in ix.asset_records(status="synced")] == ["2"]
    assert sorted(a.provider_id for a in ix.iter_asset_records("acme")) == ["1", "2"]
    stats = ix.library_stats()
    assert isinstance(stats, LibraryStats) and stats.model_dump() == ix.stats()
    assert stats.by_connection["acme"].bytes == 105

    run_id = ix.add_run({"connection": "acme", "status": "running"})
    ix.update_run(run_id, {"status": "ok", "counts": {"downloaded": 2},
                           "errors": [{"asset_id": "3", "name": "x", "error": "HTTP 403"}]})
    run = ix.run_record(run_id)
    assert isinstance(run, RunRecord) and run.status == "ok" and run.counts == {"downloaded": 2}
    assert run.errors[0].error == "HTTP 403" and ix.run_records("acme")[0].id == run_id
    with pytest.raises(Exception):
        one.size = 6  # type: ignore[misc]  # records are frozen: write through the index


def test_pages_and_streams_of_assets(ix: LibraryIndex, small_shards: None) -> None:
    ix.upsert_assets([asset(str(i)) for i in range(50)] + [asset("x", conn="other")])
    assert ix.count_assets() == 51 and ix.count_assets("acme") == 50
    page = ix.get_assets("acme", ["3", "7", "nope"])
    assert sorted(page) == ["3", "7"] and page["3"] == asset("3")
    page["3"]["name"] = "changed"  # copies: the index is untouched
    assert ix.get_asset("acme", "3") == asset("3")
    walked = list(ix.iter_assets("acme", chunk=7))
    assert sorted(d["provider_id"] for d in walked) == sorted(str(i) for i in range(50))
    stream = ix.iter_assets("acme", chunk=7)
    first = next(stream)
    ix.remove_assets("acme", ["0", "1", "2"])  # a snapshot: the walk started before this
    assert len([first, *stream]) == 50
    assert len(list(ix.iter_assets())) == 48


def test_compaction_is_spread_over_commits(tmp_path: Path, small_shards: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """No commit folds more than COMPACT_DOCS_PER_COMMIT documents (at least one shard) back."""
    monkeypatch.setattr(repo, "COMPACT_DOCS_PER_COMMIT", 20)  # one shard per compacting commit
    monkeypatch.setattr(repo, "MAX_DELTAS", 50)
    rng = random.Random(5)
    ix = LibraryIndex.open(tmp_path / "ix")
    ix.upsert_assets([asset(str(i)) for i in range(200)])  # 10 shards of 20
    expected = {d["provider_id"]: d for d in ix.assets()}
    most_rewritten = 0
    for step in range(60):
        pids = rng.sample(sorted(expected), 3)  # light changes to three shards: deltas
        before = {s["id"]: s["file"] for s in ix._manifest["shards"]}
        ix.update_assets("acme", {p: {"status": f"s{step}"} for p in pids})
        after = {s["id"]: s["file"] for s in ix._manifest["shards"]}
        most_rewritten = max(most_rewritten, sum(before[s] != after[s] for s in after))
        for p in pids:
            expected[p] = {**expected[p], "status": f"s{step}"}
        pending = sum(len(keys) for keys in ix._st.pending.values())  # changes not yet folded
        assert pending <= 25 + 3, step  # stays at the threshold, never runs away
    assert most_rewritten == 1
    # pages too large and spread for the budget: compaction catches up, the bound holds
    peak = 0
    for step in range(12):
        pids = rng.sample(sorted(expected), 40)  # ~4 per shard of 20: deltas, not rewrites
        ix.update_assets("acme", {p: {"status": f"big{step}"} for p in pids})
        for p in pids:
            expected[p] = {**expected[p], "status": f"big{step}"}
        pending = sum(len(keys) for keys in ix._st.pending.values())
        peak = max(peak, pending)
        assert pending <= 2 * 25 + 40, step
    assert peak > 25  # the budget alone could not keep up: the catch-up did
    fresh = LibraryIndex.open(tmp_path / "ix")
    assert {d["provider_id"]: d for d in fresh.assets()} == expected
    fresh.close()
    ix.close()
