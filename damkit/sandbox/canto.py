"""Canto emulator: OAuth 2 (authorize page, token endpoint), search by keyword, assets, binaries.

Follows the API reference providers/canto.md. Everything lives under the mount ``/canto``:

- ``/oauth/api/oauth2/authorize`` (GET: the consent page; POST: its form) and
  ``/oauth/api/oauth2/token`` (camelCase) and ``/oauth/api/oauth2/compatible/token`` (snake_case);
  token parameters are read from the query string and from a form body alike.
- ``/api/v1/search``, ``/api/v1/user``, ``/api/v1/{scheme}/{id}``;
  ``/api_binary/v1/{scheme}/{id}`` answers ``302`` to a signed ``/_files/{id}`` URL that needs no
  token (like Canto's direct URLs).
- ``POST /_revoke`` (sandbox control, not Canto): every token and code becomes invalid, as when a
  user revokes the app. ``POST /_expire``: every access token expires now (refresh still works).

Choices for what canto.md marks [G]: missing token → 404, bad/expired token → 401 with
``{"message": ...}``; token errors → 400 ``{"error", "error_description"}`` (``invalid_client`` for
a bad App ID or App Secret, ``invalid_grant`` for a bad code or refresh token); ``size``, ``width``
and ``height`` are numeric strings; ``results`` is left out when nothing matches; ``limit`` is
clamped to 1000 (``limit=0`` counts only); matching without ``exactMatch=true`` is a
case-insensitive substring match. Loopback redirect URIs are accepted on any port (RFC 8252);
other redirect URIs only when listed in ``extra["canto_redirect_uris"]``.

``SandboxConfig.extra`` keys: ``canto_token_ttl`` (access token seconds, default 30 days),
``canto_refresh_ttl`` (default 365 days), ``canto_app_id`` / ``canto_app_secret``,
``canto_redirect_uris``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import random
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..settings import is_loopback_host
from .base import Emulator
from .catalog import Catalog, SandboxAsset

if TYPE_CHECKING:
    from .app import SandboxConfig, SandboxState

OAUTH = "/oauth/api/oauth2"
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
DEFAULT_TOKEN_TTL = 30 * 24 * 3600
DEFAULT_REFRESH_TTL = 365 * 24 * 3600
CODE_TTL = 600
LIBRARIES = ("Main Library", "Marketing Archive")
SCHEMES = ("image", "video", "audio", "document", "presentation", "other")
ID_ALPHABET = string.ascii_lowercase + string.digits
USER = {"userId": "sandbox.user@example.com", "firstName": "Sandbox", "lastName": "User",
        "email": "sandbox.user@example.com", "name": "Sandbox User",
        "permissions": ["download", "upload"], "lastAccessVersion": "BKK"}


def canto_id(n: int, rng: random.Random) -> str:
    """26 lower-case alphanumerics, like ``js29l560ud229cfe3f79d0eg44``."""
    return "".join(rng.choice(ID_ALPHABET) for _ in range(26))


def canto_time(epoch: float) -> str:
    """Canto's date format ``yyyyMMddHHmmssSSS`` (UTC)."""
    dt = datetime.fromtimestamp(epoch, tz=UTC)
    return dt.strftime("%Y%m%d%H%M%S") + f"{dt.microsecond // 1000:03d}"


def scheme_of(asset: SandboxAsset) -> str:
    return "image" if asset.ext in ("png", "jpg") else "document"


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@dataclass
class _Consent:
    app_id: str
    redirect_uri: str
    state: str | None
    challenge: str | None
    method: str | None
    created: float = field(default_factory=time.time)


@dataclass
class _Code:
    app_id: str
    redirect_uri: str
    challenge: str | None
    method: str | None
    library: str
    expires: float
    used: bool = False
    issued: list[str] = field(default_factory=list)  # tokens issued from it (revoked on reuse)


@dataclass
class _Grant:
    """One login: its current refresh token and access tokens."""

    library: str
    refresh_token: str
    refresh_expires: float
    access: dict[str, float] = field(default_factory=dict)  # token -> expires at


