"""The secret store the rest of damkit uses: environment first, then one writable backend."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from ..redact import register_secret
from .base import ENV_PASSPHRASE, Backend, check_names
from .env import env_value, env_var_name

log = logging.getLogger("damkit.secrets")


class SecretStore:
    """Connection secrets: environment variables first, then the one writable store chosen by
    :func:`resolve_secret_store`.

    ``kind`` is ``"keyring"``, ``"encrypted"``, ``"plaintext"`` or ``"env-only"``; ``why`` has one
    line per store considered (for ``damkit doctor``); ``warnings`` what a user should see at start;
    ``location`` the keyring backend class or the file path (None for env-only).
    """

    def __init__(self, backend: Backend, *, env: Mapping[str, str] | None,
                 why: list[str], warnings: list[str]) -> None:
        self._backend = backend
        self._env = env
        self.kind: str = backend.kind
        self.location: str | None = backend.location
        self.why: list[str] = why
        self.warnings: list[str] = warnings

    def __repr__(self) -> str:
        return f"SecretStore(kind={self.kind!r}, location={self.location!r})"

    @property
    def writable(self) -> bool:
        return self.kind != "env-only"

    def _env_value(self, connection: str, field: str) -> str | None:
        return env_value(os.environ if self._env is None else self._env, connection, field)

    def get(self, connection: str, field: str) -> str | None:
        """The secret, from ``DAMKIT_<CONNECTION>_<FIELD>`` if set, else from the store; None when
        absent. Raises SecretStoreError when the store fails (never returns None for a failure)."""
        check_names(connection, field)
        value = self._env_value(connection, field)
        if value is None:
            value = self._backend.get(connection, field)
        if value is not None:
            register_secret(value)
        return value

    def set(self, connection: str, field: str, value: str) -> None:
        """Save into the writable store (never into the environment)."""
        check_names(connection, field)
        if not isinstance(value, str) or not value:
            raise ValueError("secret store: an empty value cannot be saved; use delete()")
        register_secret(value)
        self._backend.set(connection, field, value)
        name = env_var_name(connection, field)
        if self._env_value(connection, field) is not None:
            log.warning("saved secret '%s' of connection '%s' in the %s store, but %s is set and "
                        "takes precedence while it is", field, connection, self.kind, name)

    def delete(self, connection: str, field: str) -> None:
        """Remove from the writable store (a missing secret is fine). Environment untouched."""
        self.delete_connection(connection, [field])

    def delete_connection(self, connection: str, fields: list[str]) -> None:
        """Remove every listed field of ``connection`` from the writable store."""
        for field in fields:
            check_names(connection, field)
        if fields:
            self._backend.delete_many(connection, list(fields))

    def ref(self, connection: str, field: str) -> str:
        """What the index stores instead of the value: ``secret:<kind>:<connection>/<field>``."""
        check_names(connection, field)
        return f"secret:{self.kind}:{connection}/{field}"

    def env_get(self, connection: str, field: str) -> str | None:
        """The value of ``DAMKIT_<CONNECTION>_<FIELD>`` alone (None when unset): a connection can
        be added with its secrets only there (CI, servers), nothing being saved."""
        check_names(connection, field)
        value = self._env_value(connection, field)
        if value is not None:
            register_secret(value)
        return value

    @property
    def locked(self) -> str | None:
        """The secrets file that exists but could not be opened (no passphrase), if any."""
        path = getattr(self._backend, "locked", None)
        return str(path) if path is not None and Path(path).exists() else None

    def sources_tried(self, connection: str, field: str) -> list[str]:
        """Where :meth:`get` looked for the secret and why each source gave nothing, one line
        each (names only, never a value), for the message of a missing secret."""
        check_names(connection, field)
        name = env_var_name(connection, field)
        lines = [f"env: {name} is not set" if self._env_value(connection, field) is None
                 else f"env: {name} is set"]
        if self.locked is not None:
            lines.append(f"encrypted: {self.locked} is locked: set {ENV_PASSPHRASE} or run on a "
                         "terminal")
        elif self.writable:
            lines.append(f"{self.kind}: no value for {connection}/{field} in {self.location}")
        for line in self.why:
            kind, _, rest = line.partition(": ")
            said = kind == "encrypted" and self.locked is not None
            if rest.startswith("passed over") and not said:
                lines.append(f"{kind}: {rest}")
        return lines

    def source(self, connection: str, field: str) -> str | None:
        """``"env"`` or the store's kind, where :meth:`get` would read the value; None if unset."""
        check_names(connection, field)
        if self._env_value(connection, field) is not None:
            return "env"
        if self._backend.get(connection, field) is not None:
            return self.kind
        return None


__all__ = ["SecretStore"]
