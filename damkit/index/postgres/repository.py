"""The library index on PostgreSQL: the same repository API and guarantees as the file index.

- One database connection per instance (a thread lock in front of it); reads run in autocommit,
  so each sees every transaction committed before it, from any process or machine.
- A transaction is one SQL transaction that first takes a transaction-level advisory lock: the
  writers of every process are serialised as on the file index (a read-modify-write in a
  transaction loses nothing), readers never wait. ``lock_timeout`` bounds the wait.
- Documents are JSONB; the columns queries filter on (connection, provider id, status,
  provider, tags) are indexed. Returned dicts are parsed from the server's answer: copies.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg

from ...errors import IndexLockedError
from ..assets import STREAM_CHUNK
from ..derived import DerivedMethods
from ..state import Doc, folder_path
from .connect import connect, shown_url, unavailable
from .schema import migrate
from .synclock import PgSyncLock
from .transaction import PgTransaction

if TYPE_CHECKING:
    from ..models import RunRecord

T = TypeVar("T")
Row = tuple[Any, ...]


class PgIndex(DerivedMethods):
    """The library index in a PostgreSQL database (``postgresql://...``). Use :meth:`open`."""

    backend = "postgresql"

    def __init__(self, url: str, *, lock_timeout: float = 30.0) -> None:
        """Use :meth:`open`."""
        self.url = url
        self.shown = shown_url(url)
        self._lock_timeout = lock_timeout
        self._mutex = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._tx: PgTransaction | None = None
        self._closed = False
        self._generation = 0

    @classmethod
    def open(cls, url: str, *, lock_timeout: float = 30.0) -> PgIndex:
        """Connect, apply the schema migrations this database lacks, and return the index.

        Raises :class:`IndexUnavailableError` when the server cannot be reached.
        """
        index = cls(url, lock_timeout=lock_timeout)
        index._conn = connect(url)
        try:
            migrate(index._conn, index.shown)
            index._generation = index._read_generation()
        except psycopg.OperationalError as exc:
            index.close()
            raise unavailable(index.shown, exc) from None
        except BaseException:
            index.close()
            raise
        return index

    def close(self) -> None:
        """Close the connection. The instance cannot be used afterwards."""
        with self._mutex:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def __enter__(self) -> PgIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PgIndex({self.shown!r})"

    # -- the connection ------------------------------------------------------------------
    def _live(self) -> psycopg.Connection[Any]:
        """The connection (reconnected if the server dropped it, outside a transaction).
        Caller holds the mutex."""
        if self._closed:
            raise ValueError("the library index is closed")
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if self._tx is not None:
                raise unavailable(self.shown, ConnectionError("the connection was lost mid-transaction"))
            if conn is not None:
                conn.close()
            conn = self._conn = connect(self.url)
        return conn

    def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run a read; a connection the server dropped is replaced once (outside transactions)."""
        with self._mutex:
            for attempt in (0, 1):
                conn = self._live()
                try:
                    return work(conn)
                except psycopg.OperationalError as exc:
                    if attempt == 0 and self._tx is None and conn.broken:
                        continue
                    raise unavailable(self.shown, exc) from None
            raise AssertionError("unreachable")

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return self._run(lambda conn: conn.execute(sql, tuple(params)).fetchall())

    def _docs(self, sql: str, params: Iterable[Any] = ()) -> list[Doc]:
        return [row[0] for row in self._rows(sql, params)]

    def _doc(self, sql: str, params: Iterable[Any] = ()) -> Doc | None:
        rows = self._rows(sql, params)
        return rows[0][0] if rows else None

    def _read_generation(self) -> int:
        rows = self._rows("SELECT generation FROM damkit.state")
        return int(rows[0][0]) if rows else 0

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[PgTransaction]:
        """Batch changes into one SQL transaction; rolled back if the block raises.

        Nested use in the same thread joins the outer transaction. Waits up to ``lock_timeout``
        seconds for another writer, then raises :class:`IndexLockedError`.
        """
        with self._mutex:
            if self._tx is not None:
                yield self._tx
                return
            for attempt in (0, 1):
                conn = self._live()
                tx = PgTransaction(conn)
                started = False
                try:
                    with conn.transaction():
                        self._write_lock(conn)
                        self._tx, started = tx, True
                        yield tx
                        tx.active = False
                        if tx.dirty:
                            row = conn.execute("UPDATE damkit.state SET generation = generation "
                                               "+ 1 RETURNING generation").fetchone()
                            self._generation = int(row[0]) if row else self._generation
                    return
                except psycopg.OperationalError as exc:
                    if attempt == 0 and not started and conn.broken:
                        continue  # the session had dropped while idle: begin on a new one
                    raise unavailable(self.shown, exc) from None
                finally:
                    tx.active = False
                    self._tx = None

    def _write_lock(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT set_config('lock_timeout', %s, true)",
                     (f"{max(1, int(self._lock_timeout * 1000))}ms",))
        try:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('damkit.index.write', 0))")
        except psycopg.errors.LockNotAvailable:
            raise IndexLockedError(
                f"another process held the write lock of the index database {self.shown} for "
                f"more than {self._lock_timeout:g} s",
                hint="wait for the other sync or worker to finish its commit") from None

    def refresh(self) -> bool:
        """Whether another process committed since the last refresh (reads always see the
        latest commits; this is for callers that redraw on change)."""
        with self._mutex:
            if self._closed:
                raise ValueError("the library index is closed")
            if self._tx is not None:
                return False
            generation = self._read_generation()
            changed = generation != self._generation
            self._generation = generation
            return changed

    def sync_lock(self, connection: str) -> PgSyncLock:
        """The lock that lets one sync of ``connection`` run at a time, on every machine that
        uses this database (a session advisory lock; released if the holder dies)."""
        return PgSyncLock(self.url, self.shown, connection)

    # -- connections ---------------------------------------------------------------------
    def get_connection(self, name: str) -> Doc | None:
        """The connection's settings (without secrets), or ``None``."""
        return self._doc("SELECT doc FROM damkit.connections WHERE name = %s", (name,))

    def list_connections(self) -> list[Doc]:
        """All connections, sorted by name."""
        return self._docs('SELECT doc FROM damkit.connections ORDER BY name COLLATE "C"')

    # -- assets --------------------------------------------------------------------------
    def get_asset(self, connection: str, provider_id: str) -> Doc | None:
        """One asset by connection and provider id, or ``None``."""
        return self._doc("SELECT doc FROM damkit.assets WHERE connection = %s AND provider_id = %s",
                         (connection, provider_id))

    def get_assets(self, connection: str, provider_ids: Iterable[str]) -> dict[str, Doc]:
        """The assets of ``connection`` among ``provider_ids`` (one query for a page): id -> doc."""
        ids = list(provider_ids)
        if not ids:
            return {}
        rows = self._rows("SELECT provider_id, doc FROM damkit.assets WHERE connection = %s "
                          "AND provider_id = ANY(%s)", (connection, ids))
        found: dict[str, Doc] = {row[0]: row[1] for row in rows}
        return {pid: found[pid] for pid in dict.fromkeys(ids) if pid in found}

    def asset_keys(self, connection: str) -> set[str]:
        """Provider ids of the connection's assets."""
        rows = self._rows("SELECT provider_id FROM damkit.assets WHERE connection = %s", (connection,))
        return {row[0] for row in rows}

    def count_assets(self, connection: str | None = None) -> int:
        """How many assets the index holds (of one connection)."""
        if connection is None:
            rows = self._rows("SELECT count(*) FROM damkit.assets")
        else:
            rows = self._rows("SELECT count(*) FROM damkit.assets WHERE connection = %s", (connection,))
        return int(rows[0][0])

    def iter_assets(self, connection: str | None = None, *, chunk: int = STREAM_CHUNK) -> Iterator[Doc]:
        """Every asset (of one connection), a chunk at a time from a server-side cursor.

        A snapshot: the assets committed when the walk starts (a read-only REPEATABLE READ
        transaction on a connection of its own). Inside a transaction, the transaction's view.
        """
        where, params = ("WHERE connection = %s", (connection,)) if connection is not None else ("", ())
        sql = f"SELECT doc FROM damkit.assets {where} ORDER BY seq"
        with self._mutex:
            self._live()
            in_tx = self._tx is not None
        if in_tx:  # this thread's transaction: its own uncommitted changes count
            yield from self._docs(sql, params)
            return
        conn = connect(self.url, autocommit=False)
        try:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.cursor(name="damkit_assets_stream") as cur:
                cur.execute(sql, params)
                while rows := cur.fetchmany(max(1, chunk)):
                    for row in rows:
                        yield row[0]
        except psycopg.OperationalError as exc:
            raise unavailable(self.shown, exc) from None
        finally:
            conn.close()

    # -- queries -------------------------------------------------------------------------
    def assets(
        self,
        *,
        connection: str | None = None,
        provider: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        name_contains: str | None = None,
    ) -> list[Doc]:
        """Assets matching every given filter (``tag``: exact tag; ``name_contains``:
        case-insensitive). Filters on indexed columns; the name test runs here (Python's
        ``casefold``, as on the file index)."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("connection", connection), ("provider", provider), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        if tag is not None:
            clauses.append("tags ? %s")
            params.append(tag)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        docs = self._docs(f"SELECT doc FROM damkit.assets {where} ORDER BY seq", params)
        if name_contains is None:
            return docs
        needle = name_contains.casefold()
        return [d for d in docs if needle in str(d.get("name", "")).casefold()]

    def stats(self, connection: str | None = None) -> dict[str, Any]:
        """Counts: ``{"assets", "bytes", "by_status", "by_connection": {name: {...}}}``, counted
        by the server from the generated ``status`` and ``bytes`` columns (integer sizes only,
        as on the file index)."""
        where, params = ("WHERE connection = %s", (connection,)) if connection is not None else ("", ())
        rows = self._rows(  # the document itself is read only for a status that is no string
            "SELECT connection, status, CASE WHEN status IS NULL THEN doc->'status' END, "
            f"count(*), coalesce(sum(bytes), 0) FROM damkit.assets {where} GROUP BY 1, 2, 3",
            params)
        per: dict[str, dict[str, Any]] = {}
        total: dict[str, Any] = {"assets": 0, "bytes": 0, "by_status": {}}
        for name, status, other, count, size in rows:
            entry = per.setdefault(name, {"assets": 0, "bytes": 0, "by_status": {}})
            key = status if status is not None else str(other)  # str(): as the file index counts
            for target in (entry, total):
                target["assets"] += int(count)
                target["bytes"] += int(size)
                target["by_status"][key] = target["by_status"].get(key, 0) + int(count)
        total["by_connection"] = {name: per[name] for name in sorted(per)}
        return total

    # -- runs and events -----------------------------------------------------------------
    def runs(self, connection: str | None = None, limit: int | None = None) -> list[Doc]:
        """Sync runs, newest first, optionally of one connection."""
        params: list[Any] = []
        where = ""
        if connection is not None:
            where = "WHERE connection = %s"
            params.append(connection)
        sql = f"SELECT doc FROM damkit.runs {where} ORDER BY seq DESC"
        if limit is not None and limit >= 0:
            sql += " LIMIT %s"
            params.append(limit)
            return self._docs(sql, params)
        docs = self._docs(sql, params)
        return docs if limit is None else docs[:limit]

    def run_record(self, run_id: str) -> RunRecord | None:
        """One run as a typed record, or ``None``."""
        from ..models import RunRecord

        doc = self._doc("SELECT doc FROM damkit.runs WHERE id = %s", (run_id,))
        return None if doc is None else RunRecord.model_validate(doc)

    def events(self, limit: int = 100) -> list[Doc]:
        """The newest events, newest first."""
        if limit <= 0:
            return []
        return self._docs("SELECT doc FROM damkit.events ORDER BY id DESC LIMIT %s", (limit,))

    # -- folders -------------------------------------------------------------------------
    def folders(self) -> list[Doc]:
        """Library folders, sorted by path."""
        return self._docs('SELECT doc FROM damkit.folders ORDER BY path COLLATE "C"')

    def ensure_folder(self, path: str) -> Doc:
        """The folder ``path`` (e.g. ``"DAM Import/acme"``), created with its parents if missing."""
        norm = folder_path(path)
        doc = self._doc("SELECT doc FROM damkit.folders WHERE path = %s", (norm,))
        if doc is not None:
            return doc
        with self.transaction() as tx:
            return tx.ensure_folder(norm)


__all__ = ["PgIndex"]
