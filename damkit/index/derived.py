"""The index methods that are the same on every backend: typed records built from the dicts,
and each mutating call as a transaction of one call. A backend provides the dict reads and
:meth:`~damkit.index.Index.transaction`; this mixin adds the rest of :class:`~damkit.index.Index`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Doc, Index
    from .models import AssetRecord, ConnectionRecord, LibraryStats, RunRecord


class DerivedMethods:
    """Typed records and one-call commits over a backend's reads and transactions."""

    # -- connections ---------------------------------------------------------------------
    def connection_record(self: Index, name: str) -> ConnectionRecord | None:
        """The connection as a typed record, or ``None``."""
        from .models import ConnectionRecord

        doc = self.get_connection(name)
        return None if doc is None else ConnectionRecord.model_validate(doc)

    def connection_records(self: Index) -> list[ConnectionRecord]:
        """All connections as typed records, sorted by name."""
        from .models import ConnectionRecord

        return [ConnectionRecord.model_validate(d) for d in self.list_connections()]

    def put_connection(self: Index, doc: Doc | ConnectionRecord) -> None:
        """Insert or replace the connection named ``doc["name"]`` (one commit)."""
        if not isinstance(doc, dict):
            doc = doc.to_doc()
        with self.transaction() as tx:
            tx.put_connection(doc)

    def remove_connection(self: Index, name: str) -> bool:
        """Remove a connection (its assets stay); returns whether it existed."""
        with self.transaction() as tx:
            return tx.remove_connection(name)

    # -- assets --------------------------------------------------------------------------
    def asset_record(self: Index, connection: str, provider_id: str) -> AssetRecord | None:
        """One asset as a typed record, or ``None``."""
        from .models import AssetRecord

        doc = self.get_asset(connection, provider_id)
        return None if doc is None else AssetRecord.model_validate(doc)

    def iter_asset_records(self: Index, connection: str | None = None) -> Iterator[AssetRecord]:
        """:meth:`iter_assets` as typed records."""
        from .models import AssetRecord

        for doc in self.iter_assets(connection):
            yield AssetRecord.model_validate(doc)

    def upsert_assets(self: Index, docs: list[Doc]) -> None:
        """Insert or update assets (one commit); each doc has ``connection`` and ``provider_id``."""
        with self.transaction() as tx:
            tx.upsert_assets(docs)

    def update_assets(self: Index, connection: str, changes: dict[str, Doc]) -> None:
        """Merge partial fields into existing assets (one commit): provider id -> fields."""
        with self.transaction() as tx:
            tx.update_assets(connection, changes)

    def remove_assets(self: Index, connection: str, provider_ids: list[str]) -> None:
        """Remove assets (one commit); unknown ids are ignored."""
        with self.transaction() as tx:
            tx.remove_assets(connection, provider_ids)

    # -- queries -------------------------------------------------------------------------
    def asset_records(
        self: Index,
        *,
        connection: str | None = None,
        provider: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        name_contains: str | None = None,
    ) -> list[AssetRecord]:
        """:meth:`assets` as typed records."""
        from .models import AssetRecord

        docs = self.assets(connection=connection, provider=provider, status=status, tag=tag,
                           name_contains=name_contains)
        return [AssetRecord.model_validate(d) for d in docs]

    def library_stats(self: Index, connection: str | None = None) -> LibraryStats:
        """:meth:`stats` as a typed record."""
        from .models import LibraryStats

        return LibraryStats.model_validate(self.stats(connection))

    # -- runs and events -----------------------------------------------------------------
    def add_run(self: Index, doc: Doc) -> str:
        """Record a sync run; returns its id."""
        with self.transaction() as tx:
            return tx.add_run(doc)

    def update_run(self: Index, run_id: str, fields: Doc) -> None:
        """Merge fields into a sync run; NotFoundError if it does not exist."""
        with self.transaction() as tx:
            tx.update_run(run_id, fields)

    def run_records(self: Index, connection: str | None = None,
                    limit: int | None = None) -> list[RunRecord]:
        """:meth:`runs` as typed records, newest first."""
        from .models import RunRecord

        return [RunRecord.model_validate(r) for r in self.runs(connection, limit)]

    def add_event(self: Index, doc: Doc) -> None:
        """Append an event (one commit)."""
        with self.transaction() as tx:
            tx.add_event(doc)


__all__ = ["DerivedMethods"]
