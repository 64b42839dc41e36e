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


class IndexUnavailableError(DamkitError):
    """The index database (``DAMKIT_INDEX_URL``) cannot be reached or refused the login."""

    exit_code = 1


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


class BodyCut(Unreachable):
    """The answer started but its body broke off: the whole request may be sent again.

    The HTTP layer cannot retry this one itself (the caller was already reading the body), so it
    is the only failure the sync engine retries on its own.
    """


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


class CircuitOpen(Unavailable):
    """The DAM or its file host failed consistently: the run stopped sending requests to it."""


class BadAnswer(HttpError):
    """The DAM answered, but not in a shape damkit understands (not JSON, missing keys)."""


class LocalStorageError(DamkitError):
    """The local disk refused a write or read: full, read-only, or no permission.

    ``cause`` is the ``errno`` name (``"ENOSPC"``, ``"EROFS"``, ``"EACCES"``...), ``path`` the
    folder or file concerned; the hint says how to fix it.
    """

    def __init__(self, message: str, *, cause: str | None = None, path: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.cause = cause
        self.path = path


_DISK_FIXES = {
    "ENOSPC": ("the disk holding the library is full",
               "free some space on that disk (or move DAMKIT_HOME to a larger one), then sync "
               "again: finished files are kept"),
    "EDQUOT": ("the disk quota of this user is used up",
               "free some space or raise the quota, then sync again: finished files are kept"),
    "EROFS": ("the library is on a read-only file system",
              "mount it writable, or set DAMKIT_HOME to a writable folder, then sync again"),
    "EACCES": ("no permission to write in the library",
               "give this user write permission on the folder (or set DAMKIT_HOME to a folder "
               "it owns), then sync again"),
    "EPERM": ("the operating system refused the write",
              "give this user write permission on the folder, then sync again"),
}


def local_storage_error(exc: OSError, path: object = None) -> LocalStorageError | None:
    """The typed error for an ``OSError`` that means "the library's disk refused", else None."""
    import errno as _errno

    name = _errno.errorcode.get(exc.errno or 0, "")
    if name not in _DISK_FIXES:
        return None
    what, fix = _DISK_FIXES[name]
    where = str(path if path is not None else (exc.filename or "the library"))
    return LocalStorageError(f"cannot write to the library: {what} ({name}, {where})",
                             cause=name, path=where, hint=fix)


def error_for_status(status: int, message: str, *, url: str | None = None,
                     retry_after: float | None = None) -> HttpError:
    """The most specific :class:`HttpError` for a final HTTP status."""
    if status == 401:
        return CredentialsRefused(message, status=status, url=url)
    if status == 403:
        return Forbidden(message, status=status, url=url)
    if status in (404, 410):
        return RemoteNotFound(message, status=status, url=url)
    if status == 429:
        return RateLimited(message, status=status, url=url, retry_after=retry_after)
    if status >= 500 or status == 408:
        return Unavailable(message, status=status, url=url)
    return HttpError(message, status=status, url=url)


def typed(exc: DamkitError) -> DamkitError:
    """A plain :class:`HttpError` (a connector's own) as the most specific class its structured
    fields say (its status; its kind for an answer that is not the DAM's shape); else ``exc``."""
    if type(exc) is not HttpError:
        return exc
    if exc.status is not None and exc.status >= 400:
        out = error_for_status(exc.status, exc.message, url=exc.url)
    elif exc.kind == "protocol" and exc.status is not None:
        out = BadAnswer(exc.message, status=exc.status, url=exc.url, kind=exc.kind)
    elif exc.kind in ("dns", "tls", "connect", "timeout"):
        out = Unreachable(exc.message, status=exc.status, url=exc.url, kind=exc.kind)
    else:
        return exc
    out.hint = exc.hint
    return out


def is_transient(exc: BaseException) -> bool:
    """A failure that may go away by itself (throttling, 5xx, no answer), not a refusal."""
    if isinstance(exc, (RateLimited, Unavailable, Unreachable)):
        return not isinstance(exc, CircuitOpen)
    if isinstance(exc, (CredentialsRefused, Forbidden, RemoteNotFound, BadAnswer)):
        return False
    if isinstance(exc, HttpError):  # a plain HttpError from a connector: judge by its status
        return exc.status is None or exc.status in (408, 429) or exc.status >= 500
    return False


class SyncError(DamkitError):
    """A sync could not run."""
