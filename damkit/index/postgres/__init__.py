"""The library index on PostgreSQL (psycopg 3): the repository API of :mod:`damkit.index` over a
server database, for many processes on many machines. Chosen by ``DAMKIT_INDEX_URL`` (see
:func:`damkit.index.open_index` and ``docs/scale-out.md``). Needs ``pip install 'damkit[server]'``.
"""

from __future__ import annotations

from .repository import PgIndex
from .schema import MIGRATIONS, SCHEMA
from .synclock import PgSyncLock
from .transaction import PgTransaction

__all__ = ["MIGRATIONS", "SCHEMA", "PgIndex", "PgSyncLock", "PgTransaction"]
