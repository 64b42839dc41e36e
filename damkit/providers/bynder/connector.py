"""Bynder connector: list the media carrying the tag, re-read one, download, write the backlink.

Flow (bynder.md §2-§5, and the project choices in providers/README.md):

1. auth per mode (:mod:`.auth`): OAuth 1.0a HMAC-SHA1 (the guide's four keys), a permanent
   token, or OAuth 2 client credentials;
2. ``GET /api/v4/media/?tags=<tag>&limit=&page=&total=1&includeMediaItems=1`` page by page
   (``page`` from 1) until a short page or ``total.count`` is reached; the tag match is exact and
   is re-checked on our side (``tags=`` splits on commas and its case rule is unconfirmed);
3. bytes: ``GET /api/v4/media/{id}/download/`` gives ``{"s3_file": url}``, a pre-signed URL on
   another host that is fetched WITHOUT the Bynder credentials;
4. backlink: a text metaproperty found or created once (``data=<JSON>`` form field), set with
   ``metaproperty.<id>=<url>`` and read back from ``property_<name>``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from ...errors import AuthError, DamkitError, HttpError, NotFoundError
from ...http import HttpClient, response_json, status_error
from ...redact import redact
from ..base import CheckReport, ConnectionContext, Provider, RemoteAsset, TagCount
from ..membership import MembershipUnproven, Tally
from . import SPEC
from .auth import make_auth
from .backlink import TEXT_TYPES, property_name
from .settings import BynderSettings
from .steps import STEPS

log = logging.getLogger("damkit.providers.bynder")

MEDIA = "/api/v4/media/"
METAPROPERTIES = "/api/v4/metaproperties/"
MAX_LIMIT = 1000


def step_title(step_id: str) -> str:
    return next((s.title for s in STEPS if s.id == step_id), step_id)


def guide_hint(step_id: str, fields: str | None = None, extra: str = "") -> str:
    """``Guide step "Bynder API credentials": check Token key. <extra>``."""
    text = f'Guide step "{step_title(step_id)}"'
    if fields:
        text += f": check {fields}"
    return text + (f". {extra}" if extra else "")


def field_label(name: str) -> str:
    info = BynderSettings.model_fields.get(name)
    return f"{info.title} ({name})" if info and info.title else name


def labels(*names: str) -> str:
    return " and ".join(field_label(n) for n in names)


def json_body(response: httpx.Response) -> Any:
    try:
        return response_json(response)
    except (ValueError, UnicodeDecodeError):
        return None


def wire_message(response: httpx.Response) -> str:
    """Bynder's ``message`` (or OAuth 2 ``error_description``/``error``), for diagnosis only."""
    body = json_body(response)
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if isinstance(body.get(key), str):
                return redact(body[key])
    return ""


def is_token_response(response: httpx.Response) -> bool:
    return response.request.url.path.endswith("/v6/authentication/oauth2/token")


def diagnose_401(settings: BynderSettings, response: httpx.Response) -> tuple[str, str]:
    """(detail, hint) naming the credential that Bynder refused, from the 401's message."""
    msg = wire_message(response)
    low = msg.lower()
    said = f" (Bynder said: {msg})" if msg else ""
    if settings.auth == "oauth2_client_credentials":
        if "client_id" in low or "unknown client" in low:
            return (f"Bynder does not know this OAuth 2 client ID{said}",
                    guide_hint("bynder.keys", labels("client_id")))
        return (f"Bynder refused the OAuth 2 client credentials{said}",
                guide_hint("bynder.keys", labels("client_secret"),
                           "The app must use the Client Credentials grant type"))
    if settings.auth == "permanent_token":
        if "revoked" in low or "expired" in low:
            return (f"the permanent token was revoked or has expired{said}",
                    guide_hint("bynder.keys", labels("permanent_token"),
                               "Create a new permanent token in Bynder"))
        return (f"Bynder refused the permanent token{said}",
                guide_hint("bynder.keys", labels("permanent_token")))
    if "consumer" in low:
        return (f"Bynder does not know the Consumer key{said}",
                guide_hint("bynder.keys", labels("consumer_key")))
    if "revoked" in low or "expired" in low:
        return (f"the access token pair was revoked or has expired{said}",
                guide_hint("bynder.keys", labels("token_key", "token_secret"),
                           "Create a new access token pair for the consumer"))
    if "token" in low:
        return (f"Bynder knows the consumer but not the Token key{said}",
                guide_hint("bynder.keys", labels("token_key")))
    if "signature" in low:
        return (f"the keys are known but the signature is wrong: a secret does not match{said}",
                guide_hint("bynder.keys", labels("consumer_secret", "token_secret")))
    if "timestamp" in low:
        return (f"Bynder refused the request time: this computer's clock is off by more than a "
                f"few minutes{said}", "Set this computer's clock (NTP) and test again")
    if "nonce" in low:
        return (f"Bynder saw this request's nonce before{said}",
                "Test again; if it persists, another program may replay requests")
    return (f"Bynder refused the keys{said}",
            guide_hint("bynder.keys", labels("consumer_key", "consumer_secret", "token_key",
                                             "token_secret")))


