"""The test PostgreSQL server itself: it starts, keeps data across connections, and stops."""

from __future__ import annotations

import psycopg
from pg_server import find_bindir, postgres_server


def test_postgres_server_starts_stores_and_stops() -> None:
    assert (find_bindir() / "initdb").is_file()
    with postgres_server() as server:
        url = server.database_url("damkit_smoke")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (k text PRIMARY KEY, v jsonb)")
            conn.execute("INSERT INTO t VALUES ('a', '{\"n\": 1}')")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT v->>'n' FROM t WHERE k = 'a'").fetchone() == ("1",)
        datadir = server.datadir
    assert server.process.poll() is not None
    assert not datadir.exists()
