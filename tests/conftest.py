"""Shared pytest fixtures: a running damkit sandbox on a free loopback port.

- ``sandbox`` (session scope): one started :class:`damkit.sandbox.Sandbox` with the default
  config (``assets=300``, all registered providers, no faults). Shared by every test in the
  session: do not leave faults or catalog changes behind (use ``fresh_sandbox`` for that, or
  ``sandbox.control("POST", "reset")`` when done).
- ``fresh_sandbox`` (function scope): a factory; ``fresh_sandbox(**config)`` starts a new
  Sandbox with those :class:`damkit.sandbox.SandboxConfig` fields (``assets=``, ``seed=``,
  ``latency_ms=``, ``fault_rate=``, ``providers=``, ...) and stops it at teardown.
- ``index_location`` (tests/index_support.py): runs a test on both index backends, a folder
  (the file index) and an empty database on the session's PostgreSQL server.
- ``s3_server``, ``s3_library``: a real S3-compatible server and a fresh bucket on it
  (``tests/s3_support.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from damkit.sandbox import Sandbox

from index_support import index_location  # noqa: F401  (the index tests' backend fixture)
from s3_support import s3_library, s3_server  # noqa: F401 (fixtures: an S3 server, a bucket)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """A started sandbox with the default config (assets=300), shared by the session."""
    with Sandbox(assets=300) as sb:
        yield sb


@pytest.fixture
def fresh_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Factory: ``fresh_sandbox(**config)`` -> a started Sandbox, stopped at teardown."""
    started: list[Sandbox] = []

    def make(**config: Any) -> Sandbox:
        sb = Sandbox(**config).start()
        started.append(sb)
        return sb

    yield make
    for sb in reversed(started):
        sb.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL server on loopback for the session (tests/pg_server.py); each test that
    needs a clean database asks ``postgres.database_url(name)`` for one of its own."""
    from pg_server import postgres_server

    with postgres_server() as server:
        yield server
