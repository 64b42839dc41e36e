"""The one redaction module: every secret damkit reads or writes is registered here, and every
text that may reach a log, an exception message, a notebook output or the TUI goes through
:func:`redact` / :func:`redact_url` (directly, or via :class:`RedactingFilter` on the loggers).

- :func:`register_secret` remembers a value (values shorter than 4 characters are ignored: masking
  "abc" everywhere would garble ordinary text and protects nothing). Its URL-encoded forms are
  remembered too, so the value is also masked inside a URL.
- :func:`redact` replaces every registered value with ``********`` (longest first, so a value that
  contains another is masked whole), then masks what looks like a credential even when it was never
  registered: sensitive query/fragment parameters (``?access_token=…``) and ``Bearer …`` /
  ``Basic …`` values.
- :func:`redact_url` does the same for a URL, and masks the password of ``user:password@host``.
- :class:`RedactingFilter` applies it to log records (message, args, exception text, stack, and
  ``extra`` attributes such as stamina's ``stamina.args``); :func:`install_log_redaction` attaches
  it where records are emitted.

Thread safe: the registry is guarded by a lock and the compiled pattern is swapped atomically.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

__all__ = [
    "MASK",
    "SENSITIVE_KEYS",
    "RedactingFilter",
    "install_log_redaction",
    "redact",
    "redact_url",
    "register_secret",
    "uninstall_log_redaction",
]

MASK = "********"
MIN_LENGTH = 4

#: Query/fragment parameter names whose value is masked, compared case-insensitively.
SENSITIVE_KEYS: frozenset[str] = frozenset(
    k.lower()
    for k in (
        "token", "access_token", "refresh_token", "id_token", "secret", "client_secret",
        "app_secret", "code", "password", "signature", "sig", "key", "api_key", "apikey",
        "oauth_signature", "oauth_token", "oauth_token_secret", "oauth_verifier",
        "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "code_verifier",
        "client_assertion", "Key-Pair-Id", "Policy", "X-Goog-Signature", "X-Goog-Credential",
    )
)

#: Loggers that get the filter themselves (besides every handler of the root logger).
LOGGER_NAMES = ("httpx", "httpcore", "damkit", "uvicorn")

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None  # swapped atomically; None when nothing is registered
_stale = False  # values were registered since _pattern was compiled (compiled on the next use)

# key=value after ?, &, # or ; (query string, fragment as in OAuth implicit flow, matrix params).
_PARAM_RE = re.compile(r"(?P<sep>[?&#;])(?P<key>[^=&#?;\s\"'<>]+)=(?P<val>[^&#;\s\"'<>]*)")
# "Authorization: Bearer xyz" / "Basic dXNlcjpwdw==" (checked by _looks_like_token, not prose).
_AUTH_RE = re.compile(r"(?i)\b(?P<scheme>bearer|basic)(?P<sp>\s+)(?P<val>[A-Za-z0-9._~+/\-]{8,}=*)")
_OAUTH_HDR_RE = re.compile(r'(?i)\b(?P<key>oauth_signature|oauth_token|oauth_token_secret)="(?P<val>[^"]*)"')
# Header-like "name: value" / "name=value" and dict reprs {'x-api-key': 'value'}.
_HEADER_RE = re.compile(
    r"(?im)(?P<key>\b(?:authorization|proxy-authorization|x-api-key|api-key|cookie|set-cookie)\b"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<val>[^\"'\r\n,}]+)"
)
# JSON / dict reprs: "access_token": "value", 'client_secret': 'value'.
_JSON_RE = re.compile(
    r"(?i)(?P<q>[\"'])(?P<key>[A-Za-z0-9_\-]+)(?P=q)(?P<mid>\s*:\s*)(?P<vq>[\"'])(?P<val>[^\"']*)(?P=vq)"
)
# scheme://user:password@host
_USERINFO_RE = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://[^/?#@:\s]*:)(?P<pw>[^/?#@\s]+)(?P<at>@)")


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` masks it from now on, in any thread."""
    global _stale
    if not isinstance(value, str) or len(value) < MIN_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote_plus(value)}
    with _lock:
        new = {f for f in forms if len(f) >= MIN_LENGTH} - _values
        if not new:
            return
        _values.update(new)
        _stale = True  # a store loading ten secrets compiles one pattern, not ten


def _current_pattern() -> re.Pattern[str] | None:
    global _pattern, _stale
    if _stale:
        with _lock:
            if _stale:
                ordered = sorted(_values, key=lambda v: (-len(v), v))  # longest first
                _pattern = re.compile("|".join(re.escape(v) for v in ordered))
                _stale = False
    return _pattern


def _mask_registered(text: str) -> str:
    pattern = _current_pattern()  # one read: a concurrent register swaps in a new pattern object
    if pattern is None:
        return text
    return pattern.sub(MASK, text)


def _mask_param(match: re.Match[str]) -> str:
    key = match.group("key")
    if unquote_plus(key).strip().lower() in SENSITIVE_KEYS and match.group("val"):
        return f"{match.group('sep')}{key}={MASK}"
    return match.group(0)


