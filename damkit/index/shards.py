"""On-disk layout of the library index: file names, the manifest, and (de)coding of files.

Every data file is a TinyDB document set (``{"<table>": {"<doc id>": {...}}}``) written once
under a unique name (``<kind>.g<generation>.<token>.json``) and never modified afterwards; the
manifest names the files that make up the current state. See ``docs/index.md``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from ..errors import IndexCorruptError
from .storage import corrupt_error, dumps, parse_json, read_buffer, read_json

FORMAT = "damkit-index/1"
MANIFEST = "manifest.json"
LOCK_FILE = "index.lock"
BACKUP_DIR = "backups"

TABLES: tuple[str, ...] = ("connections", "folders", "runs", "events", "meta")
ASSET_TABLE = "assets"
KEY_TABLE = "keys"
DELTA_TABLE = "changes"

DATA_FILE_RE = re.compile(
    r"^(?:assets-\d{5,}|delta|connections|folders|runs|events|meta)\.g\d{8,}\.[0-9a-f]{8}\.json$"
)
TMP_FILE_RE = re.compile(r"^\..*\.tmp$")


def asset_key(connection: str, provider_id: str) -> str:
    """The index key of an asset: ``"<connection>/<provider_id>"``."""
    return f"{connection}/{provider_id}"


def shard_file_name(shard_id: int, generation: int, token: str) -> str:
    """File name of asset shard ``shard_id`` written at ``generation``."""
    return f"assets-{shard_id:05d}.g{generation:08d}.{token}.json"


def delta_file_name(generation: int, token: str) -> str:
    """File name of the delta segment written at ``generation``."""
    return f"delta.g{generation:08d}.{token}.json"


def table_file_name(table: str, generation: int, token: str) -> str:
    """File name of small table ``table`` written at ``generation``."""
    return f"{table}.g{generation:08d}.{token}.json"


def empty_manifest(token: str) -> dict[str, Any]:
    """The manifest of a new, empty index."""
    return {
        "format": FORMAT,
        "generation": 0,
        "commit": token,
        "next_shard": 1,
        "tables": {},
        "shards": [],
        "deltas": [],
    }


def _bad(path: Path, what: str) -> IndexCorruptError:
    return corrupt_error(path, f"is corrupt: {what}")


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(DATA_FILE_RE.match(value))


def load_manifest(path: Path, raw: bytes) -> dict[str, Any]:
    """Parse and validate manifest bytes read from ``path``."""
    man = parse_json(path, raw)
    if not isinstance(man, dict) or man.get("format") != FORMAT:
        raise _bad(path, f"not a {FORMAT} manifest")
    if not isinstance(man.get("generation"), int) or not isinstance(man.get("next_shard"), int):
        raise _bad(path, "generation/next_shard missing")
    tables = man.get("tables")
    if not isinstance(tables, dict) or not all(
        t in TABLES and _is_name(f) for t, f in tables.items()
    ):
        raise _bad(path, "bad table list")
    shards = man.get("shards")
    if not isinstance(shards, list) or not all(
        isinstance(s, dict)
        and isinstance(s.get("id"), int)
        and isinstance(s.get("gen"), int)
        and _is_name(s.get("file"))
        for s in shards
    ):
        raise _bad(path, "bad shard list")
    deltas = man.get("deltas")
    if not isinstance(deltas, list) or not all(
        isinstance(d, dict)
        and isinstance(d.get("gen"), int)
        and _is_name(d.get("file"))
        and isinstance(d.get("shards"), list)
        and isinstance(d.get("count"), int)
        for d in deltas
    ):
        raise _bad(path, "bad delta list")
    return man


def _tables(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise _bad(path, "not a TinyDB document set")
    return data


def _documents(path: Path, table: str, data: dict[str, Any] | None = None) -> Iterable[Any]:
    if data is None:
        data = _tables(path)
    if not isinstance(data.get(table), dict):
        raise _bad(path, f"no TinyDB table {table!r}")
    return cast(Iterable[Any], data[table].values())


def encode_table(table: str, docs: Iterable[dict[str, Any]]) -> bytes:
    """Serialise documents as a TinyDB document set with doc ids 1..n."""
    return dumps({table: dict(enumerate(docs, 1))})


def encode_shard(docs: dict[str, dict[str, Any]]) -> tuple[bytes, int]:
    """Serialise the assets of one shard (asset key -> document), and the length of its head.

    The file holds two TinyDB tables: first ``keys`` (one document listing the asset keys in
    order), then ``assets``. The head, the bytes before ``,"assets"``, is what a reader parses to
    learn which assets the shard holds without parsing them (``decode_shard_keys``).
    """
    keys = {"1": {"keys": list(docs)}}
    head = len(dumps({KEY_TABLE: keys})) - 1  # what follows the head is ``,"assets":...}``
    return dumps({KEY_TABLE: keys, ASSET_TABLE: dict(enumerate(docs.values(), 1))}), head


def _key_list(path: Path, data: Any) -> list[Any] | None:
    """The ``keys`` table's list, None if the file has none (written before key tables)."""
    table = data.get(KEY_TABLE) if isinstance(data, dict) else None
    if table is None:
        return None
    doc = table.get("1") if isinstance(table, dict) else None
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list):
        raise _bad(path, "bad key table")
    return keys


