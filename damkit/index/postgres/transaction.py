"""The PostgreSQL transaction: the index's mutating methods, each one a SQL statement or two in
the open database transaction (and a savepoint: a call that fails changes nothing and leaves
the transaction usable, as on the file index)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ...errors import NotFoundError
from .. import tuning
from ..state import Doc, folder_path, json_copy, now_iso


class PgTransaction:
    """A batch of changes committed at once (one SQL transaction, under the index's write
    lock). Obtained from :meth:`PgIndex.transaction`."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self.active = True
        self.dirty = False

    def _check(self) -> None:
        if not self.active:
            raise RuntimeError("this transaction is finished")

    @contextlib.contextmanager
    def _step(self) -> Iterator[psycopg.Connection[Any]]:
        """One call: a savepoint, so that a refused value (a NUL in a string) undoes only it."""
        try:
            with self._conn.transaction():
                yield self._conn
        except psycopg.DataError as exc:
            raise ValueError(f"the index database refused a value: {exc}") from None
        self.dirty = True

    # -- connections ---------------------------------------------------------------------
    def put_connection(self, doc: Doc) -> None:
        """Insert or replace the connection named ``doc["name"]`` (settings without secrets)."""
        self._check()
        stored = json_copy(doc, "connection")
        if not isinstance(stored.get("name"), str) or not stored["name"]:
            raise ValueError("a connection needs a non-empty 'name'")
        with self._step() as conn:
            conn.execute("INSERT INTO damkit.connections (name, doc) VALUES (%s, %s) "
                         "ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc",
                         (stored["name"], Jsonb(stored)))

    def remove_connection(self, name: str) -> bool:
        """Remove a connection (not its assets); returns whether it existed."""
        self._check()
        with self._step() as conn:
            cur = conn.execute("DELETE FROM damkit.connections WHERE name = %s", (name,))
            return cur.rowcount > 0

    # -- assets --------------------------------------------------------------------------
    def upsert_assets(self, docs: list[Doc]) -> None:
        """Insert or update assets by (connection, provider_id); given fields replace stored ones."""
        self._check()
        batch = [json_copy(d, "asset") for d in docs]
        merged: dict[tuple[str, str], Doc] = {}
        for doc in batch:
            conn_name, pid = doc.get("connection"), doc.get("provider_id")
            if (not isinstance(conn_name, str) or not conn_name
                    or not isinstance(pid, str) or not pid):
                raise ValueError("an asset needs non-empty string 'connection' and 'provider_id'")
            if "/" in conn_name:
                raise ValueError(f"connection name {conn_name!r} must not contain '/'")
        for doc in batch:  # one row per key: a later doc of the batch merges over an earlier one
            key = (doc["connection"], doc["provider_id"])
            merged[key] = {**merged[key], **doc} if key in merged else doc
        if not merged:
            return
        with self._step() as conn:
            conn.execute(
                "INSERT INTO damkit.assets (connection, provider_id, doc) "
                "SELECT e->>'connection', e->>'provider_id', e "
                "FROM jsonb_array_elements(%s) WITH ORDINALITY AS t(e, n) ORDER BY n "
                "ON CONFLICT (connection, provider_id) "
                "DO UPDATE SET doc = damkit.assets.doc || EXCLUDED.doc",
                (Jsonb(list(merged.values())),))

    def update_assets(self, connection: str, changes: dict[str, Doc]) -> None:
        """Merge partial fields into existing assets; NotFoundError (changing nothing) if one
        is missing."""
        self._check()
        copies = {pid: json_copy(f, "asset fields") for pid, f in changes.items()}
        for pid, fields in copies.items():
            for name, value in (("connection", connection), ("provider_id", pid)):
                if name in fields and fields[name] != value:
                    raise ValueError(f"update_assets cannot change an asset's {name}")
        if not copies:
            return
        with self._step() as conn:
            found = {row[0] for row in conn.execute(
                "SELECT provider_id FROM damkit.assets WHERE connection = %s "
                "AND provider_id = ANY(%s) FOR UPDATE", (connection, list(copies)))}
            missing = [pid for pid in copies if pid not in found]
            if missing:
                shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
                raise NotFoundError(f"no such asset in connection {connection!r}: {shown}")
            conn.execute(
                "UPDATE damkit.assets AS a SET doc = a.doc || c.value "
                "FROM jsonb_each(%s) AS c WHERE a.connection = %s AND a.provider_id = c.key",
                (Jsonb(copies), connection))

    def remove_assets(self, connection: str, provider_ids: list[str]) -> None:
        """Remove assets; ids that are not in the index are ignored."""
        self._check()
        if not provider_ids:
            return
        with self._step() as conn:
            conn.execute("DELETE FROM damkit.assets WHERE connection = %s AND provider_id = ANY(%s)",
                         (connection, list(provider_ids)))

    # -- runs and events -----------------------------------------------------------------
    def add_run(self, doc: Doc) -> str:
        """Record a sync run; returns its id (``doc["id"]`` if given)."""
        self._check()
        stored = json_copy(doc, "run")
        run_id = stored.get("id") or (
            datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3))
        if not isinstance(run_id, str):
            raise ValueError("a run id must be a string")
        stored["id"] = run_id
        stored.setdefault("started", now_iso())
        with self._step() as conn:
            conn.execute("INSERT INTO damkit.runs (id, doc) VALUES (%s, %s) "
                         "ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc", (run_id, Jsonb(stored)))
        return run_id

    def update_run(self, run_id: str, fields: Doc) -> None:
        """Merge fields into a run; raises NotFoundError if there is none with that id."""
        self._check()
        changes = {**json_copy(fields, "run fields"), "id": run_id}
        with self._step() as conn:
            cur = conn.execute("UPDATE damkit.runs SET doc = doc || %s WHERE id = %s",
                               (Jsonb(changes), run_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"no sync run {run_id!r}")

    def add_event(self, doc: Doc) -> None:
        """Append an event (``at`` defaults to now); only the newest MAX_EVENTS are kept."""
        self._check()
        stored = json_copy(doc, "event")
        stored.setdefault("at", now_iso())
        with self._step() as conn:
            conn.execute("INSERT INTO damkit.events (doc) VALUES (%s)", (Jsonb(stored),))
            conn.execute(
                "DELETE FROM damkit.events WHERE id <= (SELECT id FROM damkit.events "
                "ORDER BY id DESC OFFSET %s LIMIT 1)", (tuning.MAX_EVENTS,))

    # -- folders -------------------------------------------------------------------------
    def ensure_folder(self, path: str) -> Doc:
        """Create the library folder ``path`` (and its parents) if missing; returns it."""
        self._check()
        norm = folder_path(path)
        parts = norm.split("/")
        rows = [{"path": "/".join(parts[:i]), "name": parts[i - 1],
                 "parent": "/".join(parts[: i - 1]) or None, "created": now_iso()}
                for i in range(1, len(parts) + 1)]
        with self._step() as conn:
            conn.execute(
                "INSERT INTO damkit.folders (path, doc) SELECT e->>'path', e "
                "FROM jsonb_array_elements(%s) WITH ORDINALITY AS t(e, n) ORDER BY n "
                "ON CONFLICT (path) DO NOTHING", (Jsonb(rows),))
            row = conn.execute("SELECT doc FROM damkit.folders WHERE path = %s", (norm,)).fetchone()
        assert row is not None
        folder: Doc = row[0]
        return folder


__all__ = ["PgTransaction"]
