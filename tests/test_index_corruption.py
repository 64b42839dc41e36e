"""Corrupt or missing index files stop with IndexCorruptError; backups, restore, sweeping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import damkit.index.tuning as repo
from damkit.errors import IndexCorruptError, NotFoundError
from damkit.index import LibraryIndex, latest_backup, list_backups


def asset(pid: str, **fields: object) -> dict[str, object]:
    return {"connection": "acme", "provider_id": pid, "status": "new", "tags": ["t"], **fields}


def build(directory: Path, n: int = 30) -> None:
    """An index with data, a backup of it, and one more commit after the backup."""
    ix = LibraryIndex.open(directory)
    ix.put_connection({"name": "acme", "provider": "bynder"})
    ix.upsert_assets([asset(str(i)) for i in range(n)])
    ix.add_run({"connection": "acme"})
    ix.close()
    LibraryIndex.open(directory).close()  # backs up the state above
    ix = LibraryIndex.open(directory)
    ix.upsert_assets([asset("after-backup")])
    ix.close()


def manifest(directory: Path) -> dict:
    import orjson

    return orjson.loads((directory / "manifest.json").read_bytes())


def file_of(directory: Path, what: str) -> Path:
    man = manifest(directory)
    if what == "manifest":
        return directory / "manifest.json"
    if what == "shard":
        return directory / man["shards"][0]["file"]
    if what == "delta":
        return directory / man["deltas"][0]["file"]
    return directory / man["tables"][what]


def open_and_read(directory: Path) -> None:
    """Open, then read the assets: a damaged manifest or small table stops the open; a damaged
    shard or delta stops the open when it is not backed up yet (the backup parses what it
    copies), else the first read or write of an asset (opening parses no shard)."""
    ix = LibraryIndex.open(directory)
    try:
        assert ix.get_connection("acme") == {"name": "acme", "provider": "bynder"}
        ix.assets()
    finally:
        ix.close()


def check_corrupt(directory: Path, bad: Path) -> IndexCorruptError:
    before = bad.read_bytes() if bad.exists() else None
    listing = sorted(os.listdir(directory))
    with pytest.raises(IndexCorruptError) as info:
        open_and_read(directory)
    err = info.value
    backup = latest_backup(directory)
    assert backup is not None
    assert str(bad) in str(err) and str(backup) in str(err)
    assert err.path == bad and err.backup == backup
    assert "restore" in str(err)
    if before is not None:
        assert bad.read_bytes() == before  # left untouched
    assert sorted(os.listdir(directory)) == listing  # nothing swept, nothing created
    return err


@pytest.mark.parametrize(
    "what,damage",
    [
        ("manifest", b'{"format": "damkit-index/1", "generation": 3, "tab'),
        ("manifest", b""),
        ("manifest", b"[1, 2, 3]"),
        ("shard", None),
        ("connections", b"\x00" * 64),
        ("runs", b'{"runs": {"1": {"no id": true}}}'),
        ("meta", b'{"wrong": {}}'),
    ],
)
def test_corrupt_file_stops_open(tmp_path: Path, what: str, damage: bytes | None) -> None:
    directory = tmp_path / "ix"
    build(directory)
    bad = file_of(directory, what)
    raw = bad.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2] if damage is None else damage)  # damaged in place
    check_corrupt(directory, bad)


def test_a_damaged_shard_stops_asset_reads_and_writes_only(tmp_path: Path) -> None:
    """Opening parses no shard that is backed up already: connections stay readable (a check
    works), every asset read or write stops, and nothing is written."""
    directory = tmp_path / "ix"
    build(directory)
    LibraryIndex.open(directory).close()  # the commit after the backup is backed up too
    bad = file_of(directory, "shard")
    bad.write_bytes(b"garbage")
    manifest_before = (directory / "manifest.json").read_bytes()
    ix = LibraryIndex.open(directory)
    assert ix.get_connection("acme") == {"name": "acme", "provider": "bynder"}
    ix.put_connection({"name": "beta"})  # a connection-only commit needs no shard
    for call in (ix.assets, lambda: ix.get_asset("acme", "1"),
                 lambda: ix.upsert_assets([asset("lost")]),
                 lambda: ix.update_assets("acme", {"1": {"status": "x"}})):
        with pytest.raises(IndexCorruptError) as info:
            call()
        assert info.value.path == bad and "restore" in str(info.value)
    assert bad.read_bytes() == b"garbage"
    assert orjson_loads(directory / "manifest.json")["shards"] == \
        orjson_loads_bytes(manifest_before)["shards"]
    ix.close()


def orjson_loads(path: Path) -> dict:
    return orjson_loads_bytes(path.read_bytes())


def orjson_loads_bytes(raw: bytes) -> dict:
    import orjson

    return orjson.loads(raw)


def test_a_damaged_file_is_never_backed_up(tmp_path: Path) -> None:
    directory = tmp_path / "ix"
    ix = LibraryIndex.open(directory)
    ix.put_connection({"name": "acme", "provider": "bynder"})
    ix.upsert_assets([asset(str(i)) for i in range(30)])
    ix.close()
    bad = file_of(directory, "shard")  # written since the last backup
    bad.write_bytes(b"garbage")
    backups = list_backups(directory)
    with pytest.raises(IndexCorruptError) as info:
        LibraryIndex.open(directory)
    assert info.value.path == bad
    assert list_backups(directory) == backups
    assert not (directory / "backups" / "objects" / bad.name).exists()


def test_corrupt_delta_stops_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repo, "SHARD_MAX_DOCS", 100)
    directory = tmp_path / "ix"
    build(directory, n=100)
    ix = LibraryIndex.open(directory)
    ix.update_assets("acme", {"5": {"status": "synced"}})
    ix.close()
    bad = file_of(directory, "delta")
    bad.write_bytes(b'{"changes": {"1": {"op": "put", "shard": 1}}}')
    check_corrupt(directory, bad)


def test_missing_files(tmp_path: Path) -> None:
    directory = tmp_path / "ix"
    build(directory)
    shard = file_of(directory, "shard")
    shard.unlink()
    check_corrupt(directory, shard)
    (directory / "manifest.json").unlink()
    check_corrupt(directory, directory / "manifest.json")  # data files but no manifest: never re-created


def test_running_reader_sees_corruption(tmp_path: Path) -> None:
    directory = tmp_path / "ix"
    build(directory)
    reader = LibraryIndex.open(directory)
    writer = LibraryIndex.open(directory)
    writer.put_connection({"name": "beta"})
    conns = file_of(directory, "connections")
    conns.write_bytes(b"{not json")
    with pytest.raises(IndexCorruptError) as info:
        reader.get_connection("beta")
    assert str(conns) in str(info.value) and str(latest_backup(directory)) in str(info.value)
    assert conns.read_bytes() == b"{not json"
    reader.close()
    writer.close()


def test_restore_from_backup(tmp_path: Path) -> None:
    directory = tmp_path / "ix"
    build(directory)
    bad = file_of(directory, "shard")
    bad.write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError):
        open_and_read(directory)
    damaged = LibraryIndex.restore(directory)
    assert (damaged / bad.name).read_bytes() == b"garbage"  # moved aside, untouched
    assert (damaged / "manifest.json").is_file()
    ix = LibraryIndex.open(directory)
    assert ix.asset_keys("acme") == {str(i) for i in range(30)}  # the commit after the backup is lost
    assert ix.get_connection("acme") == {"name": "acme", "provider": "bynder"}
    assert len(ix.runs()) == 1
    ix.upsert_assets([asset("new")])
    ix.close()
    assert LibraryIndex.open(directory).get_asset("acme", "new") is not None


def test_restore_without_backup(tmp_path: Path) -> None:
    LibraryIndex.open(tmp_path / "ix").close()
    with pytest.raises(NotFoundError):
        LibraryIndex.restore(tmp_path / "ix")


def test_backups_rotate(tmp_path: Path) -> None:
    directory = tmp_path / "ix"
    for i in range(6):
        ix = LibraryIndex.open(directory)
        ix.upsert_assets([asset(f"a{i}")])
        ix.close()
    LibraryIndex.open(directory).close()
    LibraryIndex.open(directory).close()  # unchanged: no new backup
    backups = list_backups(directory)
    assert len(backups) == 3
    assert backups[0].name.endswith(f".{manifest(directory)['commit']}.json")
    import orjson

    referenced: set[str] = set()
    for b in backups:
        man = orjson.loads(b.read_bytes())
        referenced |= set(man["tables"].values()) | {s["file"] for s in man["shards"]}
        referenced |= {d["file"] for d in man["deltas"]}
    assert set(os.listdir(directory / "backups" / "objects")) == referenced
    # backups are copies: damaging a live file leaves the backup intact
    live = file_of(directory, "shard")
    copy = directory / "backups" / "objects" / live.name
    live.write_bytes(b"x")
    assert copy.read_bytes() != b"x"


def test_stale_temp_and_orphan_files_are_swept(tmp_path: Path) -> None:
    directory = tmp_path / "ix"
    build(directory)
    stale = [
        directory / ".manifest.json.abcd1234.tmp",
        directory / ".assets-00001.g00000009.0badc0de.json.x1y2.tmp",
        directory / "assets-00007.g00000099.deadbeef.json",  # written, never committed
        directory / "delta.g00000099.deadbeef.json",
        directory / "backups" / "objects" / ".assets-00001.g00000001.00000000.json.copy.tmp",
    ]
    for path in stale:
        path.write_bytes(b"partial")
    keep = directory / "notes.txt"
    keep.write_text("mine")
    ix = LibraryIndex.open(directory)
    assert [p for p in stale[:4] if p.exists()] == []
    assert keep.read_text() == "mine"
    assert len(ix.asset_keys("acme")) == 31
    ix.upsert_assets([asset("x")])  # another commit, then a new backup prunes backup temp files
    ix.close()
    LibraryIndex.open(directory).close()
    assert not stale[4].exists()
