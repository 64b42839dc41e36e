"""Connections to the index database: JSON through orjson, errors that name the database with
its password masked, and the password registered with the log redaction."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import psycopg
from psycopg.types.json import set_json_dumps, set_json_loads

from ...errors import IndexUnavailableError
from ...redact import redact, redact_url, register_secret

CONNECT_TIMEOUT = 10
"""Seconds to wait for the server at open."""


def shown_url(url: str) -> str:
    """The database address safe to show: a password (in the URL or its query) masked."""
    parts = urlsplit(url)
    if parts.password:
        register_secret(unquote(parts.password))
    return redact_url(url)


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A new connection, or :class:`IndexUnavailableError` saying which database and why."""
    shown = shown_url(url)
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT,
                               application_name="damkit")
    except psycopg.Error as exc:
        raise unavailable(shown, exc) from None
    set_json_dumps(_dumps, conn)
    set_json_loads(orjson.loads, conn)
    return conn


def unavailable(shown: str, exc: BaseException) -> IndexUnavailableError:
    """The error for a database that cannot be reached (or dropped the connection)."""
    reason = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    return IndexUnavailableError(
        f"cannot use the index database {shown}: {reason}",
        hint="check DAMKIT_INDEX_URL (or `damkit config set index_url ...`) and that the "
             "PostgreSQL server is running and reachable")


__all__ = ["CONNECT_TIMEOUT", "connect", "shown_url", "unavailable"]
