"""damkit's exceptions.

Every error a user can see derives from :class:`DamkitError`. Each carries an exit code for the
command line (1: the operation or check failed, 2: bad usage or bad settings) and, where there is
one, a hint saying what to do. Messages never contain a secret's value: callers pass field names,
never values, and the HTTP layer redacts URLs before they reach a message.
"""

from __future__ import annotations


class DamkitError(Exception):
    """Base class of every damkit error."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class SettingsError(DamkitError):
    """Bad settings or bad usage: names the field (or file) and what to do."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class NotFoundError(DamkitError):
    """A connection, asset or file that does not exist."""

    exit_code = 2


class IndexCorruptError(DamkitError):
    """The library index cannot be read. Never replaced silently by an empty one."""

    exit_code = 1


class IndexLockedError(DamkitError):
    """Another process held the index lock for too long."""


class SecretStoreError(DamkitError):
    """No usable secret store, or a secret could not be read or written."""


class HttpError(DamkitError):
    """A provider request failed after the last try (or could not be retried)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        kind: str = "http",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.url = url  # always redacted
        self.kind = kind  # "http", "timeout", "connect", "dns", "tls", "protocol"


class AuthError(DamkitError):
    """Credentials refused, expired or missing."""


# --- what a DAM answered: the typed tree the engine, the check and the frontends branch on ------
# Nobody branches on message text. ``HttpError`` stays the common base (with ``status``, ``url``
# and ``kind``); the HTTP layer raises the most specific subclass.


class Unreachable(HttpError):
    """No answer at all: the name does not resolve, the connection or TLS failed, or timed out."""


class CredentialsRefused(HttpError, AuthError):
    """The DAM refused the credentials (401, or a login the DAM rejected)."""


class Forbidden(HttpError):
    """The credentials are valid but lack a permission (403)."""


class RemoteNotFound(HttpError, NotFoundError):
    """The DAM has no such thing (404): a wrong domain path, a deleted asset."""

    exit_code = 1


class RateLimited(HttpError):
    """The DAM asked us to slow down (429) and the run's patience ran out."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after  # seconds the DAM asked us to wait, when it said


class Unavailable(HttpError):
    """The DAM or its file host failed (5xx) after the retries allowed."""


class BadAnswer(HttpError):
    """The DAM answered, but not in a shape damkit understands (not JSON, missing keys)."""


class LocalStorageError(DamkitError):
    """The local disk refused a write or read: full, read-only, or no permission."""


class SyncError(DamkitError):
    """A sync could not run."""
