"""Bynder emulator: OAuth 1.0a / bearer auth, media list and tags, downloads, metaproperties,
current user and security profiles, the 15 requests/s limit, and SNS notifications.

Wire facts follow the API reference providers/bynder.md. Where the reference is a guess ([G]) this
module makes one documented choice (see docs/sandbox.md, "Bynder"):

- Errors are ``{"message": ..., "statuscode": N}``. 401 messages tell the failures apart:
  ``Unknown consumer key``, ``Unknown access token``, ``Invalid signature``, ``Timestamp out of
  range``, ``Nonce already used``, ``Access token expired``, ``Access token revoked``,
  ``Missing authorization``.
- Tag filters match exactly (case and spaces); several tags (``tags=a,b``) must all be present.
- Lists follow the real API's flags: ``archive=1`` lists only archived media and ``archive=0``
  (or none) does no filtering, so archived media are listed with ``"archive": 1`` (switch
  ``hide_archived`` plays the opposite guess); limited-use media are left out unless
  ``limited=1``, which lists only them (switch ``limited_included``). A deleted asset is 404.
- ``limit`` defaults to 50 and is clamped to 1000; ``page`` starts at 1 (400 below).
- Security-profile ``roles`` use upper-snake wire names (:data:`ROLE_NAMES`); reading a profile
  needs ``PERMISSIONS_MANAGEMENT`` (403 otherwise), creating a metaproperty
  ``METAPROPERTY_MANAGEMENT``, modifying media ``EDIT_MEDIA``, a download URL
  ``DOWNLOAD_ORIGINAL``.
- Text metaproperties are set with ``metaproperty.<id>=<text>`` and read back as a string in
  ``property_<name>``; select ones take option ids and read back as a list of option names.
- SNS subjects: created ``asset_bank.media.create``, new version ``asset_bank.media.updated``,
  tags/metadata ``asset_bank.media.meta_updated``, archive ``meta_updated`` then ``archived``,
  delete ``asset_bank.media.deleted``.

Options: ``SandboxConfig.extra["bynder"]`` (a dict: ``missing_permissions``, ``oauth_window``,
``token_ttl``, ``tags_case_insensitive``, ``sns_duplicate``, ``sns_create_subject``), or the flat
key ``extra["bynder_missing_permissions"]``. Missing permissions are a list of guide names
("Edit media") or wire names ("EDIT_MEDIA"), for every credential, or a dict
``{"oauth1"|"permanent_token"|"oauth2": [...]}``; ``POST /bynder/_sandbox/permissions`` changes
them at run time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from oauthlib.oauth1.rfc5849 import signature as oauth_sig
from oauthlib.oauth1.rfc5849 import utils as oauth_utils
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .base import Emulator
from .catalog import Catalog, SandboxAsset
from .sns import SnsPublisher, make_listener, sns_routes

if TYPE_CHECKING:
    from .app import SandboxConfig, SandboxState

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
TEXT_LIMIT = 2500
S3_TTL = 900

#: guide name -> wire name of the security-profile role.
ROLE_NAMES: dict[str, str] = {
    "Metaproperty management": "METAPROPERTY_MANAGEMENT",
    "Permissions management": "PERMISSIONS_MANAGEMENT",
    "Edit media": "EDIT_MEDIA",
    "Download original": "DOWNLOAD_ORIGINAL",
}
OTHER_ROLES = ("VIEW_MEDIA", "UPLOAD_MEDIA", "MANAGE_COLLECTIONS", "VIEW_TAGS")
CREDENTIAL_KINDS = ("oauth1", "permanent_token", "oauth2")
METAPROPERTY_TYPES = ("select", "select2", "autocomplete", "text", "longtext", "date",
                      "linked_assets")
MP_NAME_RE = re.compile(r"^[a-z0-9_]{1,64}$")


def bynder_id(rng: random.Random) -> str:
    """Bynder's "8-4-4-16" uppercase id: ``86B09440-FB61-450F-AFA65FABF4F5D628``."""
    h = "".join(rng.choice("0123456789ABCDEF") for _ in range(32))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:]}"


def derived_id(*parts: str) -> str:
    h = hashlib.sha1(":".join(parts).encode(), usedforsecurity=False).hexdigest().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:32]}"


def iso(ts: float) -> str:
    """``2023-10-10T09:52:05Z``: UTC, no fraction."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> float | None:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message, "statuscode": status}, status_code=status,
                        headers=headers)


def split_list(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v != ""]


def flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def title_of(asset: SandboxAsset) -> str:
    """Bynder's asset ``name``: the file name without its extension (as an upload sets it)."""
    suffix = "." + asset.ext
    if asset.name.lower().endswith(suffix) and len(asset.name) > len(suffix):
        return asset.name[: -len(suffix)]
    return asset.name