def _looks_like_token(value: str) -> bool:
    """A credential, not a word of prose ("basic authentication")."""
    if len(value) >= 20 or any(c.isdigit() or c in "._~+/-=" for c in value):
        return True
    return any(c.isupper() for c in value[1:]) and any(c.islower() for c in value)


def _mask_auth(match: re.Match[str]) -> str:
    if not _looks_like_token(match.group("val")):
        return match.group(0)
    return f"{match.group('scheme')}{match.group('sp')}{MASK}"


def _mask_json(match: re.Match[str]) -> str:
    key = match.group("key").lower()
    if key not in SENSITIVE_KEYS or not match.group("val"):
        return match.group(0)
    q, vq = match.group("q"), match.group("vq")
    return f"{q}{match.group('key')}{q}{match.group('mid')}{vq}{MASK}{vq}"


def _mask_patterns(text: str) -> str:
    if "=" in text:
        text = _PARAM_RE.sub(_mask_param, text)
        text = _OAUTH_HDR_RE.sub(lambda m: f'{m.group("key")}="{MASK}"', text)
    if ":" in text:
        text = _JSON_RE.sub(_mask_json, text)
    text = _AUTH_RE.sub(_mask_auth, text)
    text = _HEADER_RE.sub(lambda m: f"{m.group('key')}{MASK}", text)
    return text


def redact(text: str) -> str:
    """``text`` with every registered secret (longest first) and credential-looking part masked."""
    if not isinstance(text, str):
        text = str(text)
    if not text:
        return text
    return _mask_patterns(_mask_registered(text))


def redact_url(url: str) -> str:
    """``url`` safe to show: sensitive query/fragment values, a userinfo password and every
    registered secret masked. Works on a bare URL or on a text that contains URLs."""
    if not isinstance(url, str):
        url = str(url)
    text = redact(url)
    if "@" in text:
        text = _USERINFO_RE.sub(lambda m: f"{m.group('pre')}{MASK}{m.group('at')}", text)
    return text


# --- logging ---------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName",
}


def _scrub_value(value: Any, depth: int = 0) -> Any:
    """``value`` with secrets masked, keeping its type where possible (str, tuple, list, dict)."""
    if isinstance(value, str):
        return redact_url(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth > 4:
        return value
    if isinstance(value, tuple):
        return tuple(_scrub_value(v, depth + 1) for v in value)
    if isinstance(value, list):
        return [_scrub_value(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_value(v, depth + 1) for k, v in value.items()}
    try:
        shown = repr(value)
    except Exception:  # noqa: BLE001 - any object's repr may raise anything; leave it as it is
        return value
    cleaned = redact_url(shown)
    return value if cleaned == shown else cleaned


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before any handler formats it.

    The message is formatted once (``msg % args``), redacted, and stored back with ``args``
    cleared, so a secret split between the format string and its arguments is caught too. The
    exception text and stack are pre-formatted and redacted (``Formatter`` then reuses them), and
    ``extra`` attributes are redacted in place. Never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # A broken record must still be logged; the handler reports it.
        with contextlib.suppress(Exception):
            self._scrub(record)
        return True

    @staticmethod
    def _scrub(record: logging.LogRecord) -> None:
        if getattr(record, "_damkit_redacted", False):
            return  # already done by another filter on the way (logger, then handler)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string or argument: scrub the parts
            record.msg = _scrub_value(record.msg)
            record.args = _scrub_value(record.args) if record.args else record.args
        else:
            record.msg = redact_url(message)
            record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_url(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_url(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and not key.startswith("_damkit"):
                record.__dict__[key] = _scrub_value(value)
        record._damkit_redacted = True


_FILTER = RedactingFilter()
_install_lock = threading.Lock()


def _targets() -> list[logging.Filterer]:
    targets: list[logging.Filterer] = list(logging.getLogger().handlers)
    loggers = [logging.getLogger(name) for name in LOGGER_NAMES]
    # Child loggers that already exist (httpcore.http11, uvicorn.error, damkit.http, ...): a filter
    # on a parent logger does not see records logged to a child.
    for name, obj in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(obj, logging.Logger) and any(name.startswith(p + ".") for p in LOGGER_NAMES):
            loggers.append(obj)
    for lg in loggers:
        targets.append(lg)
        targets.extend(lg.handlers)
    return targets


def install_log_redaction() -> RedactingFilter:
    """Attach the redacting filter to the root logger's handlers and to the ``httpx``,
    ``httpcore``, ``damkit`` and ``uvicorn`` loggers (their existing children and handlers too).

    Idempotent: call it again after adding handlers (e.g. once logging is configured).
    """
    with _install_lock:
        for target in _targets():
            if _FILTER not in target.filters:
                target.addFilter(_FILTER)
    return _FILTER


def uninstall_log_redaction() -> None:
    """Remove the filter from everywhere :func:`install_log_redaction` may have put it."""
    with _install_lock:
        for target in _targets():
            while _FILTER in target.filters:
                target.removeFilter(_FILTER)