def decode_shard(path: Path, keys: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Read a shard file: asset key -> document. Its key table, if any, must list those keys;
    with ``keys`` (the key table read already, from the head of the file), the assets alone are
    parsed and must be those keys, in that order."""
    data: Any
    if keys is None:
        data = _tables(path)
    else:
        raw = read_buffer(path)
        rest = raw.find(b',"' + ASSET_TABLE.encode() + b'":')  # the head holds no such bytes
        data = None
        if rest > 0:  # the assets table alone, parsed in place: ``{"assets":...}``
            raw[rest] = ord("{")
            data = parse_json(path, memoryview(raw)[rest:])
        if not isinstance(data, dict):
            raise _bad(path, f"no TinyDB table {ASSET_TABLE!r}")
    docs = list(_documents(path, ASSET_TABLE, data))
    if keys is None:
        keys = _key_list(path, data)
    listed = keys is not None
    if keys is None:  # a shard written before key tables: its documents say their keys
        keys = []
    elif len(keys) != len(docs):
        raise _bad(path, "its key table does not list its assets")
    # keyed by the key table's strings: a key built per document and kept would be a second
    # copy of every key, freed later among the documents (some 7 MB at 100,000 assets that the
    # allocator cannot give back); a key built here to be compared is freed at once
    for at, doc in enumerate(docs):
        try:
            connection, provider_id = doc["connection"], doc["provider_id"]
        except (TypeError, KeyError) as exc:
            raise _bad(path, "asset without connection/provider_id") from exc
        if type(connection) is not str or type(provider_id) is not str:
            raise _bad(path, "asset connection/provider_id is not a string")
        if not listed:
            keys.append(f"{connection}/{provider_id}")
        elif keys[at] != f"{connection}/{provider_id}":
            raise _bad(path, "its key table does not list its assets")
    out = dict(zip(keys, docs, strict=True))
    if listed and len(out) != len(docs):
        raise _bad(path, "its key table does not list its assets")
    return out


def decode_shard_keys(path: Path, entry: dict[str, Any]) -> list[str] | None:
    """The asset keys of the shard ``entry`` of the manifest names, in order, from the file's
    head alone (a few per cent of it); None when the entry records no head (a shard written
    before key tables: parse the whole file). The file's size must be the one the manifest
    records, so a truncated or overwritten shard stops the first asset read."""
    head, size, count = entry.get("head"), entry.get("bytes"), entry.get("count")
    if not (isinstance(head, int) and isinstance(size, int) and isinstance(count, int)):
        return None
    try:
        with open(path, "rb") as handle:
            actual = os.fstat(handle.fileno()).st_size
            if actual != size:
                raise _bad(path, f"{actual} bytes where the manifest records {size}")
            raw = handle.read(head)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise corrupt_error(path, f"cannot be read: {exc}") from exc
    keys = _key_list(path, parse_json(path, raw + b"}"))
    try:
        "".join(keys or ())  # TypeError unless every key is a string
    except TypeError:
        keys = None
    if keys is None or len(keys) != count or len(set(keys)) != count:
        raise _bad(path, "bad key table")
    return keys


def encode_delta(entries: Iterable[dict[str, Any]]) -> bytes:
    """Serialise delta entries (``{"op": "put", "shard", "doc"}`` or ``{"op": "del", "shard", "key"}``)."""
    return encode_table(DELTA_TABLE, entries)


def decode_delta(path: Path) -> list[dict[str, Any]]:
    """Read a delta segment, in commit order."""
    entries: list[dict[str, Any]] = []
    for entry in _documents(path, DELTA_TABLE):
        if not isinstance(entry, dict) or not isinstance(entry.get("shard"), int):
            raise _bad(path, "bad delta entry")
        op = entry.get("op")
        if op == "put":
            doc = entry.get("doc")
            if not (
                isinstance(doc, dict)
                and isinstance(doc.get("connection"), str)
                and isinstance(doc.get("provider_id"), str)
            ):
                raise _bad(path, "bad delta document")
        elif op != "del" or not isinstance(entry.get("key"), str):
            raise _bad(path, "bad delta entry")
        entries.append(entry)
    return entries


def decode_table(path: Path, table: str) -> list[dict[str, Any]]:
    """Read a small table's documents, in doc-id order."""
    docs = list(_documents(path, table))
    if not all(isinstance(d, dict) for d in docs):
        raise _bad(path, f"{table} document is not an object")
    return docs