def safe_segment(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._")
    return cleaned[:120] or "file"


@dataclass
class Principal:
    """Who a request is authenticated as: one of the three credential kinds."""

    kind: str  # "oauth1" | "permanent_token" | "oauth2"
    key: str  # rate-limit bucket key


@dataclass
class Credentials:
    consumer_key: str
    consumer_secret: str
    token_key: str
    token_secret: str
    permanent_token: str
    client_id: str
    client_secret: str


@dataclass
class Bucket:
    tokens: float
    updated: float


@dataclass
class BynderOptions:
    missing_permissions: dict[str, set[str]] = field(default_factory=dict)
    oauth_window: float = 300.0
    token_ttl: int = 3599
    tags_case_insensitive: bool = False
    sns_duplicate: bool = False
    sns_create_subject: str = "asset_bank.media.create"


def wire_role(name: str) -> str:
    """A guide name ("Edit media") or wire name ("EDIT_MEDIA") -> the wire name."""
    if name in ROLE_NAMES:
        return ROLE_NAMES[name]
    for guide, wire in ROLE_NAMES.items():
        if name.strip().lower() in (guide.lower(), wire.lower()):
            return wire
    return name.strip().upper().replace(" ", "_")


def parse_missing(value: Any) -> dict[str, set[str]]:
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(k): {wire_role(v) for v in vs} for k, vs in value.items()}
    return {kind: {wire_role(v) for v in value} for kind in CREDENTIAL_KINDS}


Handler = Callable[[Request, Principal], Awaitable[Response]]


