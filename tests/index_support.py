"""The index backends the index tests run on: the file index (TinyDB files) and PostgreSQL.

``index_location`` (parametrized) is where a test's index lives: a folder, or a fresh database
on the session's real PostgreSQL server (tests/pg_server.py). ``open_index(location)`` opens
it, as damkit does. Import the fixture into a test module to run its tests on both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from damkit.index import LibraryIndex

BACKENDS = ["tinydb", "postgresql"]


def empty_database(server: Any, name: str = "damkit_index_tests") -> str:
    """The URL of database ``name`` with no index in it: its ``damkit`` schema dropped, after
    ending every other session on it (a previous test's instances or killed children).
    Quicker than a new database per test (CREATE DATABASE copies and syncs a template)."""
    import psycopg

    url = str(server.database_url(name))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        conn.execute("SET lock_timeout = '20s'")
        conn.execute("DROP SCHEMA IF EXISTS damkit CASCADE")
    return url


@pytest.fixture(params=BACKENDS)
def index_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A folder (``tinydb``) or the URL of an empty database (``postgresql``)."""
    if request.param == "tinydb":
        return str(tmp_path / "index")
    return empty_database(request.getfixturevalue("postgres"))


def is_files(ix: Any) -> bool:
    return isinstance(ix, LibraryIndex)


def generation(ix: Any) -> int:
    """How many commits the index has seen (the manifest's generation, or the database's)."""
    if is_files(ix):
        return int(ix._manifest["generation"])
    return ix._read_generation()  # type: ignore[no-any-return]
