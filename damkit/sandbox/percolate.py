"""Percolate emulator: client credentials, terms, v5 assets and downloads, as percolate.md says.

Wire facts follow the API reference providers/percolate.md. Where the reference is a guess ([G]) this
module makes one documented choice (see docs/sandbox.md, "Percolate"):

- Token errors: 401 ``{"errors":[{"code","message"}],"error":...}`` with code
  ``auth.invalid_client`` (unknown Client ID) or ``auth.invalid_secret`` (wrong Client Secret).
- A missing, unknown or expired bearer token on ``/api/**``: 401 code ``unauthorized``.
- A scope the token may not read (unknown license, or a license of another API client): 403 code
  ``scope.forbidden``, the same answer for both so that license ids are not probed.
- ``/api/v5/asset/`` requires ``scope_ids`` (400 ``validation.required`` without it), filters by
  ``term_ids`` (any of them; switch ``ignore_tag_filter`` ignores it), clamps ``limit`` to
  ``max_limit`` (1000) and accepts ``limit=0`` (count only). Assets carry no ``term_ids``, as in the
  SDK's fixture (switch ``asset_term_ids`` adds them); an asset's terms are read from
  ``/api/v5/metadata/?object_ids=`` (switch ``omit_membership`` answers 404 there). Term search is
  a case-insensitive prefix match (switch ``term_search_substring``). No checksum on the wire.
- ``/api/v5/asset/{id}/download`` answers 302 to an unauthenticated, signed CDN path
  ``/percolate/cdn/ugc/raw/...`` (or 200 bytes with ``download="direct"``).

Sandbox controls below the mount (not Percolate): ``POST /_expire`` expires every issued token,
``POST /_revoke`` (``{"revoked": false}`` undoes it) deletes the main API client.

Options come from ``SandboxConfig.extra["percolate"]`` (``token_ttl``, ``download``,
``cdn_host``, ``max_limit``) and may be changed on the emulator object at run time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .base import Emulator
from .catalog import Catalog, SandboxAsset

if TYPE_CHECKING:
    from .app import SandboxConfig, SandboxState

DEFAULT_TTL = 2_592_000  # 30 days, as the Workato sample shows
MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
FIRST_TERM = 2_030_700
USER_ID = "user:130135"


def iso(ts: float) -> str:
    """ISO-8601 with offset, as v5 timestamps are: ``2016-12-09T15:57:14+00:00``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"errors": [{"code": code, "message": message}], **extra},
                        status_code=status)