class BynderEmulator(Emulator):
    name = "bynder"
    own_switches = ("hide_archived", "limited_included", "unknown_role_names")

    def __init__(self, state: SandboxState, catalog: Catalog) -> None:
        super().__init__(state, catalog)
        config = state.config
        raw = dict(config.extra.get("bynder") or {})
        if "bynder_missing_permissions" in config.extra:
            raw.setdefault("missing_permissions", config.extra["bynder_missing_permissions"])
        self.options = BynderOptions(
            missing_permissions=parse_missing(raw.get("missing_permissions")),
            oauth_window=float(raw.get("oauth_window", 300.0)),
            token_ttl=int(raw.get("token_ttl", 3599)),
            tags_case_insensitive=bool(raw.get("tags_case_insensitive", False)),
            sns_duplicate=bool(raw.get("sns_duplicate", False)),
            sns_create_subject=str(raw.get("sns_create_subject", "asset_bank.media.create")),
        )
        rng = random.Random(f"{config.seed}:bynder:credentials")
        self.creds = Credentials(
            consumer_key=bynder_id(rng), consumer_secret=secrets_hex(rng, 32),
            token_key=bynder_id(rng), token_secret=secrets_hex(rng, 32),
            permanent_token=secrets_hex(rng, 64), client_id=bynder_id(rng).lower(),
            client_secret=secrets_hex(rng, 40),
        )
        self.s3_secret = secrets.token_bytes(32)
        self.user_id = derived_id(str(config.seed), "user")
        self.brand_id = derived_id(str(config.seed), "brand")
        self.sns = SnsPublisher(f"{self.base_url}/_sns", duplicate=self.options.sns_duplicate)
        self._listener = make_listener(self.sns, self._subjects, lambda a: a.key)
        self._init_state()
        self._attach()

    # --- state ---------------------------------------------------------------------------------

    def _init_state(self) -> None:
        self.nonces: dict[tuple[str, str, str], float] = {}
        self.oauth2_tokens: dict[str, float] = {}  # access token -> expiry (epoch)
        self.revoked: set[str] = set()  # credential kinds
        self.buckets: dict[str, Bucket] = {}
        self.metaproperties: dict[str, dict[str, Any]] = {}
        self._seed_metaproperties()

    def _seed_metaproperties(self) -> None:
        for zindex, (name, label, mp_type, options) in enumerate((
            ("assettype", "Asset type", "select", ("Photo", "Illustration", "Document")),
            ("campaign", "Campaign", "text", ()),
        ), start=1):
            mp_id = derived_id(str(self.state.config.seed), "mp", name)
            self.metaproperties[mp_id] = self._metaproperty(mp_id, {
                "name": name, "label": label, "type": mp_type, "zindex": zindex})
            self.metaproperties[mp_id]["options"] = [
                {"id": derived_id(mp_id, o), "name": o.lower(), "label": o, "zindex": i,
                 "isSelectable": 1, "linkedOptionIds": [], "options": []}
                for i, o in enumerate(options, start=1)]

    def _attach(self) -> None:
        if self._listener not in self.catalog.listeners:
            self.catalog.listeners.append(self._listener)

    def reset(self) -> None:
        self._init_state()
        self.sns.stop()
        self.sns = SnsPublisher(f"{self.base_url}/_sns", duplicate=self.options.sns_duplicate)
        self._listener = make_listener(self.sns, self._subjects, lambda a: a.key)
        self._attach()

    @classmethod
    def make_catalog(cls, config: SandboxConfig) -> Catalog:
        return Catalog(cls.name, seed=config.seed, size=config.assets, tag=config.tag,
                       make_key=lambda n, rng: bynder_id(rng))

    def manifest(self) -> dict[str, Any]:
        c = self.creds
        return {"domain": self.base_url, "tag": self.catalog.tag, "auth": "oauth1",
                "consumer_key": c.consumer_key, "consumer_secret": c.consumer_secret,
                "token_key": c.token_key, "token_secret": c.token_secret,
                "permanent_token": c.permanent_token, "eligible": self.catalog.eligible()}

    # --- routes --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        api: list[tuple[str, str, str, str | None]] = [
            # path, method, handler name, required role
            ("/api/v4/media", "GET", "list_media", None),
            ("/api/v4/media", "POST", "modify_media_legacy", "EDIT_MEDIA"),
            ("/api/v4/media/{media_id}", "GET", "get_media", None),
            ("/api/v4/media/{media_id}", "POST", "modify_media", "EDIT_MEDIA"),
            ("/api/v4/media/{media_id}", "DELETE", "delete_media", "EDIT_MEDIA"),
            ("/api/v4/media/{media_id}/download", "GET", "download_url", "DOWNLOAD_ORIGINAL"),
            ("/api/v4/metaproperties", "GET", "list_metaproperties", None),
            ("/api/v4/metaproperties", "POST", "create_metaproperty", "METAPROPERTY_MANAGEMENT"),
            ("/api/v4/metaproperties/{mp_id}", "GET", "get_metaproperty", None),
            ("/api/v4/metaproperties/{mp_id}", "POST", "modify_metaproperty",
             "METAPROPERTY_MANAGEMENT"),
            ("/api/v4/metaproperties/{mp_id}", "DELETE", "delete_metaproperty",
             "METAPROPERTY_MANAGEMENT"),
            ("/api/v4/tags", "GET", "list_tags", None),
            ("/api/v4/currentUser", "GET", "current_user", None),
            ("/api/v4/currentuser", "GET", "current_user", None),
            ("/api/v4/profiles/{profile_id}", "GET", "get_profile", "PERMISSIONS_MANAGEMENT"),
            ("/api/v4/brands", "GET", "list_brands", None),
        ]
        routes: list[BaseRoute] = []
        for path, method, handler, role in api:
            endpoint = self._api_endpoint(handler, role)
            routes.append(Route(path, endpoint, methods=[method], name=f"bynder-{handler}-{method}"))
            routes.append(Route(path + "/", endpoint, methods=[method]))
        plain: list[tuple[str, str, str]] = [
            ("/v6/authentication/oauth2/token", "POST", "oauth2_token"),
            ("/_s3/{media_id}/{version}/{filename}", "GET", "s3_file"),
            ("/_sandbox/permissions", "GET", "control_permissions"),
            ("/_sandbox/permissions", "POST", "control_permissions"),
            ("/_sandbox/revoke", "POST", "control_revoke"),
        ]
        for path, method, handler in plain:
            endpoint = self._plain_endpoint(handler)
            routes.append(Route(path, endpoint, methods=[method]))
            if "{filename}" not in path:
                routes.append(Route(path + "/", endpoint, methods=[method]))
        return routes + sns_routes(lambda: self.sns)

    def _plain_endpoint(self, handler: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if handler == "oauth2_token":
                limited = self._rate_limited("host:" + _client_host(request))
                if limited is not None:
                    return limited
            result: Response = await getattr(self, handler)(request)
            return result
        return endpoint

    def _api_endpoint(self, handler: str, role: str | None) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            outcome = self._authenticate(request, await request.body())
            if isinstance(outcome, Response):
                return outcome
            if role is not None and role in self._missing(outcome.kind):
                return error(403, f"Forbidden: the user lacks the permission {role}")
            result: Response = await getattr(self, handler)(request, outcome)
            return result
        return endpoint

    # --- auth ----------------------------------------------------------------------------------

    def _rate_limited(self, key: str) -> Response | None:
        rate = self.state.config.rate_limit
        if not rate:
            return None
        now = time.monotonic()
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(tokens=float(rate), updated=now)
        bucket.tokens = min(float(rate), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return error(429, "Too Many Requests: at most 15 requests a second",
                     headers={"Retry-After": "1"})

    def _authenticate(self, request: Request, body: bytes) -> Principal | Response:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
            limited = self._rate_limited("host:" + _client_host(request))
            if limited is not None:
                return limited
            return self._check_bearer(token)
        if scheme.lower() == "oauth":
            try:
                params = {k: oauth_utils.unescape(v)
                          for k, v in oauth_utils.parse_authorization_header(header)}
            except (ValueError, TypeError):
                return error(401, "Malformed OAuth authorization header")
            limited = self._rate_limited("host:" + _client_host(request))
            if limited is not None:
                return limited
            return self._check_oauth1(request, body, params)
        limited = self._rate_limited("host:" + _client_host(request))
        if limited is not None:
            return limited
        return error(401, "Missing authorization")

    def _check_bearer(self, token: str) -> Principal | Response:
        if hmac.compare_digest(token, self.creds.permanent_token):
            if "permanent_token" in self.revoked:
                return error(401, "Access token revoked")
            return Principal("permanent_token", "permanent_token")
        expiry = self.oauth2_tokens.get(token)
        if expiry is None:
            return error(401, "Invalid access token")
        if "oauth2" in self.revoked:
            return error(401, "Access token revoked")
        if expiry < time.time():
            return error(401, "Access token expired")
        return Principal("oauth2", "oauth2")

    def _check_oauth1(self, request: Request, body: bytes,
                      params: dict[str, str]) -> Principal | Response:
        c = self.creds
        if params.get("oauth_signature_method") != "HMAC-SHA1":
            return error(401, "Unsupported signature method: use HMAC-SHA1")
        if not hmac.compare_digest(params.get("oauth_consumer_key", ""), c.consumer_key):
            return error(401, "Unknown consumer key")
        if not hmac.compare_digest(params.get("oauth_token", ""), c.token_key):
            return error(401, "Unknown access token")
        if "oauth1" in self.revoked:
            return error(401, "Access token revoked")
        try:
            ts = int(params.get("oauth_timestamp", ""))
        except ValueError:
            return error(401, "Missing or invalid oauth_timestamp")
        now = time.time()
        if abs(now - ts) > self.options.oauth_window:
            return error(401, f"Timestamp out of range (server time {int(now)})")
        content_type = request.headers.get("content-type", "")
        form_body = body.decode("utf-8", "replace") \
            if content_type.startswith("application/x-www-form-urlencoded") else None
        collected = oauth_sig.collect_parameters(uri_query=request.url.query, body=form_body)
        collected += [(k, v) for k, v in params.items()
                      if k.startswith("oauth_") and k != "oauth_signature"]
        normalized = oauth_sig.normalize_parameters(collected)
        base_uri = oauth_sig.base_string_uri(str(request.url.replace(query="")))
        base_string = oauth_sig.signature_base_string(request.method, base_uri, normalized)
        key = f"{oauth_utils.escape(c.consumer_secret)}&{oauth_utils.escape(c.token_secret)}"
        expected = base64.b64encode(hmac.new(key.encode(), base_string.encode(),
                                             hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
            return error(401, "Invalid signature")
        nonce_key = (c.consumer_key, params.get("oauth_nonce", ""), str(ts))
        if not params.get("oauth_nonce") or nonce_key in self.nonces:
            return error(401, "Nonce already used")
        self.nonces[nonce_key] = now
        if len(self.nonces) > 10_000:
            horizon = now - 2 * self.options.oauth_window
            self.nonces = {k: v for k, v in self.nonces.items() if v >= horizon}
        return Principal("oauth1", "oauth1")

    def _missing(self, kind: str) -> set[str]:
        return self.options.missing_permissions.get(kind, set())

    async def oauth2_token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                pair = base64.b64decode(header[6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                pair = ":"
            client_id, _, client_secret = pair.partition(":")
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": f"grant_type '{grant}' is not supported"},
                                status_code=400)
        if not hmac.compare_digest(client_id, self.creds.client_id):
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "Unknown client_id"}, status_code=401)
        if not hmac.compare_digest(client_secret, self.creds.client_secret):
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "Client authentication failed"},
                                status_code=401)
        token = "bynder-sandbox-" + secrets.token_urlsafe(32)
        self.oauth2_tokens[token] = time.time() + self.options.token_ttl
        scope = form.get("scope") or "asset:read asset:write meta.assetbank:read " \
                                      "meta.assetbank:write current.user:read current.profile:read"
        return JSONResponse({"access_token": token, "expires_in": self.options.token_ttl,
                             "token_type": "bearer", "scope": scope})

    # --- media ---------------------------------------------------------------------------------

    def _asset_json(self, asset: SandboxAsset, *, items: bool = False) -> dict[str, Any]:
        image = asset.kind == "image"
        out: dict[str, Any] = {
            "id": asset.key,
            "idHash": hashlib.md5(asset.key.encode(), usedforsecurity=False).hexdigest()[:16],
            "name": title_of(asset),
            "description": "",
            "copyright": "",
            "type": asset.kind,
            "extension": [asset.ext],
            "fileSize": asset.size,
            "brandId": self.brand_id,
            "tags": list(asset.tags),
            "propertyOptions": [],
            "dateCreated": iso(asset.created),
            "dateModified": iso(asset.modified),
            "datePublished": iso(asset.created),
            "userCreated": "Sandbox User",
            "archive": int(asset.archived),
            "isPublic": 0,
            "limited": int(asset.limited),
            "watermarked": 0,
            "views": 0,
            "downloads": 0,
            "thumbnails": {},
            "activeVersion": asset.version,
            "ecsArchiveFiles": [],
        }
        if image:
            out.update(width=8, height=8, orientation="square")
        if "omit_membership" in self.switches:
            del out["tags"]
        for mp_id, value in asset.metaproperties.items():
            mp = self.metaproperties.get(mp_id)
            if mp is None:
                continue
            if mp["type"] in ("text", "longtext", "date"):
                out[f"property_{mp['name']}"] = value
            else:
                options = {o["id"]: o for o in mp.get("options", [])}
                out[f"property_{mp['name']}"] = [options[i]["name"] for i in value if i in options]
                out["propertyOptions"].extend(i for i in value if i in options)
        if items:
            out["mediaItems"] = [{
                "id": derived_id(asset.key, str(asset.version)),
                "fileName": asset.name,
                "type": "original",
                "version": asset.version,
                "active": True,
                "dateCreated": iso(asset.modified),
                "size": asset.size,
                "width": 8 if image else None,
                "height": 8 if image else None,
                "thumbnails": {},
            }]
        return out

    def _select(self, q: dict[str, str]) -> list[SandboxAsset] | Response:
        archived_only = flag(q.get("archive"))
        limited_only = flag(q.get("limited"))
        tags = [] if "ignore_tag_filter" in self.switches else split_list(q.get("tags"))
        if tags and not self.options.tags_case_insensitive:
            first = self.catalog.tagged(tags[0], include_archived=True)
            pool = [a for a in first if all(t in a.tags for t in tags[1:])]
        elif tags:
            wanted = [t.casefold() for t in tags]
            pool = [a for a in self._all() if all(any(x.casefold() == w for x in a.tags)
                                                  for w in wanted)]
        else:
            pool = self._all()
        pool = [a for a in pool if not a.deleted]
        # archive=1: only archived; archive=0 or none: no filtering (the real API's "If 0, no
        # filtering"); the hide_archived switch plays the opposite guess.
        if archived_only:
            pool = [a for a in pool if a.archived]
        elif "hide_archived" in self.switches:
            pool = [a for a in pool if not a.archived]
        # limited=1: only limited-use media; otherwise they are left out (MediaQuery.java)
        if limited_only:
            pool = [a for a in pool if a.limited]
        elif "limited_included" not in self.switches:
            pool = [a for a in pool if not a.limited]
        ids = split_list(q.get("ids")) + split_list(q.get("id"))
        if ids:
            wanted_ids = set(ids)
            pool = [a for a in pool if a.key in wanted_ids]
        if q.get("type"):
            types = set(split_list(q["type"]))
            pool = [a for a in pool if a.kind in types]
        if q.get("keyword"):
            kw = q["keyword"].casefold()
            pool = [a for a in pool if kw in a.name.casefold() or kw == a.ext
                    or any(kw in t.casefold() for t in a.tags)]
        for param, attr, op in (("dateModified", "modified", "ge"), ("dateModifiedTo", "modified", "le"),
                                ("dateCreated", "created", "ge"), ("dateCreatedTo", "created", "le")):
            if q.get(param):
                bound = parse_iso(q[param])
                if bound is None:
                    return error(400, f"{param} must be ISO-8601 like 2023-10-10T09:52:05Z")
                pool = [a for a in pool if (getattr(a, attr) >= bound if op == "ge"
                                            else getattr(a, attr) <= bound)]
        order = q.get("orderBy", "")
        if order:
            field_name, _, direction = order.partition(" ")
            keys = {"dateCreated": lambda a: (a.created, a.number),
                    "dateModified": lambda a: (a.modified, a.number),
                    "name": lambda a: (title_of(a).casefold(), a.number)}
            if field_name not in keys or direction not in ("asc", "desc"):
                return error(400, f"orderBy '{order}' is not supported")
            pool = sorted(pool, key=keys[field_name], reverse=direction == "desc")
        return pool

    def _all(self) -> list[SandboxAsset]:
        with self.catalog.lock:
            return [self.catalog.assets[k] for k in self.catalog.order]

    async def list_media(self, request: Request, who: Principal) -> Response:
        q = dict(request.query_params)
        try:
            limit = int(q.get("limit", DEFAULT_LIMIT))
            page = int(q.get("page", 1))
        except ValueError:
            return error(400, "limit and page must be integers")
        if limit < 0 or page < 1:
            return error(400, "limit must be >= 0 and page >= 1")
        limit = min(limit, MAX_LIMIT)
        pool = self._select(q)
        if isinstance(pool, Response):
            return pool
        start = (page - 1) * limit
        items = flag(q.get("includeMediaItems")) or flag(q.get("versions"))
        media = [self._asset_json(a, items=items) for a in pool[start:start + limit]]
        want_total, want_count = flag(q.get("total")), flag(q.get("count"))
        if not (want_total or want_count):
            return JSONResponse(media)
        out: dict[str, Any] = {}
        if want_count:
            out["count"] = {"total": len(pool), **self._facets(pool)}
        if want_total:
            out["total"] = {"count": len(pool)}
        out["media"] = media
        return JSONResponse(out)

    @staticmethod
    def _facets(pool: list[SandboxAsset]) -> dict[str, dict[str, int]]:
        types: dict[str, int] = {}
        tags: dict[str, int] = {}
        for a in pool:
            types[a.kind] = types.get(a.kind, 0) + 1
            for t in a.tags:
                tags[t] = tags.get(t, 0) + 1
        return {"type": types, "tags": tags}

    def _find(self, media_id: str) -> SandboxAsset | None:
        return self.catalog.get(media_id)

    async def get_media(self, request: Request, who: Principal) -> Response:
        asset = self._find(request.path_params["media_id"])
        if asset is None:
            return error(404, "Media not found")
        items = flag(request.query_params.get("versions")) or \
            flag(request.query_params.get("includeMediaItems"))
        return JSONResponse(self._asset_json(asset, items=items))

    async def modify_media_legacy(self, request: Request, who: Principal) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"),
                              keep_blank_values=True))
        return self._modify(form.pop("id", ""), form)

    async def modify_media(self, request: Request, who: Principal) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"),
                              keep_blank_values=True))
        return self._modify(request.path_params["media_id"], form)

    def _modify(self, media_id: str, form: dict[str, str]) -> Response:
        asset = self._find(media_id)
        if asset is None:
            return error(404, "Media not found")
        meta: dict[str, Any] = {}
        for key, value in form.items():
            if not key.startswith("metaproperty."):
                continue
            mp = self.metaproperties.get(key[len("metaproperty."):])
            if mp is None:
                return error(400, f"Unknown metaproperty {key[len('metaproperty.'):]}")
            if mp["type"] in ("text", "longtext", "date"):
                if len(value) > TEXT_LIMIT:
                    return error(400, f"Text metaproperties hold at most {TEXT_LIMIT} characters")
                meta[mp["id"]] = value
            else:
                known = {o["id"] for o in mp.get("options", [])}
                chosen = split_list(value)
                if any(o not in known for o in chosen):
                    return error(400, f"Unknown option for metaproperty {mp['name']}")
                meta[mp["id"]] = chosen
        with self.catalog.lock:
            for mp_id, value in meta.items():
                if value in ("", []):
                    asset.metaproperties.pop(mp_id, None)
                else:
                    asset.metaproperties[mp_id] = value
            if form.get("name"):  # the title; the file name follows it
                asset.name = f"{form['name']}.{asset.ext}"
        if "tags" in form:  # replaces the tag set
            wanted = split_list(form["tags"])
            add = [t for t in wanted if t not in asset.tags]
            remove = [t for t in asset.tags if t not in wanted]
            if add or remove:
                self.catalog.set_tags(asset.key, add=add, remove=remove)
        archive = form.get("archive")
        if archive is not None and flag(archive) != asset.archived:
            self.catalog.archive(asset.key, flag(archive))
        if meta or form.get("name"):
            with self.catalog.lock:
                asset.modified = max(time.time(), asset.modified + 1)
            self.catalog._changed("metadata", asset)
        return JSONResponse({"message": "Accepted", "statuscode": 202}, status_code=202)

    async def delete_media(self, request: Request, who: Principal) -> Response:
        asset = self._find(request.path_params["media_id"])
        if asset is None:
            return error(404, "Media not found")
        self.catalog.delete(asset.key)
        return Response(status_code=204)

    async def download_url(self, request: Request, who: Principal) -> Response:
        asset = self._find(request.path_params["media_id"])
        if asset is None:
            return error(404, "Media not found")
        return JSONResponse({"s3_file": self._s3_url(asset)})

    def _s3_sig(self, media_id: str, version: str, expires: str) -> str:
        return hmac.new(self.s3_secret, f"{media_id}:{version}:{expires}".encode(),
                        hashlib.sha256).hexdigest()

    def _s3_url(self, asset: SandboxAsset) -> str:
        expires = str(int(time.time()) + S3_TTL)
        version = str(asset.version)
        query = urlencode({"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Expires": str(S3_TTL),
                           "X-Amz-Date": expires,
                           "X-Amz-Signature": self._s3_sig(asset.key, version, expires)})
        name = quote(safe_segment(asset.name or f"file.{asset.ext}"))
        return f"{self.base_url}/_s3/{asset.key}/{version}/{name}?{query}"

    async def s3_file(self, request: Request) -> Response:
        """The pre-signed "S3" URL: unauthenticated (any Authorization header is refused, as S3
        refuses two auth mechanisms), signature and expiry checked, Range supported."""
        if "authorization" in request.headers:
            return _s3_error(400, "InvalidArgument",
                             "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                             "parameter, Signature query string parameter or the Authorization "
                             "header should be specified")
        p, q = request.path_params, request.query_params
        expires = q.get("X-Amz-Date", "")
        expected = self._s3_sig(p["media_id"], p["version"], expires)
        if not hmac.compare_digest(expected, q.get("X-Amz-Signature", "")):
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated "
                             "does not match the signature you provided.")
        if not expires.isdigit() or int(expires) < time.time():
            return _s3_error(403, "AccessDenied", "Request has expired")
        asset = self.catalog.assets.get(p["media_id"])
        if asset is None or asset.deleted or str(asset.version) != p["version"]:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        data = self.catalog.content(asset)
        headers = {"ETag": f'"{self.catalog.md5(asset)}"', "Accept-Ranges": "bytes",
                   "Content-Disposition": "attachment; filename*=UTF-8''"
                                          + quote(asset.name or "file", safe="")}
        rng = request.headers.get("range", "")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
        if_range = request.headers.get("if-range")
        if m and (if_range is None or if_range == headers["ETag"]):
            first = int(m.group(1))
            last = int(m.group(2)) if m.group(2) else len(data) - 1
            if first >= len(data) or last < first:
                return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
            last = min(last, len(data) - 1)
            headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
            return Response(data[first:last + 1], status_code=206, media_type=asset.mime,
                            headers=headers)
        return Response(data, media_type=asset.mime, headers=headers)

    # --- metaproperties ------------------------------------------------------------------------

    def _metaproperty(self, mp_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": mp_id, "name": data["name"], "label": data.get("label") or data["name"],
            "type": data.get("type", "text"),
            "isMultiselect": int(bool(data.get("isMultiselect", 0))),
            "isRequired": int(bool(data.get("isRequired", 0))),
            "isFilterable": int(bool(data.get("isFilterable", 0))),
            "isMainfilter": int(bool(data.get("isMainfilter", 0))),
            "isEditable": int(bool(data.get("isEditable", 1))),
            "zindex": int(data.get("zindex", len(self.metaproperties) + 1)),
            "options": [],
        }

    async def list_metaproperties(self, request: Request, who: Principal) -> Response:
        ids = set(split_list(request.query_params.get("ids")))
        with_options = request.query_params.get("options") != "0"
        out = {}
        for mp in self.metaproperties.values():
            if ids and mp["id"] not in ids:
                continue
            out[mp["name"]] = mp if with_options else {**mp, "options": []}
        return JSONResponse(out)

    async def _data_field(self, request: Request) -> dict[str, Any] | Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if "data" not in form:
            return error(400, "Send the metaproperty as a form field 'data' holding JSON")
        try:
            data = json.loads(form["data"])
        except ValueError:
            return error(400, "The form field 'data' is not valid JSON")
        if not isinstance(data, dict):
            return error(400, "The form field 'data' must hold a JSON object")
        return data

    async def create_metaproperty(self, request: Request, who: Principal) -> Response:
        data = await self._data_field(request)
        if isinstance(data, Response):
            return data
        name = data.get("name")
        if not isinstance(name, str) or not MP_NAME_RE.fullmatch(name):
            return error(400, "Metaproperty name is required: lower-case letters, digits and _ "
                              "only, no spaces")
        if any(mp["name"] == name for mp in self.metaproperties.values()):
            return error(400, f"A metaproperty named '{name}' already exists")
        if data.get("type", "text") not in METAPROPERTY_TYPES:
            return error(400, f"Unknown metaproperty type '{data.get('type')}'")
        mp_id = derived_id(str(self.state.config.seed), "mp", name, secrets.token_hex(4))
        self.metaproperties[mp_id] = self._metaproperty(mp_id, data)
        return JSONResponse({"id": mp_id, "message": "Created", "statuscode": 201},
                            status_code=201)

    async def get_metaproperty(self, request: Request, who: Principal) -> Response:
        mp = self.metaproperties.get(request.path_params["mp_id"])
        if mp is None:
            return error(404, "Metaproperty not found")
        return JSONResponse(mp)

    async def modify_metaproperty(self, request: Request, who: Principal) -> Response:
        mp = self.metaproperties.get(request.path_params["mp_id"])
        if mp is None:
            return error(404, "Metaproperty not found")
        data = await self._data_field(request)
        if isinstance(data, Response):
            return data
        if "name" in data and data["name"] != mp["name"]:
            return error(400, "A metaproperty's name cannot be changed")
        for key in ("label", "isMultiselect", "isRequired", "isFilterable", "isMainfilter",
                    "isEditable", "zindex"):
            if key in data:
                mp[key] = data[key] if key == "label" else int(data[key])
        return JSONResponse({"message": "Accepted", "statuscode": 202}, status_code=202)

    async def delete_metaproperty(self, request: Request, who: Principal) -> Response:
        if self.metaproperties.pop(request.path_params["mp_id"], None) is None:
            return error(404, "Metaproperty not found")
        return Response(status_code=204)

    # --- tags, users, profiles, brands ---------------------------------------------------------

    async def list_tags(self, request: Request, who: Principal) -> Response:
        q = request.query_params
        try:
            limit = min(int(q.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
            page = int(q.get("page", 1))
            mincount = int(q.get("mincount", 1))
        except ValueError:
            return error(400, "limit, page and mincount must be integers")
        if limit < 0 or page < 1:
            return error(400, "limit must be >= 0 and page >= 1")
        keyword = (q.get("keyword") or "").casefold()
        with self.catalog.lock:
            names = list(self.catalog.by_tag)
        rows = []
        for tag in names:
            if keyword and keyword not in tag.casefold():
                continue
            count = len(self.catalog.tagged(tag))
            if count >= mincount:
                rows.append({"id": derived_id("tag", tag), "tag": tag, "mediaCount": count})
        order = q.get("orderBy", "tag asc")
        field_name, _, direction = order.partition(" ")
        if field_name not in ("tag", "mediaCount") or direction not in ("asc", "desc"):
            return error(400, f"orderBy '{order}' is not supported")
        rows.sort(key=lambda r: (r[field_name], r["tag"]), reverse=direction == "desc")
        start = (page - 1) * limit
        return JSONResponse(rows[start:start + limit])

    def _profile_id(self, kind: str) -> str:
        return derived_id(str(self.state.config.seed), "profile", kind)

    async def current_user(self, request: Request, who: Principal) -> Response:
        return JSONResponse({
            "id": self.user_id, "email": "sandbox.user@example.com", "username": "sandbox.user",
            "name": "Sandbox User", "firstname": "Sandbox", "lastname": "User",
            "language": "en_US", "active": 1, "profileId": self._profile_id(who.kind),
            "groups": [{"name": "Integrations"}],
        })

    async def get_profile(self, request: Request, who: Principal) -> Response:
        profile_id = request.path_params["profile_id"]
        kinds = {self._profile_id(k): k for k in CREDENTIAL_KINDS}
        kind = kinds.get(profile_id)
        if kind is None:
            return error(404, "Profile not found")
        missing = self._missing(kind)
        roles = [r for r in (*ROLE_NAMES.values(), *OTHER_ROLES) if r not in missing]
        if "unknown_role_names" in self.switches:  # the names are in no public source
            roles = ["ROLE_" + r.lower() for r in roles]
        return JSONResponse({"id": profile_id, "name": f"Integration ({kind})", "roles": roles})

    async def list_brands(self, request: Request, who: Principal) -> Response:
        return JSONResponse([{"id": self.brand_id, "name": "Sandbox brand", "description": "",
                              "image": "", "subBrands": []}])

    # --- SNS -----------------------------------------------------------------------------------

    def _subjects(self, kind: str) -> list[str]:
        return {
            "created": [self.options.sns_create_subject],
            "modified": ["asset_bank.media.updated"],
            "archived": ["asset_bank.media.meta_updated", "asset_bank.media.archived"],
            "deleted": ["asset_bank.media.deleted"],
        }.get(kind, ["asset_bank.media.meta_updated"])

    # --- control -------------------------------------------------------------------------------

    async def control_permissions(self, request: Request) -> Response:
        """GET: missing roles per credential kind. POST ``{"missing": [...], "credential":
        kind?}``: replace them (for one kind, or all kinds when ``credential`` is absent)."""
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("missing", []), list):
                return error(400, "send JSON: {\"missing\": [names], \"credential\": kind?}")
            kind = body.get("credential")
            roles = {wire_role(str(r)) for r in body.get("missing", [])}
            if kind is None:
                self.options.missing_permissions = {k: set(roles) for k in CREDENTIAL_KINDS}
            elif kind in CREDENTIAL_KINDS:
                self.options.missing_permissions[kind] = roles
            else:
                return error(400, f"credential must be one of {', '.join(CREDENTIAL_KINDS)}")
        return JSONResponse({k: sorted(self._missing(k)) for k in CREDENTIAL_KINDS})

    async def control_revoke(self, request: Request) -> Response:
        """``{"credential": kind, "revoked": true|false}``: revoke or restore a credential."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("credential") not in CREDENTIAL_KINDS:
            return error(400, f"credential must be one of {', '.join(CREDENTIAL_KINDS)}")
        if body.get("revoked", True):
            self.revoked.add(body["credential"])
        else:
            self.revoked.discard(body["credential"])
        return JSONResponse({"revoked": sorted(self.revoked)})


def secrets_hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _client_host(request: Request) -> str:
    return request.client.host if request.client else "?"


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>")
    return Response(body, status_code=status, media_type="application/xml")


__all__ = ["ROLE_NAMES", "BynderEmulator"]