class CantoEmulator(Emulator):
    name = "canto"

    def __init__(self, state: SandboxState, catalog: Catalog) -> None:
        super().__init__(state, catalog)
        extra = state.config.extra
        rng = random.Random(f"{state.config.seed}:canto:app")
        self.app_id: str = str(extra.get("canto_app_id") or "".join(rng.choice("0123456789abcdef")
                                                                    for _ in range(32)))
        self.app_secret: str = str(extra.get("canto_app_secret") or "".join(
            rng.choice(string.ascii_letters + string.digits) for _ in range(48)))
        self.token_ttl = float(extra.get("canto_token_ttl", DEFAULT_TOKEN_TTL))
        self.refresh_ttl = float(extra.get("canto_refresh_ttl", DEFAULT_REFRESH_TTL))
        self.redirect_uris: tuple[str, ...] = tuple(extra.get("canto_redirect_uris", ()))
        self._file_key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self.stats: dict[str, int] = {"token": 0, "refresh": 0, "authorization_code": 0}
        self.reset()

    @classmethod
    def make_catalog(cls, config: SandboxConfig) -> Catalog:
        return Catalog(cls.name, seed=config.seed, size=config.assets, tag=config.tag,
                       make_key=canto_id)

    def reset(self) -> None:
        with self._lock:
            self._consents: dict[str, _Consent] = {}
            self._codes: dict[str, _Code] = {}
            self._grants: dict[str, _Grant] = {}  # refresh token -> grant
            self._access: dict[str, tuple[float, _Grant]] = {}  # access token -> (expires, grant)

    def manifest(self) -> dict[str, Any]:
        return {"domain": self.base_url, "app_id": self.app_id, "app_secret": self.app_secret,
                "keyword": self.catalog.tag, "eligible": self.catalog.eligible()}

    # --- control (sandbox only) ----------------------------------------------------------------

    def revoke_all(self) -> None:
        """The user revoked the app: every access token, refresh token and code dies."""
        with self._lock:
            self._codes.clear()
            self._grants.clear()
            self._access.clear()

    def expire_access_tokens(self) -> None:
        """Every access token expires now; refresh tokens stay valid."""
        with self._lock:
            self._access = {t: (0.0, g) for t, (_, g) in self._access.items()}

    async def _revoke(self, request: Request) -> JSONResponse:
        self.revoke_all()
        return JSONResponse({"revoked": True})

    async def _expire(self, request: Request) -> JSONResponse:
        self.expire_access_tokens()
        return JSONResponse({"expired": True})

    # --- routes --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, Any, list[str]]] = [
            (f"{OAUTH}/authorize", self._authorize, ["GET", "POST"]),
            (f"{OAUTH}/compatible/authorize", self._authorize, ["GET", "POST"]),
            (f"{OAUTH}/token", self._token, ["POST"]),
            (f"{OAUTH}/compatible/token", self._token_compatible, ["POST"]),
            ("/api/v1/search", self._search, ["GET"]),
            ("/api/v1/user", self._user, ["GET"]),
            ("/api/v1/{scheme}/{asset_id}", self._detail, ["GET"]),
            ("/api_binary/v1/{scheme}/{asset_id}", self._binary, ["GET"]),
            ("/api_binary/v1/{scheme}/{asset_id}/download", self._binary, ["GET"]),
            ("/_files/{asset_id}", self._file, ["GET"]),
            ("/_revoke", self._revoke, ["POST"]),
            ("/_expire", self._expire, ["POST"]),
        ]
        out: list[BaseRoute] = []
        for path, endpoint, methods in table:  # bare and trailing-slash paths, no redirect
            out.append(Route(path, endpoint, methods=methods))
            out.append(Route(path + "/", endpoint, methods=methods))
        return out

    # --- OAuth ----------------------------------------------------------------------------------

    def _redirect_allowed(self, uri: str) -> bool:
        if uri in self.redirect_uris:
            return True
        try:
            parts = urlsplit(uri)
        except ValueError:
            return False
        loopback = is_loopback_host(parts.hostname or "")
        return parts.scheme == "http" and loopback and not parts.fragment

    def _error_page(self, message: str, status: int = 400) -> HTMLResponse:
        body = (f"<!doctype html><html><head><title>Canto - error</title></head><body>"
                f"<h1>Authorization error</h1><p id='error'>{html.escape(message)}</p>"
                "</body></html>")
        return HTMLResponse(body, status_code=status)

    async def _authorize(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._consent(request)
        q = request.query_params
        if q.get("response_type", "code") != "code":
            return self._error_page("unsupported response_type; use response_type=code")
        app_id = q.get("app_id") or q.get("client_id") or ""
        if not hmac.compare_digest(app_id, self.app_id):
            return self._error_page("Unknown app_id: no API key has this App ID.")
        redirect_uri = q.get("redirect_uri", "")
        if not redirect_uri or not self._redirect_allowed(redirect_uri):
            return self._error_page("redirect_uri does not match the API key's Redirect URL.")
        method = q.get("code_challenge_method")
        challenge = q.get("code_challenge")
        if challenge and (method or "plain") not in ("S256", "plain"):
            return self._error_page("code_challenge_method must be S256")
        consent_id = secrets.token_urlsafe(16)
        with self._lock:
            now = time.time()
            self._consents = {k: v for k, v in self._consents.items() if now - v.created < CODE_TTL}
            self._consents[consent_id] = _Consent(app_id, redirect_uri, q.get("state"), challenge,
                                                  (method or "plain") if challenge else None)
        options = "".join(f"<option value='{html.escape(lib)}'>{html.escape(lib)}</option>"
                          for lib in LIBRARIES)
        page = f"""<!doctype html>
<html><head><title>Canto - Authorize</title></head>
<body>
<h1>Canto (sandbox)</h1>
<p>Signed in as {html.escape(str(USER['email']))}.</p>
<p>An application (App ID ending {html.escape(app_id[-4:])}) asks to read your Canto library.</p>
<form id="consent" method="post" action="{html.escape(request.url.path)}">
  <input type="hidden" name="consent_id" value="{consent_id}">
  <label for="library">Select the part of Canto to share</label>
  <select id="library" name="library">{options}</select>
  <button type="submit" name="decision" value="allow">Allow</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>"""
        return HTMLResponse(page)

    async def _consent(self, request: Request) -> Response:
        form = await _form(request)
        consent_id = str(form.get("consent_id", ""))
        with self._lock:
            consent = self._consents.pop(consent_id, None)
        if consent is None or time.time() - consent.created > CODE_TTL:
            return self._error_page("This authorization request expired; start again.")
        state = {"state": consent.state} if consent.state is not None else {}
        if str(form.get("decision", "")).lower() != "allow":
            params = {"error": "access_denied",
                      "error_description": "The user denied access to Canto.", **state}
            return RedirectResponse(with_query(consent.redirect_uri, params), status_code=302)
        library = str(form.get("library") or LIBRARIES[0])
        if library not in LIBRARIES:
            return self._error_page("Unknown library.")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(consent.app_id, consent.redirect_uri, consent.challenge,
                                      consent.method, library, time.time() + CODE_TTL)
        return RedirectResponse(with_query(consent.redirect_uri, {"code": code, **state}),
                                status_code=302)

    @staticmethod
    def _token_error(error: str, description: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": error, "error_description": description}, status_code=status)

    async def _token_compatible(self, request: Request) -> JSONResponse:
        return await self._token(request, snake=True)

    async def _token(self, request: Request, snake: bool = False) -> JSONResponse:
        params: dict[str, str] = dict(request.query_params)
        params.update(await _form(request))
        self.stats["token"] += 1
        app_id = params.get("app_id") or params.get("client_id") or ""
        app_secret = params.get("app_secret") or params.get("client_secret") or ""
        if not hmac.compare_digest(app_id, self.app_id):
            return self._token_error("invalid_client", "unknown app_id")
        if not hmac.compare_digest(app_secret, self.app_secret):
            return self._token_error("invalid_client", "app_secret does not match this app_id")
        grant_type = params.get("grant_type", "")
        if grant_type == "authorization_code":
            self.stats["authorization_code"] += 1
            return self._exchange_code(params, snake)
        if grant_type == "refresh_token":
            self.stats["refresh"] += 1
            return self._refresh(params, snake)
        return self._token_error("unsupported_grant_type", "grant_type must be authorization_code "
                                 "or refresh_token")

    def _exchange_code(self, params: dict[str, str], snake: bool) -> JSONResponse:
        code = params.get("code", "")
        with self._lock:
            entry = self._codes.get(code)
            if entry is None or entry.expires < time.time():
                return self._token_error("invalid_grant", "the code is unknown or expired")
            if entry.used:  # replay: revoke what the code gave (RFC 6749 §4.1.2)
                for token in entry.issued:
                    grant = self._grants.pop(token, None)
                    for access in (grant.access if grant else {}):
                        self._access.pop(access, None)
                return self._token_error("invalid_grant", "the code was already used")
            redirect = params.get("redirect_uri")
            if redirect is not None and redirect != entry.redirect_uri:
                return self._token_error("invalid_grant", "redirect_uri differs from the authorize "
                                         "request")
            if entry.challenge:
                verifier = params.get("code_verifier", "")
                expected = s256(verifier) if entry.method == "S256" else verifier
                if not verifier or not hmac.compare_digest(expected, entry.challenge):
                    return self._token_error("invalid_grant", "code_verifier does not match")
            entry.used = True
            grant = _Grant(entry.library, secrets.token_urlsafe(32), time.time() + self.refresh_ttl)
            self._grants[grant.refresh_token] = grant
            entry.issued.append(grant.refresh_token)
            return self._issue(grant, snake)

    def _refresh(self, params: dict[str, str], snake: bool) -> JSONResponse:
        token = params.get("refresh_token", "")
        with self._lock:
            grant = self._grants.pop(token, None)
            if grant is None or grant.refresh_expires < time.time():
                return self._token_error("invalid_grant", "the refresh token is invalid, expired "
                                         "or revoked")
            grant.refresh_token = secrets.token_urlsafe(32)  # rotate; the old one is gone
            grant.refresh_expires = time.time() + self.refresh_ttl
            self._grants[grant.refresh_token] = grant
            return self._issue(grant, snake)

    def _issue(self, grant: _Grant, snake: bool) -> JSONResponse:
        access = secrets.token_urlsafe(32)
        expires = time.time() + self.token_ttl
        grant.access[access] = expires
        self._access[access] = (expires, grant)
        ttl = int(self.token_ttl) if self.token_ttl == int(self.token_ttl) else self.token_ttl
        body: dict[str, Any]
        if snake:
            body = {"access_token": access, "expires_in": str(ttl), "token_type": "bearer",
                    "refresh_token": grant.refresh_token}
        else:
            body = {"accessToken": access, "expiresIn": ttl, "tokenType": "Bearer",
                    "refreshToken": grant.refresh_token}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    # --- tenant API -----------------------------------------------------------------------------

    def _authorized(self, request: Request) -> Response | None:
        """None when the bearer token is good; else Canto's 404 (no token) or 401 (bad token)."""
        header = request.headers.get("authorization", "")
        token = ""
        if header:
            scheme, _, value = header.partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else ""
            if not token:
                return JSONResponse({"message": "Unauthorized"}, status_code=401)
        else:
            token = request.query_params.get("access_token", "")
        if not token:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        with self._lock:
            entry = self._access.get(token)
        if entry is None or entry[0] < time.time():
            return JSONResponse({"message": "Unauthorized: the access token is invalid or "
                                            "expired"}, status_code=401)
        return None

    def _asset_json(self, asset: SandboxAsset) -> dict[str, Any]:
        scheme = scheme_of(asset)
        base = self.base_url
        modified, created = canto_time(asset.modified), canto_time(asset.created)
        binary = f"{base}/api_binary/v1/{scheme}/{asset.key}"
        out: dict[str, Any] = {
            "id": asset.key, "name": asset.name, "scheme": scheme, "size": str(asset.size),
            "time": modified, "created": created, "lastUploaded": modified,
            "owner": USER["email"], "ownerName": USER["name"], "approvalStatus": "Approved",
            "md5": self.catalog.md5(asset), "tag": [], "keyword": list(asset.tags),
            "smartTags": [],
            "url": {"preview": f"{binary}/preview", "download": binary,
                    "detail": f"{base}/api/v1/{scheme}/{asset.key}",
                    "metadata": f"{base}/api/v1/{scheme}/{asset.key}/metadata",
                    "directUrlOriginal": self._file_url(asset)},
            "default": {"Size": str(asset.size), "Content Type": asset.mime, "Name": asset.name,
                        "Date uploaded": modified, "Date modified": modified},
            "versionHistory": [{"no": asset.version, "version": str(asset.version),
                                "versionId": f"{asset.key}v{asset.version}",
                                "currentVersion": True, "time": modified, "created": created}],
        }
        if scheme == "image":
            out.update(width="8", height="8")
            out["default"]["Dimensions"] = "8x8"
        if "omit_membership" in self.switches:
            del out["keyword"], out["tag"]
        return out

    @staticmethod
    def _int(value: str | None, default: int) -> int:
        try:
            return int(value) if value not in (None, "") else default
        except ValueError:
            return default

    def _matching(self, request: Request) -> list[SandboxAsset]:
        q = request.query_params
        exact = q.get("exactMatch", "false").lower() == "true"
        assets: list[SandboxAsset] | None = None
        for key in ("keywords", "tags", "tagsLiteral"):
            wanted = None if "ignore_tag_filter" in self.switches else q.get(key)
            if wanted is None or wanted == "":
                continue
            if key in ("tags", "tagsLiteral"):
                assets = []  # sandbox assets carry keywords, not free tags
                continue
            if exact:
                found = list(self.catalog.tagged(wanted))
            else:
                needle = wanted.casefold()
                with self.catalog.lock:
                    spellings = [t for t in self.catalog.by_tag if needle in t.casefold()]
                keys = {a.key for t in spellings for a in self.catalog.tagged(t)}
                found = [a for a in self.catalog.live() if a.key in keys]
            if assets is not None:
                keep = {a.key for a in found}
                found = [a for a in assets if a.key in keep]
            assets = found
        if assets is None:
            assets = list(self.catalog.live())
        text = q.get("keyword")
        if text:
            assets = [a for a in assets if self._text_match(a, text, exact)]
        schemes = [s for s in (q.get("scheme") or "").replace("+", "|").split("|") if s]
        if schemes:
            assets = [a for a in assets if scheme_of(a) in schemes]
        return assets

    @staticmethod
    def _text_match(asset: SandboxAsset, text: str, exact: bool) -> bool:
        fields = [asset.name, *asset.tags]
        if exact:
            return text in fields
        needle = text.casefold()
        return any(needle in f.casefold() for f in fields)

    async def _search(self, request: Request) -> Response:
        denied = self._authorized(request)
        if denied is not None:
            return denied
        q = request.query_params
        start = max(0, self._int(q.get("start"), 0))
        limit = min(MAX_LIMIT, max(0, self._int(q.get("limit"), DEFAULT_LIMIT)))
        sort_by = q.get("sortBy", "time")
        direction = q.get("sortDirection", "descending")
        assets = self._matching(request)
        keyfunc: dict[str, Any] = {
            "name": lambda a: (a.name, a.key), "size": lambda a: (a.size, a.key),
            "scheme": lambda a: (scheme_of(a), a.key),
        }
        assets.sort(key=keyfunc.get(sort_by, lambda a: (a.modified, a.number)),
                    reverse=direction != "ascending")
        page = assets[start:start + limit]
        body: dict[str, Any] = {"facets": [], "found": len(assets), "limit": limit, "start": start,
                                "sortBy": sort_by, "sortDirection": direction,
                                "matchExpr": q.get("keywords") or q.get("keyword") or ""}
        if page:
            body["results"] = [self._asset_json(a) for a in page]
        return JSONResponse(body)

    async def _user(self, request: Request) -> Response:
        denied = self._authorized(request)
        return denied if denied is not None else JSONResponse(USER)

    def _lookup(self, request: Request) -> SandboxAsset | Response:
        denied = self._authorized(request)
        if denied is not None:
            return denied
        scheme = request.path_params["scheme"]
        asset = self.catalog.get(request.path_params["asset_id"])
        if asset is None or scheme not in SCHEMES or scheme_of(asset) != scheme:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        return asset

    async def _detail(self, request: Request) -> Response:
        found = self._lookup(request)
        return found if isinstance(found, Response) else JSONResponse(self._asset_json(found))

    async def _binary(self, request: Request) -> Response:
        found = self._lookup(request)
        if isinstance(found, Response):
            return found
        return RedirectResponse(self._file_url(found), status_code=302)

    def _sign(self, key: str, version: int, expires: int) -> str:
        msg = f"{key}:{version}:{expires}".encode()
        return hmac.new(self._file_key, msg, hashlib.sha256).hexdigest()[:32]

    def _file_url(self, asset: SandboxAsset) -> str:
        expires = int(time.time()) + 3600
        sig = self._sign(asset.key, asset.version, expires)
        return f"{self.base_url}/_files/{asset.key}?v={asset.version}&exp={expires}&sig={sig}"

    async def _file(self, request: Request) -> Response:
        q = request.query_params
        asset = self.catalog.get(request.path_params["asset_id"])
        version, expires = self._int(q.get("v"), -1), self._int(q.get("exp"), 0)
        if asset is None or version != asset.version:
            return Response("Not Found", status_code=404, media_type="text/plain")
        if expires < time.time() or not hmac.compare_digest(
                self._sign(asset.key, version, expires), q.get("sig", "")):
            return Response("Access Denied", status_code=403, media_type="text/plain")
        data = self.catalog.content(asset)
        return Response(data, media_type=asset.mime, headers={"Content-Length": str(len(data))})


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (no python-multipart needed)."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


# --- driving the consent page (tests, the demo, training scripts) ------------------------------


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")


def parse_consent_form(page: str, page_url: str) -> tuple[str, dict[str, str]]:
    """The consent form's absolute action URL and its hidden fields."""
    parser = _FormParser()
    parser.feed(page)
    if "consent_id" not in parser.fields:
        raise ValueError("not a Canto consent page")
    return urljoin(page_url, parser.action or page_url), parser.fields


async def sandbox_login(login: Any) -> None:
    """Log in on the sandbox, playing the user on its consent page (demo, tests only).

    ``login`` is a browser login of the provider spec (``start()`` gives the authorize URL,
    ``complete(location)`` takes the address the browser was sent to).
    """
    request = login.start()
    location = await asyncio.to_thread(consent, request.authorize_url)
    await login.complete(location)


def consent(authorize_url: str, *, allow: bool = True, library: str = LIBRARIES[0],
            timeout: float = 10.0) -> str:
    """Play the user: open ``authorize_url``, pick ``library``, click Allow (or Deny).

    Returns the redirect ``Location`` (the address the browser is sent to), without following it.
    Raises ValueError with the page's error text when the authorize request is refused.
    """
    import httpx  # the sandbox plays a browser here, not a connector

    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        page = client.get(authorize_url)
        if page.status_code != 200:
            raise ValueError(f"authorize page answered {page.status_code}: "
                             f"{_error_text(page.text)}")
        action, fields = parse_consent_form(page.text, str(page.url))
        fields.update(library=library, decision="allow" if allow else "deny")
        answer = client.post(action, data=fields)
        if answer.status_code not in (302, 303):
            raise ValueError(f"consent answered {answer.status_code}: {_error_text(answer.text)}")
        return answer.headers["location"]


def _error_text(page: str) -> str:
    start = page.find("<p id='error'>")
    if start < 0:
        return page[:200]
    return html.unescape(page[start + 14:page.find("</p>", start)])