def json_body(content: Any) -> bytes:
    """``content`` encoded exactly as :class:`JSONResponse` encodes it (so that cached pieces
    joined together are the bytes it would have sent)."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")


def json_response(body: bytes) -> Response:
    return Response(body, media_type=JSONResponse.media_type)


#: wire forms (JSON, per asset) and list pages kept before each cache starts over
WIRE_CACHE_SIZE = 4096
PAGE_CACHE_SIZE = 1024


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@dataclass
class ApiClient:
    """One Percolate API client (Settings > Developer > API Clients) and the license it can read."""

    client_id: str  # "client:N"
    secret: str
    scopes: frozenset[str]
    grant_type: str = "client_credentials"
    revoked: bool = False


@dataclass
class Token:
    value: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float


class PercolateEmulator(Emulator):
    name = "percolate"
    own_switches = ("asset_term_ids", "term_search_substring")

    def __init__(self, state: SandboxState, catalog: Catalog) -> None:
        super().__init__(state, catalog)
        config = state.config
        options: dict[str, Any] = dict(config.extra.get("percolate", {}))
        rng = random.Random(f"{config.seed}:percolate:ids")
        self.license = f"license:{rng.randrange(10_000, 99_999)}"
        self.other_license = f"license:{rng.randrange(100_000, 199_999)}"
        self.client = ApiClient(f"client:{rng.randrange(1000, 9999)}",
                                f"{rng.getrandbits(160):040x}", frozenset({self.license}))
        #: A second API client that reads only ``other_license`` (scope-isolation tests).
        self.other_client = ApiClient(f"client:{rng.randrange(10_000, 19_999)}",
                                      f"{rng.getrandbits(160):040x}",
                                      frozenset({self.other_license}))
        self.token_ttl: float = float(options.get("token_ttl", DEFAULT_TTL))
        self.download_mode: str = str(options.get("download", "redirect"))
        self.cdn_host: str | None = options.get("cdn_host")
        self.max_limit: int = int(options.get("max_limit", MAX_LIMIT))
        self._cdn_key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self.tokens: dict[str, Token] = {}
        self.terms: dict[str, str] = {}  # term id -> name (the catalog's tags)
        self.term_ids: dict[str, str] = {}  # name -> term id
        self._union_cache: dict[tuple[str, ...], list[SandboxAsset]] = {}
        self._live_cache: list[SandboxAsset] | None = None
        #: asset key -> ((modified, version, with term_ids), its wire form as JSON)
        self._wire_cache: dict[str, tuple[tuple[float, int, bool], bytes]] = {}
        #: (query string, token scopes, max_limit) -> the metadata answer's body, as list pages
        self._meta_cache: dict[tuple[bytes, frozenset[str], int], bytes] = {}
        #: (query string, token scopes, max_limit, switches) -> the list page's body
        self._page_cache: dict[tuple[bytes, frozenset[str], int, bool, bool], bytes] = {}
        self._changes = 0  # catalog changes so far: a page computed across one is not kept
        #: Requests the CDN saw that carried an Authorization header (must stay 0).
        self.cdn_requests = 0
        self.cdn_auth_seen = 0
        self.token_requests = 0
        catalog.listeners.append(self._on_change)
        self._sync_terms()

    # --- setup --------------------------------------------------------------------------------

    @classmethod
    def make_catalog(cls, config: SandboxConfig) -> Catalog:
        return Catalog(cls.name, seed=config.seed, size=config.assets, tag=config.tag,
                       make_key=lambda n, rng: f"asset:{n + 1}")

    def manifest(self) -> dict[str, Any]:
        return {
            "scope_id": self.license,
            "client_id": self.client.client_id,
            "client_secret": self.client.secret,
            "tag": self.catalog.tag,
            "api_url": self.base_url,
            "eligible": self.catalog.eligible(),
        }

    def reset(self) -> None:
        with self._lock:
            self.tokens.clear()
            self.client.revoked = self.other_client.revoked = False
        self.cdn_requests = self.cdn_auth_seen = self.token_requests = 0

    def expire_tokens(self) -> int:
        """Make every issued token expired (as after 30 days); returns how many there were."""
        with self._lock:
            for token in self.tokens.values():
                token.expires_at = 0.0
            return len(self.tokens)

    def _on_change(self, kind: str, asset: SandboxAsset) -> None:
        with self._lock:
            self._union_cache.clear()
            self._live_cache = None
            self._wire_cache.clear()
            self._meta_cache.clear()
            self._page_cache.clear()
            self._changes += 1
        self._sync_terms()

    def _sync_terms(self) -> None:
        """Every tag in the catalog is a term (namespace ``tag``); ids stay stable once given."""
        with self.catalog.lock:
            names = sorted(self.catalog.by_tag)
        with self._lock:
            for name in names:
                if name not in self.term_ids:
                    term_id = f"term:{FIRST_TERM + len(self.term_ids)}"
                    self.term_ids[name] = term_id
                    self.terms[term_id] = name

    def routes(self) -> list[BaseRoute]:
        def both(path: str, endpoint: Any, methods: list[str]) -> list[Route]:
            bare = path.rstrip("/")
            return [Route(bare, endpoint, methods=methods), Route(bare + "/", endpoint, methods=methods)]

        return [
            *both("/auth/v5/token/", self.token, ["POST"]),
            *both("/api/v5/me", self.me, ["GET"]),
            *both("/api/v5/term/", self.term_list, ["GET"]),
            *both("/api/v5/asset/", self.asset_list, ["GET"]),
            *both("/api/v5/metadata/", self.metadata_list, ["GET"]),
            *both("/api/v5/asset/{asset_id}", self.asset_get, ["GET"]),
            *both("/api/v5/asset/{asset_id}/download", self.asset_download, ["GET"]),
            Route("/cdn/ugc/raw/{number:int}/{version:int}/{filename}", self.cdn, methods=["GET"]),
            # sandbox controls (not Percolate; never faulted), as Canto's /_expire and /_revoke
            Route("/_expire", self.control_expire, methods=["POST"]),
            Route("/_revoke", self.control_revoke, methods=["POST"]),
        ]

    async def control_expire(self, request: Request) -> Response:
        """Every issued token expires now (as after its 30 days)."""
        return JSONResponse({"expired": self.expire_tokens()})

    async def control_revoke(self, request: Request) -> Response:
        """The main API client is deleted: its tokens stop working and new ones are refused.
        ``{"revoked": false}`` restores it."""
        body = await request.body()
        try:
            revoked = bool(json.loads(body).get("revoked", True)) if body else True
        except (ValueError, AttributeError):
            return error(400, "validation.invalid_json", 'send {"revoked": true|false}')
        self.client.revoked = revoked
        return JSONResponse({"client_id": self.client.client_id, "revoked": revoked})

    # --- auth ---------------------------------------------------------------------------------

    def _clients(self) -> Iterable[ApiClient]:
        return (self.client, self.other_client)

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        body = await request.body()
        fields: dict[str, Any] = {}
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                loaded = json.loads(body or b"{}")
                fields = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                return error(400, "validation.invalid_json", "The body is not valid JSON.")
        else:  # application/x-www-form-urlencoded (python-multipart is not a dependency)
            fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = fields.get("grant_type")
        if grant != "client_credentials":
            return error(400, "auth.unsupported_grant_type",
                         f"grant_type '{grant}' is not supported by this client",
                         error="unsupported_grant_type")
        parsed = self._basic(request.headers.get("authorization", ""))
        if parsed is None:
            return error(401, "auth.invalid_client", "Client authentication failed.",
                         error="invalid_client")
        client_id, secret = parsed
        if not client_id.startswith("client:"):
            client_id = "client:" + client_id
        client = next((c for c in self._clients() if c.client_id == client_id and not c.revoked), None)
        if client is None:
            return error(401, "auth.invalid_client", "Unknown API client.", error="invalid_client")
        if not hmac.compare_digest(client.secret.encode(), secret.encode()):
            return error(401, "auth.invalid_secret", "The client secret is not valid for this client.",
                         error="invalid_client")
        value = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self.tokens[value] = Token(value, client.client_id, client.scopes, now + self.token_ttl)
        return JSONResponse({
            "id": f"token:{secrets.token_hex(8)}", "access_token": value, "token_type": "bearer",
            "expires_in": int(self.token_ttl), "user_id": USER_ID,
            "grant_id": f"grant:{secrets.randbelow(10**7)}", "updated_at": iso(now),
        })

    @staticmethod
    def _basic(header: str) -> tuple[str, str] | None:
        """``Basic base64("client:{id}:{secret}")``: split at the last colon."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value:
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, secret = decoded.rpartition(":")
        return (user, secret) if sep and user else None

    def _token(self, request: Request) -> Token | Response:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        token = self.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            return error(401, "unauthorized", "Authentication credentials were not provided or are invalid.")
        if token.expires_at <= time.time():
            return error(401, "unauthorized", "The access token has expired.")
        client = next((c for c in self._clients() if c.client_id == token.client_id), None)
        if client is None or client.revoked:
            return error(401, "unauthorized", "The access token has been revoked.")
        return token

    def _scopes(self, token: Token, raw: str | None) -> list[str] | Response:
        scopes = split_list(raw)
        if not scopes:
            return error(400, "validation.required", "scope_ids is required.")
        for scope in scopes:
            if scope not in token.scopes:
                return error(403, "scope.forbidden", f"You do not have access to {scope}.")
        return scopes

    # --- resources ----------------------------------------------------------------------------

    async def me(self, request: Request) -> Response:
        token = self._token(request)
        if isinstance(token, Response):
            return token
        return JSONResponse({"data": {
            "id": USER_ID, "email": "api-client@example.com", "name": "Library API client",
            "timezone": "UTC", "avatar_id": None, "updated_at": iso(1_700_000_000),
        }})

    @staticmethod
    def _paging(request: Request, max_limit: int) -> tuple[int, int] | Response:
        try:
            offset = int(request.query_params.get("offset", 0))
            limit = int(request.query_params.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return error(400, "validation.invalid", "offset and limit must be integers.")
        if offset < 0 or limit < 0:
            return error(400, "validation.invalid", "offset and limit must not be negative.")
        return offset, min(limit, max_limit)

    async def term_list(self, request: Request) -> Response:
        token = self._token(request)
        if isinstance(token, Response):
            return token
        q = request.query_params
        paging = self._paging(request, self.max_limit)
        if isinstance(paging, Response):
            return paging
        offset, limit = paging
        scopes: list[str] = []
        if q.get("scope_ids"):
            checked = self._scopes(token, q.get("scope_ids"))
            if isinstance(checked, Response):
                return checked
            scopes = checked
        self._sync_terms()
        ids = set(split_list(q.get("ids")))
        search = (q.get("search") or "").casefold()
        namespace = q.get("namespace")
        readable = self.license in token.scopes and (not scopes or self.license in scopes)
        items = []
        if readable and namespace in (None, "", "tag"):
            with self._lock:
                pairs = sorted(self.terms.items(), key=lambda p: int(p[0].split(":")[1]))
            for term_id, name in pairs:
                if ids and term_id not in ids:
                    continue
                if search and not (search in name.casefold()
                                   if "term_search_substring" in self.switches
                                   else name.casefold().startswith(search)):
                    continue
                items.append({"id": term_id, "name": name, "namespace": "tag",
                              "scope_id": self.license, "parent_id": None,
                              "updated_at": iso(1_700_000_000)})
        query: dict[str, Any] = {k: v for k, v in q.items()}
        query.update(offset=offset, limit=limit)
        return JSONResponse({"meta": {"query": query, "total": len(items)},
                             "data": items[offset:offset + limit]})

    def _wire_json(self, asset: SandboxAsset, with_terms: bool) -> bytes:
        """:meth:`_wire` as JSON, cached: most requests read assets that have not changed since
        the last time they were sent (every change bumps ``modified`` and empties the cache)."""
        stamp = (asset.modified, asset.version, with_terms)
        hit = self._wire_cache.get(asset.key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        body = json_body(self._wire(asset, with_terms))
        with self._lock:
            if len(self._wire_cache) >= WIRE_CACHE_SIZE:
                self._wire_cache.clear()
            self._wire_cache[asset.key] = (stamp, body)
        return body

    def _wire(self, asset: SandboxAsset, with_terms: bool) -> dict[str, Any]:
        ext: dict[str, Any] = {}
        if asset.kind == "image":
            ext = {"dimensions": {"width": 8, "height": 8, "unit": "pixels"}, "orientation": "square"}
        kind = "pdf" if asset.ext == "pdf" else asset.kind
        return {
            "id": asset.key, "filename": asset.name, "content_type": asset.mime, "size": asset.size,
            "scope_id": self.license, "created_at": iso(asset.created),
            "updated_at": iso(asset.modified), "status": "archived" if asset.archived else "ready",
            "type": kind, "created_through": "Web Upload", "creator_id": USER_ID,
            "folder_id": "folder:1", "deleted": asset.deleted, "ext": ext,
        } | ({"term_ids": self._asset_terms(asset)} if with_terms else {})

    def _asset_terms(self, asset: SandboxAsset) -> list[str]:
        return [self.term_ids[t] for t in asset.tags if t in self.term_ids]

    async def metadata_list(self, request: Request) -> Response:
        """``GET /api/v5/metadata/?object_ids=asset:1,...``: one metadata object per readable
        asset; its schema field ``"1"`` (type term) holds the asset's term ids, as post
        metadata does in the SDK's fixtures (percolate.md §3). Answers are kept until the
        catalog changes, as list pages are (a re-sync asks the same chunks again)."""
        token = self._token(request)
        if isinstance(token, Response):
            return token
        if "omit_membership" in self.switches:
            return error(404, "not_found", "Not found.")
        key = (request.scope.get("query_string", b""), token.scopes, self.max_limit)
        body = self._meta_cache.get(key)
        if body is None:
            changes = self._changes
            page = self._metadata_page(request, token)
            if isinstance(page, Response):
                return page
            body = page
            self._keep(self._meta_cache, key, changes, body)
        return json_response(body)

    def _metadata_page(self, request: Request, token: Token) -> bytes | Response:
        ids = split_list(request.query_params.get("object_ids"))
        if not ids:
            return error(400, "validation.required", "object_ids is required.")
        data = []
        if self.license in token.scopes:
            for object_id in ids[:self.max_limit]:
                asset = self.catalog.get(object_id)
                if asset is not None:
                    data.append({"id": f"metadata:{asset.number + 1}", "object_id": asset.key,
                                 "schema_id": "schema:1", "ext": {"1": self._asset_terms(asset)},
                                 "created_at": iso(asset.created),
                                 "updated_at": iso(asset.modified)})
        return json_body({"meta": {"total": len(data), "query": {"object_ids": ids}},
                          "data": data})

    def _keep(self, cache: dict[Any, bytes], key: Any, changes: int, body: bytes) -> None:
        """Keep an answer, unless the catalog changed while it was computed."""
        with self._lock:
            if changes == self._changes:
                if len(cache) >= PAGE_CACHE_SIZE:
                    cache.clear()
                cache[key] = body

    def _live(self) -> list[SandboxAsset]:
        with self._lock:
            cached = self._live_cache
        if cached is None:
            cached = list(self.catalog.live())
            with self._lock:
                self._live_cache = cached
        return cached

    def _with_terms(self, term_ids: list[str]) -> list[SandboxAsset]:
        """Live assets carrying any of ``term_ids``, in catalog order (cached)."""
        names = sorted({self.terms[t] for t in term_ids if t in self.terms})
        if len(names) == 1:
            return self.catalog.tagged(names[0])
        key = tuple(names)
        with self._lock:
            cached = self._union_cache.get(key)
        if cached is None:
            seen: dict[str, SandboxAsset] = {}
            for name in names:
                for asset in self.catalog.tagged(name):
                    seen[asset.key] = asset
            cached = sorted(seen.values(), key=lambda a: a.number)
            with self._lock:
                self._union_cache[key] = cached
        return cached

    async def asset_list(self, request: Request) -> Response:
        """A page of ``/api/v5/asset/``. Pages are kept until the catalog changes: the answer
        depends only on the query, the token's scopes, ``max_limit`` and two switches."""
        token = self._token(request)
        if isinstance(token, Response):
            return token
        switches = self.switches
        key = (request.scope.get("query_string", b""), token.scopes, self.max_limit,
               "ignore_tag_filter" in switches, "asset_term_ids" in switches)
        body = self._page_cache.get(key)
        if body is None:
            changes = self._changes
            page = self._asset_page(request, token, ignore_tags=key[3], with_terms=key[4])
            if isinstance(page, Response):
                return page
            body = page
            self._keep(self._page_cache, key, changes, body)
        return json_response(body)

    def _asset_page(self, request: Request, token: Token, *, ignore_tags: bool,
                    with_terms: bool) -> bytes | Response:
        q = request.query_params
        scopes = self._scopes(token, q.get("scope_ids"))
        if isinstance(scopes, Response):
            return scopes
        paging = self._paging(request, self.max_limit)
        if isinstance(paging, Response):
            return paging
        offset, limit = paging
        term_ids = [] if ignore_tags else split_list(q.get("term_ids"))
        if self.license not in scopes:
            assets: list[SandboxAsset] = []
        elif term_ids:
            assets = self._with_terms(term_ids)
        else:
            assets = self._live()
        ids = set(split_list(q.get("ids")))
        if ids:
            assets = [a for a in assets if a.key in ids]
        types = set(split_list(q.get("types")))
        if types:
            assets = [a for a in assets if self._wire_type(a) in types]
        if q.get("order_direction", "asc").lower() == "desc":
            page = assets[::-1][offset:offset + limit]
        else:
            page = assets[offset:offset + limit]
        query: dict[str, Any] = {k: v for k, v in q.items()}
        query.update(offset=offset, limit=limit, scope_ids=scopes)
        if term_ids:
            query["term_ids"] = term_ids
        return (b'{"include":{},"meta":' + json_body({"total": len(assets), "query": query})
                + b',"data":[' + b",".join(self._wire_json(a, with_terms) for a in page) + b"]}")

    @staticmethod
    def _wire_type(asset: SandboxAsset) -> str:
        return "pdf" if asset.ext == "pdf" else asset.kind

    def _visible(self, token: Token, asset_id: str, deleted_ok: bool) -> SandboxAsset | Response:
        asset = self.catalog.assets.get(asset_id)
        if asset is None or self.license not in token.scopes or (asset.deleted and not deleted_ok):
            return error(404, "not_found", f"{asset_id} was not found.")
        return asset

    async def asset_get(self, request: Request) -> Response:
        token = self._token(request)
        if isinstance(token, Response):
            return token
        deleted_ok = request.query_params.get("deleted", "").lower() == "true"
        asset = self._visible(token, request.path_params["asset_id"], deleted_ok)
        if isinstance(asset, Response):
            return asset
        wire = self._wire_json(asset, "asset_term_ids" in self.switches)
        return json_response(b'{"include":{},"data":' + wire + b"}")

    # --- download -----------------------------------------------------------------------------

    def _sig(self, number: int, version: int, expires: int) -> str:
        msg = f"{number}:{version}:{expires}".encode()
        return hmac.new(self._cdn_key, msg, hashlib.sha256).hexdigest()[:32]

    def cdn_url(self, asset: SandboxAsset, disposition: str = "attachment") -> str:
        """A signed, unauthenticated CDN address for the asset's current bytes (valid 10 min)."""
        expires = int(time.time()) + 600
        safe = f"{asset.number}.{asset.ext}"
        base = self.base_url
        if self.cdn_host:
            parts = urlsplit(base)
            netloc = self.cdn_host + (f":{parts.port}" if parts.port else "")
            base = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return (f"{base}/cdn/ugc/raw/{asset.number}/{asset.version}/{quote(safe)}"
                f"?expires={expires}&disposition={disposition}"
                f"&sig={self._sig(asset.number, asset.version, expires)}")

    async def asset_download(self, request: Request) -> Response:
        token = self._token(request)
        if isinstance(token, Response):
            return token
        asset = self._visible(token, request.path_params["asset_id"], False)
        if isinstance(asset, Response):
            return asset
        disposition = request.query_params.get("disposition", "attachment")
        if self.download_mode == "direct":
            return self._bytes(asset, disposition)
        return RedirectResponse(self.cdn_url(asset, disposition), status_code=302)

    def _bytes(self, asset: SandboxAsset, disposition: str) -> Response:
        data = self.catalog.content(asset)
        kind = "inline" if disposition == "inline" else "attachment"
        return Response(data, media_type=asset.mime, headers={
            "Content-Disposition": f"{kind}; filename=\"{asset.number}.{asset.ext}\"",
            "Cache-Control": "no-cache",
        })

    async def cdn(self, request: Request) -> Response:
        self.cdn_requests += 1
        if "authorization" in request.headers:
            self.cdn_auth_seen += 1
        number = request.path_params["number"]
        version = request.path_params["version"]
        try:
            expires = int(request.query_params.get("expires", "0"))
        except ValueError:
            expires = 0
        sig = request.query_params.get("sig", "")
        if expires < time.time() or not hmac.compare_digest(sig, self._sig(number, version, expires)):
            return Response("<Error><Code>AccessDenied</Code></Error>", status_code=403,
                            media_type="application/xml")
        key = self.catalog.order[number] if 0 <= number < len(self.catalog.order) else None
        asset = self.catalog.get(key) if key else None
        if asset is None or asset.version != version:
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404,
                            media_type="application/xml")
        return self._bytes(asset, request.query_params.get("disposition", "attachment"))