def first_str(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


class BynderProvider(Provider):
    name: ClassVar[str] = "bynder"
    settings_model: ClassVar[type[BynderSettings]] = BynderSettings
    steps = STEPS
    page_size: int = 500

    settings: BynderSettings

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, BynderSettings):
            raise DamkitError("the Bynder connector needs Bynder settings")
        opts = ctx.options
        self.page_size = min(int(opts.get("page_size", type(self).page_size)), MAX_LIMIT)
        self.auth = make_auth(self.settings)
        self.http = HttpClient(
            self.settings.domain,
            auth=self.auth,
            rate=ctx.rate if ctx.rate is not None else self.default_rate,
            window=SPEC.capabilities.rate_limit_window(),
            retries=int(opts.get("retries", 5)),
            backoff=float(opts.get("backoff", 0.25)),
            timeout=float(opts.get("timeout", 30.0)),
        )
        # Pre-signed file URLs: no credentials and no rate limit (Bynder's limit counts its API,
        # not the file host), so downloads do not spend the API's budget.
        self.tally = Tally()  # what the last listing saw
        self.files = HttpClient(retries=int(opts.get("retries", 5)),
                                backoff=float(opts.get("backoff", 0.25)),
                                timeout=float(opts.get("timeout", 30.0)))
        self._backlink_ids: dict[str, str] = {}
        self._backlink_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"BynderProvider({self.ctx.name!r}, {self.settings.domain!r})"

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.files.aclose()

    # --- plumbing ------------------------------------------------------------------------------

    def refused(self, response: httpx.Response, what: str) -> DamkitError:
        """The error for a final non-2xx answer to ``what``."""
        url = str(response.request.url)
        if response.status_code == 401 or (is_token_response(response)
                                           and response.status_code in (400, 401, 403)):
            detail, hint = diagnose_401(self.settings, response)
            return AuthError(f"Bynder: {detail}", hint=hint)
        if response.status_code == 403:
            return AuthError(f"Bynder refused to {what}: the user behind the keys lacks a "
                             f"permission ({wire_message(response) or '403 Forbidden'})",
                             hint=guide_hint("bynder.backlink", None,
                                             "The keys need the permissions listed there"))
        if response.status_code == 404:
            return NotFoundError(f"Bynder: not found while trying to {what}")
        return status_error(response, url)

    async def _call(self, method: str, path: str, what: str, *,
                    params: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                    ok: tuple[int, ...] = (200,)) -> httpx.Response:
        response = await self.http.request(method, path, params=params, data=data)
        if response.status_code not in ok:
            raise self.refused(response, what)
        return response

    async def _json(self, path: str, what: str, params: dict[str, Any] | None = None) -> Any:
        response = await self._call("GET", path, what, params=params)
        body = json_body(response)
        if body is None:
            raise HttpError(f"Bynder answered {what} with something that is not JSON",
                            url=str(response.request.url), kind="protocol")
        return body

    # --- assets --------------------------------------------------------------------------------

    def to_remote(self, wire: dict[str, Any]) -> RemoteAsset:
        ext = first_str(wire.get("extension")).lower()
        original = next((str(i.get("fileName")) for i in wire.get("mediaItems") or []
                         if isinstance(i, dict) and i.get("type") == "original"
                         and i.get("active", True) and i.get("fileName")), None)
        title = str(wire.get("name") or "")
        if original:
            name = original
        elif ext and not title.lower().endswith("." + ext):
            name = f"{title}.{ext}"
        else:
            name = title
        size = wire.get("fileSize")
        version = wire.get("activeVersion")
        return RemoteAsset(
            id=str(wire["id"]),
            name=name,
            type=ext,
            size=int(size) if isinstance(size, (int, float)) else None,
            modified=wire.get("dateModified"),
            version=None if version is None else str(version),
            tags=tuple(str(t) for t in wire.get("tags") or []),
            extra={"archived": bool(wire.get("archive")), "limited": bool(wire.get("limited")),
                   "title": title,
                   "idHash": wire.get("idHash")},
        )

    async def count_tagged(self, tag: str | None = None) -> int:
        """How many media carry the tag exactly: one count-only call (``limit=0&total=1``)."""
        body = await self._json(MEDIA, "count the tagged files",
                                {"tags": tag or self.settings.tag, "limit": 0, "total": 1})
        return int(body["total"]["count"])

    def passes(self) -> list[dict[str, Any]]:
        """The listings that together hold every asset the settings allow: ``archive=0`` (no
        filtering, bynder.md) always; ``limited=1`` too when limited-use media are wanted
        (they are left out otherwise, Java SDK ``MediaQuery``)."""
        base: dict[str, Any] = {"archive": 0}
        return [base, {**base, "limited": 1}] if self.settings.include_limited else [base]

    def judge(self, wire: dict[str, Any], tally: Tally) -> RemoteAsset | None:
        """The asset if it carries the tag exactly, as Bynder returned it, and the settings
        allow it; else None (counted in ``tally``). Raises when membership cannot be read."""
        tally.listed += 1
        tags = wire.get("tags")
        if not isinstance(tags, list):
            tally.unproven += 1
            raise MembershipUnproven(
                "Bynder listed media without their tags, so which of them carry the tag "
                f"'{self.settings.tag}' cannot be proven: nothing is imported",
                hint="report this answer (damkit check NAME --record FILE) to damkit")
        if self.settings.tag not in tags:
            tally.untagged += 1
            return None
        if not self.settings.include_archived and wire.get("archive") not in (0, False, "0"):
            tally.exclude("archived")
            return None
        if not self.settings.include_limited and wire.get("limited") not in (0, False, "0", None):
            tally.exclude("limited use")
            return None
        tally.eligible += 1
        return self.to_remote(wire)

    async def list_assets(self) -> AsyncIterator[list[RemoteAsset]]:
        """Pages of the media proven to carry the tag (see :meth:`judge`); ``tags=`` only makes
        the listing shorter. ``self.tally`` says what was listed and left out."""
        tag = self.settings.tag
        self.tally = tally = Tally()
        seen_ids: set[str] = set()
        for extra in self.passes():
            page, seen = 1, 0
            while True:
                body = await self._json(MEDIA, "list the tagged files", {
                    "tags": tag, "limit": self.page_size, "page": page, "total": 1,
                    "includeMediaItems": 1, **extra})
                media = body.get("media", []) if isinstance(body, dict) else body
                total = body.get("total", {}).get("count") if isinstance(body, dict) else None
                fresh = [m for m in media if isinstance(m, dict) and str(m.get("id")) not in seen_ids]
                seen_ids.update(str(m.get("id")) for m in fresh)
                judged = [self.judge(m, tally) for m in fresh]
                assets = [a for a in judged if a is not None]
                if assets:
                    yield assets
                seen += len(media)
                if len(media) < self.page_size or (total is not None and seen >= int(total)):
                    break
                page += 1

    async def replay(self, path: str, params: list[tuple[str, str]]) -> httpx.Response:
        return await self.http.request("GET", path, params=params, follow_redirects=False)

    async def count_eligible(self) -> Tally:
        """Test Connection's count: the listing the sync would do, so the two always agree."""
        async for _ in self.list_assets():
            pass
        return self.tally

    async def get_asset(self, asset_id: str) -> RemoteAsset | None:
        response = await self.http.request("GET", f"{MEDIA}{quote(asset_id, safe='')}/",
                                           params={"versions": 1})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self.refused(response, "read the file")
        return self.to_remote(response.json())

    async def download_url(self, asset_id: str) -> str:
        body = await self._json(f"{MEDIA}{quote(asset_id, safe='')}/download/",
                                "get the download URL")
        url = body.get("s3_file") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise HttpError("Bynder's download answer holds no s3_file URL", kind="protocol")
        return url

    async def download(self, asset: RemoteAsset) -> AsyncIterator[bytes]:
        url = await self.download_url(asset.id)
        # The pre-signed URL is its own credential, on another host: never send ours along.
        async with self.files.stream("GET", url, auth=False,
                                    headers={"Accept-Encoding": "identity"}) as response:
            async for chunk in response.aiter_bytes():
                yield chunk

    def has_tag(self, asset: RemoteAsset) -> bool:
        """Archived media count as gone unless the settings import them; limited-use media
        likewise."""
        if asset.extra.get("archived") and not self.settings.include_archived:
            return False
        if asset.extra.get("limited") and not self.settings.include_limited:
            return False
        return super().has_tag(asset)

    # --- backlink ------------------------------------------------------------------------------

    async def ensure_backlink_property(self, label: str | None = None) -> str:
        """The id of the text metaproperty labelled ``label``; created once if missing."""
        label = label or self.settings.backlink_label
        if label in self._backlink_ids:
            return self._backlink_ids[label]
        async with self._backlink_lock:
            if label in self._backlink_ids:
                return self._backlink_ids[label]
            found = await self._find_property(label)
            if found is None:
                name = property_name(label)
                payload = {"name": name, "label": label, "type": "text", "isFilterable": 0,
                           "isMultiselect": 0, "isRequired": 0, "isEditable": 1}
                response = await self.http.request("POST", METAPROPERTIES,
                                                   data={"data": json.dumps(payload)})
                if response.status_code not in (200, 201, 202, 400, 409):
                    raise self.refused(response, "create the backlink metaproperty")
                # Any 2xx is success; the id comes from a fresh read (bynder.md §4.2). A 400/409
                # may mean another process created it first: the read settles that too.
                found = await self._find_property(label)
                if found is None:
                    raise DamkitError(f"Bynder did not create the metaproperty '{label}' "
                                      f"({wire_message(response) or response.status_code})")
            self._backlink_ids[label] = found
            return found

    async def _find_property(self, label: str) -> str | None:
        props = await self._json(METAPROPERTIES, "read the metaproperties", {"options": 0})
        items = props.values() if isinstance(props, dict) else props
        name = property_name(label)
        for mp in items:
            if not isinstance(mp, dict):
                continue
            if mp.get("label") == label or mp.get("name") == name:
                if str(mp.get("type", "text")) not in TEXT_TYPES:
                    raise DamkitError(
                        f"the Bynder metaproperty '{label}' exists but is of type "
                        f"'{mp.get('type')}', not text",
                        hint=guide_hint("bynder.backlink", field_label("backlink_label"),
                                        "Pick another label or change it in Bynder"))
                return str(mp["id"])
        return None

    async def write_backlink(self, asset_id: str, property_id: str, url: str) -> None:
        await self._call("POST", f"{MEDIA}{quote(asset_id, safe='')}/", "write the backlink",
                         data={f"metaproperty.{property_id}": url}, ok=(200, 201, 202, 204))

    async def read_metaproperty(self, asset_id: str, name: str) -> str | None:
        body = await self._json(f"{MEDIA}{quote(asset_id, safe='')}/", "read the file")
        value = body.get(f"property_{name}") if isinstance(body, dict) else None
        if value is None or value == []:
            return None
        return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)

    # --- check ---------------------------------------------------------------------------------

    async def check(self) -> CheckReport:
        from .check import run_check

        return await run_check(self)

    # --- tag discovery -------------------------------------------------------------------------

    async def list_tags(self, contains: str | None = None, limit: int = 200) -> list[TagCount]:
        """``GET /api/v4/tags/`` ordered by ``mediaCount desc``, page by page (``keyword``
        narrows the list, any case); tags no file carries are left out."""
        out: list[TagCount] = []
        page, size = 1, min(max(limit, 1), TAG_PAGE)
        while len(out) < limit:
            params: dict[str, Any] = {"limit": size, "page": page, "orderBy": "mediaCount desc"}
            if contains and contains.strip():
                params["keyword"] = contains.strip()
            body = await self._json("/api/v4/tags/", "list the tags", params)
            rows = [r for r in body if isinstance(r, dict)] if isinstance(body, list) else []
            out.extend(TagCount(tag=str(r["tag"]), count=int(r.get("mediaCount") or 0))
                       for r in rows if isinstance(r.get("tag"), str)
                       and int(r.get("mediaCount") or 0) > 0)
            if len(rows) < size:
                break
            page += 1
        return out[:limit]


TAG_PAGE = 1000  # Bynder's largest tags page

PROVIDER = BynderProvider
