"""The index's tables in the ``damkit`` schema, and their versioned migrations.

Every step has a number; ``damkit.schema_migrations`` records the ones applied. :func:`migrate`
runs at every open: under a transaction-level advisory lock (two processes opening a new
database at once apply each step once), in one transaction (a step is applied whole or not at
all). Steps are append-only: a released step is never edited, a change is a new step.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ...errors import SettingsError

SCHEMA = "damkit"

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "tables", """
CREATE TABLE damkit.state (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    generation bigint NOT NULL DEFAULT 0,
    created timestamptz NOT NULL DEFAULT now()
);
INSERT INTO damkit.state DEFAULT VALUES;

CREATE TABLE damkit.connections (
    name text PRIMARY KEY,
    doc jsonb NOT NULL
);

CREATE TABLE damkit.assets (
    connection text NOT NULL,
    provider_id text NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    doc jsonb NOT NULL,
    status text GENERATED ALWAYS AS
        (CASE WHEN jsonb_typeof(doc->'status') = 'string' THEN doc->>'status' END) STORED,
    provider text GENERATED ALWAYS AS
        (CASE WHEN jsonb_typeof(doc->'provider') = 'string' THEN doc->>'provider' END) STORED,
    tags jsonb GENERATED ALWAYS AS
        (CASE WHEN jsonb_typeof(doc->'tags') = 'array' THEN doc->'tags' END) STORED,
    bytes numeric GENERATED ALWAYS AS
        (CASE WHEN jsonb_typeof(doc->'size') = 'number' AND (doc->>'size') ~ '^-?[0-9]+$'
              THEN (doc->>'size')::numeric END) STORED,
    PRIMARY KEY (connection, provider_id)
);
CREATE INDEX assets_seq ON damkit.assets (seq);
CREATE INDEX assets_status ON damkit.assets (status);
CREATE INDEX assets_provider ON damkit.assets (provider);
CREATE INDEX assets_tags ON damkit.assets USING gin (tags);

CREATE TABLE damkit.runs (
    id text PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    connection text GENERATED ALWAYS AS
        (CASE WHEN jsonb_typeof(doc->'connection') = 'string' THEN doc->>'connection' END) STORED,
    doc jsonb NOT NULL
);
CREATE INDEX runs_seq ON damkit.runs (seq);
CREATE INDEX runs_connection ON damkit.runs (connection, seq);

CREATE TABLE damkit.events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc jsonb NOT NULL
);

CREATE TABLE damkit.folders (
    path text PRIMARY KEY,
    doc jsonb NOT NULL
);
"""),
]


def _newer(shown: str, version: int, latest: int) -> SettingsError:
    return SettingsError(
        f"the index database {shown} has schema version {version}; this damkit knows up to "
        f"{latest}", hint="upgrade damkit on this machine (a newer damkit migrated the database)")


def migrate(conn: psycopg.Connection[Any], shown: str) -> int:
    """Apply the steps this database lacks; returns the schema version. ``shown``: the
    database's address, password masked, for errors.

    An up-to-date database costs two reads and needs no privilege beyond using the tables (a
    role that may not create tables can run damkit once an owner has migrated the database).
    """
    latest = MIGRATIONS[-1][0]
    row = conn.execute(f"SELECT to_regclass('{SCHEMA}.schema_migrations')").fetchone()
    if row is not None and row[0] is not None:
        current = conn.execute(f"SELECT max(version) FROM {SCHEMA}.schema_migrations").fetchone()
        version = int(current[0]) if current and current[0] is not None else 0
        if version > latest:
            raise _newer(shown, version, latest)
        if version == latest:
            return latest
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('damkit.index.migrate', 0))")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations (
            version integer PRIMARY KEY,
            name text NOT NULL,
            applied timestamptz NOT NULL DEFAULT now())""")
        applied = {row[0] for row in conn.execute(f"SELECT version FROM {SCHEMA}.schema_migrations")}
        if applied and max(applied) > latest:
            raise _newer(shown, max(applied), latest)
        for version, name, sql in MIGRATIONS:
            if version in applied:
                continue
            conn.execute(sql)
            conn.execute(f"INSERT INTO {SCHEMA}.schema_migrations (version, name) VALUES (%s, %s)",
                         (version, name))
    return latest


__all__ = ["MIGRATIONS", "SCHEMA", "migrate"]
