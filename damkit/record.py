"""Record what a DAM answers: the HTTP exchanges of a check or a sync as a redacted HAR 1.2 file.

A specialist's first real connection produces evidence that can be attached to a bug report, and
``damkit sandbox compare FILE`` replays it against the sandbox (:mod:`damkit.sandbox.compare`).

Nothing secret survives: authorization, cookie and token headers are replaced, sensitive query,
form and JSON keys are masked, a URL that carries a signature loses its whole query (a
pre-signed URL is its own credential), every value registered with :mod:`damkit.redact` and every
secret given to the recorder is masked in its raw, URL-encoded and base64 forms, and bodies are
capped (binary bodies are never kept). Each response also keeps its JSON *shape* (key paths and
value types, computed before the cap) so that a long listing can still be compared.

The one hook into the HTTP layer is :data:`damkit.http.EXCHANGE_HOOK` (a context variable): while
:func:`recording` is active, every exchange of every :class:`~damkit.http.HttpClient` is given to
the recorder.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import httpx

from .redact import MASK, SENSITIVE_KEYS, redact

__all__ = ["Recorder", "recording", "shape_of"]

BODY_CAP = 64 * 1024
TEXT_TYPES = ("json", "text", "xml", "html", "x-www-form-urlencoded", "javascript")
SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key")
#: key fragments that make a header, query, form or JSON key secret (compared in lower case)
SECRET_PARTS = ("token", "secret", "password", "signature", "credential", "authorization",
                "cookie", "verifier", "assertion", "session", "apikey", "api_key")
SIGNED_QUERY = ("signature", "sig", "x-amz-signature", "x-goog-signature", "policy",
                "key-pair-id", "oauth_signature")
URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>]+")


def secret_key(name: str) -> bool:
    low = name.lower()
    return low in SENSITIVE_KEYS or any(part in low for part in SECRET_PARTS)


def shape_of(value: Any, prefix: str = "") -> dict[str, str]:
    """Key paths of a JSON value and their types: ``{"media[].tags": "array", ...}``; list
    items are merged, so the shape of a page does not depend on its length."""
    out: dict[str, str] = {}
    kind = json_type(value)
    if prefix:
        out[prefix] = kind
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(merge(out, shape_of(item, f"{prefix}.{key}" if prefix else str(key))))
    elif isinstance(value, list):
        for item in value:
            out.update(merge(out, shape_of(item, f"{prefix}[]")))
    return out


def merge(have: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    """``new`` with types already seen joined (``string|null``), for list items that differ."""
    joined = {}
    for key, kind in new.items():
        old = have.get(key)
        kinds = set((old or kind).split("|")) | {kind}
        joined[key] = "|".join(sorted(kinds))
    return joined


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class Recorder:
    """Collects exchanges; :meth:`save` writes the HAR. ``secrets``: values to mask wherever
    they appear (the connection's secrets); ``meta``: kept under ``log._damkit`` (provider,
    base URL) so that ``compare`` knows which emulator to ask."""

    def __init__(self, *, secrets: list[str] | None = None, meta: dict[str, Any] | None = None,
                 cap: int = BODY_CAP) -> None:
        self.entries: list[dict[str, Any]] = []
        self.meta = dict(meta or {})
        self.cap = cap
        self._secrets: list[str] = []
        for value in secrets or []:
            self.add_secret(value)

    def add_secret(self, value: str) -> None:
        if not value or len(value) < 4:
            return
        forms = {value, quote(value, safe=""), quote_plus(value),
                 base64.b64encode(value.encode()).decode().rstrip("=")}
        self._secrets = sorted(set(self._secrets) | {f for f in forms if len(f) >= 4},
                               key=len, reverse=True)

    # --- the hook ------------------------------------------------------------------------------

    def __call__(self, response: httpx.Response, streamed: bool, seconds: float) -> None:
        request = response.request
        had_auth = "authorization" in {k.lower() for k in request.headers}
        body = b"" if streamed else response.content
        mime = response.headers.get("content-type", "")
        shape: dict[str, str] | None = None
        if not streamed and "json" in mime:
            try:
                shape = shape_of(json.loads(body))
            except ValueError:
                shape = None
        entry: dict[str, Any] = {
            "startedDateTime": datetime.now(UTC).isoformat(),
            "time": round(seconds * 1000, 1),
            "request": {
                "method": request.method,
                "url": self.url(str(request.url)),
                "httpVersion": "HTTP/1.1",
                "headers": self.headers(request.headers),
                "queryString": self.query(str(request.url)),
                "cookies": [],
                "headersSize": -1,
                "bodySize": len(request.content) if request.content else 0,
            },
            "response": {
                "status": response.status_code,
                "statusText": response.reason_phrase,
                "httpVersion": "HTTP/1.1",
                "headers": self.headers(response.headers),
                "cookies": [],
                "content": self.content(body, mime, streamed),
                "redirectURL": self.url(response.headers.get("location", "")),
                "headersSize": -1,
                "bodySize": -1 if streamed else len(body),
            },
            "cache": {},
            "timings": {"send": 0, "wait": round(seconds * 1000, 1), "receive": 0},
            "_damkit": {"authenticated": had_auth, "streamed": streamed},
        }
        if request.content:
            entry["request"]["postData"] = self.post_data(request)
        if shape is not None:
            entry["response"]["_shape"] = shape
        self.entries.append(entry)

    # --- redaction ------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """Every given secret (raw, URL-encoded, base64) and every registered one masked."""
        for value in self._secrets:
            text = text.replace(value, MASK)
        return redact(text)

    def url(self, url: str) -> str:
        if not url:
            return ""
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(k.lower() in SIGNED_QUERY for k, _ in pairs):  # pre-signed: the query is a key
            pairs = [(k, MASK) for k, _ in pairs]
        else:
            pairs = [(k, MASK if secret_key(k) else v) for k, v in pairs]
        query = urlencode(pairs, safe="*")
        return self.scrub(urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path,
                                      query, "")))

    def query(self, url: str) -> list[dict[str, str]]:
        return [{"name": k, "value": v}
                for k, v in parse_qsl(urlsplit(self.url(url)).query, keep_blank_values=True)]

    def headers(self, headers: httpx.Headers) -> list[dict[str, str]]:
        out = []
        for name, value in headers.items():
            low = name.lower()
            masked = low in SECRET_HEADERS or secret_key(low)
            out.append({"name": name, "value": MASK if masked else self.scrub(value)})
        return out

    def value(self, value: Any, key: str = "") -> Any:
        """A JSON value with secret keys masked and signed URLs stripped, recursively."""
        if key and secret_key(key) and not isinstance(value, (dict, list)):
            return MASK if value not in (None, "") else value
        if isinstance(value, dict):
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, key) for v in value]
        if isinstance(value, str):
            return URL_IN_TEXT.sub(lambda m: self.url(m.group(0)), self.scrub(value))
        return value

    def text(self, body: bytes, mime: str) -> str:
        raw = body.decode("utf-8", "replace")
        if "json" in mime:
            try:
                return self.scrub(json.dumps(self.value(json.loads(raw)), ensure_ascii=False))
            except ValueError:
                pass
        if "x-www-form-urlencoded" in mime:
            pairs = [(k, MASK if secret_key(k) else self.value(v))
                     for k, v in parse_qsl(raw, keep_blank_values=True)]
            return self.scrub(urlencode(pairs, safe="*"))
        return URL_IN_TEXT.sub(lambda m: self.url(m.group(0)), self.scrub(raw))

    def content(self, body: bytes, mime: str, streamed: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"size": len(body), "mimeType": mime}
        if streamed:
            out["comment"] = "streamed body: not recorded"
        elif body and any(t in mime for t in TEXT_TYPES):
            text = self.text(body, mime)
            if len(text) > self.cap:
                out["comment"] = f"body capped at {self.cap} characters"
                text = text[:self.cap]
            out["text"] = text
        elif body:
            out["comment"] = "binary body: not recorded"
        return out

    def post_data(self, request: httpx.Request) -> dict[str, Any]:
        mime = request.headers.get("content-type", "")
        return {"mimeType": mime, "text": self.text(request.content, mime)[:self.cap]}

    # --- output ---------------------------------------------------------------------------------

    def har(self) -> dict[str, Any]:
        from . import __version__

        return {"log": {"version": "1.2",
                        "creator": {"name": "damkit", "version": __version__},
                        "entries": self.entries,
                        "_damkit": self.meta}}

    def scrubbed(self, value: Any) -> Any:
        """A last pass over every string of the HAR, keys included."""
        if isinstance(value, dict):
            return {self.scrub(str(k)): self.scrubbed(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrubbed(v) for v in value]
        return self.scrub(value) if isinstance(value, str) else value

    def save(self, path: Path) -> Path:
        path = Path(path)
        text = json.dumps(self.scrubbed(self.har()), indent=1, ensure_ascii=False)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return path


@contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Every HTTP exchange made in this context (and tasks started from it) is recorded."""
    from .http import EXCHANGE_HOOK

    token = EXCHANGE_HOOK.set(recorder)
    started = time.perf_counter()
    recorder.meta.setdefault("recorded_at", datetime.now(UTC).isoformat())
    try:
        yield recorder
    finally:
        EXCHANGE_HOOK.reset(token)
        recorder.meta["seconds"] = round(time.perf_counter() - started, 3)
