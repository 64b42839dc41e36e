"""Environment variables: read-only secrets, ``DAMKIT_<CONNECTION>_<FIELD>``, consulted first."""

from __future__ import annotations

from collections.abc import Mapping

from .base import ENV_INSECURE, ENV_PASSPHRASE, ENV_STORE

#: damkit's own settings: never read as a secret even if a connection/field pair maps onto one.
RESERVED_ENV = frozenset({ENV_STORE, ENV_PASSPHRASE, ENV_INSECURE, "DAMKIT_HOME"})


def env_var_name(connection: str, field: str) -> str:
    """``DAMKIT_<CONNECTION>_<FIELD>``: upper-cased, ``-`` (and ``.``) → ``_``."""
    raw = f"DAMKIT_{connection}_{field}".upper()
    return raw.replace("-", "_").replace(".", "_")


def env_value(env: Mapping[str, str], connection: str, field: str) -> str | None:
    """The variable's value for this secret; None when unset, empty or one of damkit's settings."""
    name = env_var_name(connection, field)
    if name in RESERVED_ENV:
        return None
    value = env.get(name)
    return value if value else None  # an empty variable counts as unset


__all__ = ["RESERVED_ENV", "env_value", "env_var_name"]
