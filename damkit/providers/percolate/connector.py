"""Percolate connector: client-credentials token, terms, v5 assets and their metadata, download.

Flow (percolate.md §1-3, and the project choice in providers/README.md):

1. token from ``POST /auth/v5/token/`` (see :mod:`.auth`), cached, re-fetched once on a 401;
2. the tag resolved to term ids by listing the terms with ``GET /api/v5/term/?scope_ids=&
   namespace=tag`` (``extend_scopes=true`` when set); the exact name (case and spaces) is picked
   on our side; duplicate terms with the same name are all used;
3. assets listed with ``GET /api/v5/asset/?scope_ids=&term_ids=&offset=&limit=`` until
   ``meta.total`` is reached, each asset's terms read from ``/api/v5/metadata/?object_ids=``
   (the filter is never trusted); the next page is fetched while a page's metadata chunks are
   read at once, all through the connection's one HTTP client and its host budget;
4. bytes from ``GET /api/v5/asset/{id}/download`` (a redirect to the CDN is followed; the bearer
   token never goes to another host).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote, urlencode

import httpx

from ...errors import AuthError, HttpError, NotFoundError
from ...http import HttpClient, response_json, status_error
from ..base import CheckReport, ConnectionContext, Provider, RemoteAsset, TagCount
from ..membership import MembershipUnproven, Tally
from .auth import BearerAuth, TokenManager, api_error
from .settings import PercolateSettings
from .steps import STEPS

log = logging.getLogger("damkit.providers.percolate")
T = TypeVar("T")

TERM_PAGE = 1000  # the SDK's terms client sends 1000
METADATA_CHUNK = 250  # object ids per metadata request (a URL of about 4 KB)
SAMPLE = 100  # assets sampled to prove a term filter is applied
EXT_BY_MIME = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf",
               "text/plain": "txt", "text/csv": "csv", "image/gif": "gif", "video/mp4": "mp4"}


def with_query(path: str, params: dict[str, Any]) -> str:
    """``path?query`` with the commas and colons of id lists left as they are (both are legal in a
    query): a list of 250 ids percent-encoded costs the HTTP client a pass per escape."""
    return f"{path}?{urlencode(params, safe=':,')}"


def normalized(name: str) -> str:
    """What a near miss shares with the tag: the same letters, any case, any spaces."""
    return "".join(name.split()).casefold()


def utc_iso(value: Any) -> str | None:
    """``2016-12-09T15:57:14+00:00`` → the same instant as ISO-8601 UTC."""
    if not value:
        return None
    if isinstance(value, str) and len(value) == 25 and value[10] == "T" \
            and value.endswith("+00:00"):
        return value  # already the UTC form below gives (a bad date stays as given, as below)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def file_type(wire: dict[str, Any]) -> str:
    """The file extension from ``content_type`` (else the filename, else Percolate's ``type``)."""
    mime = str(wire.get("content_type") or "").split(";")[0].strip().lower()
    if mime in EXT_BY_MIME:
        return EXT_BY_MIME[mime]
    guessed = mimetypes.guess_extension(mime) if mime else None
    if guessed:
        return guessed.lstrip(".")
    name = str(wire.get("filename") or "")
    if "." in name.strip(".") and len(name.rsplit(".", 1)[1]) <= 5:
        return name.rsplit(".", 1)[1].lower()
    return str(wire.get("type") or "")


class PercolateProvider(Provider):
    name: ClassVar[str] = "percolate"
    settings_model: ClassVar[type[PercolateSettings]] = PercolateSettings
    steps = STEPS
    page_size: int = 500

    settings: PercolateSettings

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, PercolateSettings):
            raise TypeError("PercolateProvider needs PercolateSettings")
        self.settings = ctx.settings
        self.tokens = TokenManager(self.settings)
        self.http = HttpClient(self.settings.api_url, rate=ctx.rate or self.default_rate,
                               burst=self.default_burst)
        self._term_names: dict[str, str] = {}
        self._exact_ids: list[str] | None = None
        self._filter_proven: bool | None = None
        self._filter_reason = ""
        self.tally = Tally()  # what the last listing saw

    def __repr__(self) -> str:
        return f"PercolateProvider({self.ctx.name!r}, scope={self.settings.scope_id!r})"

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- API plumbing ---------------------------------------------------------------------------

    async def api(self, path: str, params: dict[str, Any] | None = None,
                  http: HttpClient | None = None) -> httpx.Response:
        """GET with the bearer token; on a 401 the token is fetched again once."""
        client = http or self.http
        token = await self.tokens.get(client)
        response = await client.request("GET", path, params=params, auth=BearerAuth(token))
        if response.status_code == 401:
            log.info("percolate: 401 on %s; fetching a new token and trying once more", path)
            self.tokens.invalidate(token)
            token = await self.tokens.get(client)
            response = await client.request("GET", path, params=params, auth=BearerAuth(token))
        return response

    async def api_json(self, path: str, params: dict[str, Any] | None = None,
                       http: HttpClient | None = None) -> dict[str, Any]:
        """GET → JSON body, raising a damkit error that names what to fix on failure."""
        client = http or self.http
        return self.body(await self.api(path, params, client), path, client)

    def body(self, response: httpx.Response, path: str, client: HttpClient) -> dict[str, Any]:
        """The JSON object of a 200, else the damkit error for that status."""
        if response.status_code == 200:
            try:
                body = response_json(response)
            except ValueError:
                raise HttpError(f"{path} did not answer JSON: is the API base URL a Percolate API?",
                                status=200, kind="protocol") from None
            if isinstance(body, dict):
                return body
            raise HttpError(f"{path} answered an unexpected JSON shape", status=200, kind="protocol")
        code, message = api_error(response)
        if response.status_code == 401:
            raise AuthError(f"Percolate refused a fresh access token ({code or 401}): the API "
                            "client may have been revoked",
                            hint='guide step "Client Secret": check the API client still exists')
        if response.status_code == 403:
            raise AuthError(f"Percolate refuses {self.settings.scope_id} to this API client "
                            f"({code or 403}): {message}",
                            hint='guide step "Scope ID (license ID)": check the field Scope ID')
        if response.status_code == 404:
            raise NotFoundError(f"Percolate answered 404 for {path} ({code}): {message}")
        raise status_error(response, client.url(path))

    # --- terms ----------------------------------------------------------------------------------

    async def find_terms(self, http: HttpClient | None = None) -> list[dict[str, Any]]:
        """Every term of namespace ``tag`` visible from the license, the scopes above it
        included (``extend_scopes=true``, as a public Percolate script lists them). No
        ``search``: real term search looks prefix-based (the SDK's fixture), so a near miss with
        a leading space, or a tag searched by one of its words, could be missed."""
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            params: dict[str, Any] = {"scope_ids": self.settings.scope_id, "namespace": "tag",
                                      "limit": TERM_PAGE, "offset": offset}
            if self.settings.extend_scopes:
                params["extend_scopes"] = "true"
            body = await self.api_json("/api/v5/term/", params, http)
            data = [t for t in body.get("data") or [] if isinstance(t, dict)]
            out.extend(data)
            offset += len(data)
            total = int((body.get("meta") or {}).get("total") or 0)
            if not data or offset >= total:
                break
        for term in out:
            if term.get("id") and isinstance(term.get("name"), str):
                self._term_names[str(term["id"])] = term["name"]
        return [t for t in out if t.get("namespace", "tag") == "tag"]

    def split_terms(self, terms: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[str]]]:
        """(exact term ids, {near-miss spelling: [term ids]})."""
        tag = self.settings.tag
        exact: list[str] = []
        near: dict[str, list[str]] = {}
        for term in terms:
            name = str(term.get("name", ""))
            term_id = str(term.get("id", ""))
            if name == tag:
                exact.append(term_id)
            elif normalized(name) == normalized(tag):
                near.setdefault(name, []).append(term_id)
        return exact, near

    async def exact_term_ids(self) -> list[str]:
        if self._exact_ids is None:
            self._exact_ids, _ = self.split_terms(await self.find_terms())
        return self._exact_ids

    async def count(self, term_ids: list[str] | None, http: HttpClient | None = None) -> int:
        """``meta.total`` of a one-item page: how many live assets carry any of ``term_ids``."""
        params: dict[str, Any] = {"scope_ids": self.settings.scope_id, "limit": 1, "offset": 0}
        if term_ids:
            params["term_ids"] = ",".join(term_ids)
        body = await self.api_json("/api/v5/asset/", params, http)
        return int((body.get("meta") or {}).get("total") or 0)

    async def _names(self, ids: set[str]) -> None:
        """Learn the names of term ids not seen yet (``/api/v5/term/?ids=``), 50 at a time."""
        unknown = sorted(i for i in ids if i not in self._term_names)
        for start in range(0, len(unknown), 50):
            chunk = unknown[start:start + 50]
            body = await self.api_json("/api/v5/term/", {
                "scope_ids": self.settings.scope_id, "ids": ",".join(chunk), "limit": len(chunk)})
            for term in body.get("data") or []:
                if isinstance(term, dict) and term.get("id"):
                    self._term_names[str(term["id"])] = str(term.get("name", ""))
            for term_id in chunk:
                self._term_names.setdefault(term_id, "")  # unknown: do not ask again

    # --- assets ---------------------------------------------------------------------------------

    def to_remote(self, wire: dict[str, Any], term_ids: list[str] | None = None) -> RemoteAsset:
        """Percolate's v5 asset → RemoteAsset; ``tags`` are the names of ``term_ids`` (the
        asset's terms as proven: its own ``term_ids``, its metadata, or a proven filter)."""
        ids = term_ids if term_ids is not None else wire.get("term_ids")
        tags = [self._term_names.get(str(t), "") for t in ids or []]
        size = wire.get("size")
        return RemoteAsset(
            id=str(wire["id"]),
            name=str(wire.get("filename") or ""),
            type=file_type(wire),
            size=int(size) if isinstance(size, (int, float)) else None,
            tags=tuple(dict.fromkeys(t for t in tags if t)),
            modified=utc_iso(wire.get("updated_at")),
            extra={k: wire.get(k) for k in ("content_type", "type", "scope_id", "status",
                                            "created_at", "folder_id") if k in wire},
        )

    async def memberships(self, wires: list[dict[str, Any]]) -> dict[str, list[str]] | None:
        """Each asset's term ids, read per asset: its own ``term_ids`` when the API attaches
        them, else its metadata (``/api/v5/metadata/?object_ids=``, where term-typed schema
        fields hold term-id arrays: percolate.md §3), the chunks of a page read at once.
        None when the API gives neither."""
        if wires and all(isinstance(w.get("term_ids"), list) for w in wires):
            return {str(w["id"]): [str(t) for t in w["term_ids"]] for w in wires}
        out: dict[str, list[str]] = {str(w["id"]): [] for w in wires}
        ids = list(out)
        chunks = [ids[start:start + METADATA_CHUNK] for start in range(0, len(ids), METADATA_CHUNK)]
        if len(chunks) == 1:
            answers = [await self._metadata(chunks[0])]
        else:
            answers = await all_or_none([self._metadata(chunk) for chunk in chunks])
        for data in answers:
            if data is None:
                return None
            for item in data:
                if not isinstance(item, dict) or str(item.get("object_id")) not in out:
                    continue
                found = item.get("ext")
                ext: dict[str, Any] = found if isinstance(found, dict) else {}
                for value in ext.values():
                    if isinstance(value, list):
                        out[str(item["object_id"])] += [str(v) for v in value
                                                        if str(v).startswith("term:")]
        return out

    async def _metadata(self, ids: list[str]) -> list[Any] | None:
        """The metadata objects of ``ids`` (at most METADATA_CHUNK), None when the API has none."""
        response = await self.api(with_query("/api/v5/metadata/", {
            "object_ids": ",".join(ids), "limit": len(ids)}))
        if response.status_code in (400, 404, 405):
            return None
        data = self.body(response, "/api/v5/metadata/", self.http).get("data")
        return data if isinstance(data, list) else None

    async def prove_filter(self, term_ids: list[str]) -> str | None:
        """When membership cannot be read per asset: evidence that ``term_ids=`` is applied
        (None), else why not. All three must hold: the filtered total differs from the
        unfiltered one, the echoed query holds ``term_ids``, and a sample of the license's
        assets is not all let through."""
        scope = self.settings.scope_id
        plain = await self.api_json("/api/v5/asset/", {"scope_ids": scope, "limit": SAMPLE,
                                                      "offset": 0})
        filtered = await self.api_json("/api/v5/asset/", {"scope_ids": scope, "limit": 1,
                                                         "term_ids": ",".join(term_ids)})
        total = int((plain.get("meta") or {}).get("total") or 0)
        narrowed = int((filtered.get("meta") or {}).get("total") or 0)
        if narrowed >= total:
            return (f"the term filter gave {narrowed} of {total} assets: the server ignores it")
        echoed = (filtered.get("meta") or {}).get("query") or {}
        if not isinstance(echoed, dict) or "term_ids" not in echoed:
            return "the server's echoed query does not hold term_ids"
        sample = [str(a["id"]) for a in plain.get("data") or [] if isinstance(a, dict)]
        if sample:
            within = await self.api_json("/api/v5/asset/", {
                "scope_ids": scope, "ids": ",".join(sample), "term_ids": ",".join(term_ids),
                "limit": len(sample)})
            if int((within.get("meta") or {}).get("total") or 0) >= len(sample):
                return "every sampled asset passed the term filter"
        return None

    async def _unproven(self, term_ids: list[str]) -> None:
        """Membership is not readable per asset: go on only if the filter is proven."""
        if self._filter_proven is None:
            reason = await self.prove_filter(term_ids)
            self._filter_proven = reason is None
            self._filter_reason = reason or ""
        if not self._filter_proven:
            raise MembershipUnproven(
                "Percolate gives no per-asset terms (no term_ids on assets, no metadata) and "
                f"{self._filter_reason}, so which assets carry the tag "
                f"'{self.settings.tag}' cannot be proven: nothing is imported",
                hint="report this answer (damkit check NAME --record FILE) to damkit")

    async def list_assets(self) -> AsyncIterator[list[RemoteAsset]]:
        self._exact_ids = None  # a term created or renamed since the last listing counts now
        self.tally = Tally()
        async with aclosing(self._list_tagged(await self.exact_term_ids())) as pages:
            async for page in pages:  # closed with this one: a page fetched ahead is cancelled
                yield page

    async def _list_tagged(self, term_ids: list[str]) -> AsyncGenerator[list[RemoteAsset], None]:
        """The assets carrying any of ``term_ids`` (the exact tag's terms), membership proven per
        asset; counted in ``self.tally``."""
        self._filter_proven = None
        self.tally = tally = Tally()
        if not term_ids:
            log.info("percolate: no term named exactly %r in %s", self.settings.tag,
                     self.settings.scope_id)
            return
        wanted = set(term_ids)
        # the next page's offset is known as soon as a page arrives: it is fetched while this
        # page's membership is read, and cancelled when the consumer stops early
        pending: asyncio.Task[dict[str, Any]] | None = asyncio.ensure_future(
            self._tagged_page(term_ids, 0))
        offset = 0
        try:
            while pending is not None:
                body = await pending
                data = [a for a in body.get("data") or [] if isinstance(a, dict) and a.get("id")]
                offset += len(data)
                total = int((body.get("meta") or {}).get("total") or 0)
                pending = None
                if data and offset < total:
                    pending = asyncio.ensure_future(self._tagged_page(term_ids, offset))
                page = await self._proven(data, term_ids, wanted, tally)
                if page:
                    yield page
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    async def _tagged_page(self, term_ids: list[str], offset: int) -> dict[str, Any]:
        return await self.api_json(with_query("/api/v5/asset/", {
            "scope_ids": self.settings.scope_id, "term_ids": ",".join(term_ids),
            "offset": offset, "limit": self.page_size,
            "order_by": "created_at", "order_direction": "asc"}))

    async def _proven(self, data: list[dict[str, Any]], term_ids: list[str], wanted: set[str],
                      tally: Tally) -> list[RemoteAsset]:
        """The live assets of one listed page whose own terms hold one of ``wanted``."""
        live = [a for a in data if not a.get("deleted")]
        members = await self.memberships(live) if live else {}
        if members is None:
            await self._unproven(term_ids)  # raises unless the filter is proven
            members = {str(a["id"]): list(term_ids) for a in live}
        tagged = []
        for wire in live:
            ids = members.get(str(wire["id"]), [])
            if wanted.isdisjoint(ids):
                tally.untagged += 1
            else:
                tagged.append((wire, ids))
        tally.listed += len(live)
        tally.eligible += len(tagged)
        await self._names({t for _, ids in tagged for t in ids})
        return [self.to_remote(wire, [t for t in ids if t in wanted] + ids)
                for wire, ids in tagged]

    async def replay(self, path: str, params: list[tuple[str, str]]) -> httpx.Response:
        token = await self.tokens.get(self.http)
        return await self.http.request("GET", path, params=params, auth=BearerAuth(token),
                                       follow_redirects=False)

    async def count_eligible(self, term_ids: list[str] | None = None) -> Tally:
        """Test Connection's count: the listing the sync would do, so the two always agree.
        ``term_ids``: the exact tag's terms the check has just read (not read twice)."""
        async for _ in self.list_assets() if term_ids is None else self._list_tagged(term_ids):
            pass
        return self.tally

    async def get_asset(self, asset_id: str) -> RemoteAsset | None:
        """The asset now, or None when deleted, archived or not visible any more."""
        path = f"/api/v5/asset/{quote(asset_id, safe=':')}"
        response = await self.api(path)
        if response.status_code == 404:
            return None
        wire = self.body(response, path, self.http).get("data")
        if not isinstance(wire, dict) or wire.get("deleted") or wire.get("status") == "archived":
            return None
        members = await self.memberships([wire])
        if members is not None:
            ids = members.get(str(wire["id"]), [])
            await self._names(set(ids))
            return self.to_remote(wire, ids)
        term_ids = await self.exact_term_ids()
        self._filter_proven = None
        if term_ids:
            await self._unproven(term_ids)
        tagged = bool(term_ids) and await self._count_ids(asset_id, term_ids) > 0
        return self.to_remote(wire, term_ids if tagged else [])

    async def _count_ids(self, asset_id: str, term_ids: list[str]) -> int:
        body = await self.api_json("/api/v5/asset/", {
            "scope_ids": self.settings.scope_id, "ids": asset_id, "term_ids": ",".join(term_ids),
            "limit": 1})
        return int((body.get("meta") or {}).get("total") or 0)

    async def download(self, asset: RemoteAsset) -> AsyncIterator[bytes]:
        """Stream the original; a 401 before the first byte re-fetches the token once."""
        path = f"/api/v5/asset/{quote(asset.id, safe=':')}/download"
        for attempt in (1, 2):
            token = await self.tokens.get(self.http)
            started = False
            try:
                async with self.http.stream("GET", path, auth=BearerAuth(token)) as response:
                    async for chunk in response.aiter_bytes():
                        started = True
                        yield chunk
                return
            except HttpError as exc:
                if exc.status == 401 and attempt == 1 and not started:
                    self.tokens.invalidate(token)
                    continue
                if exc.status == 404:
                    raise NotFoundError(f"Percolate has no asset {asset.id} any more") from None
                raise

    # --- Test Connection ------------------------------------------------------------------------

    async def check(self) -> CheckReport:
        from .check import run_check

        return await run_check(self)

    # --- tag discovery ---------------------------------------------------------------------------

    async def list_tags(self, contains: str | None = None, limit: int = 200) -> list[TagCount]:
        """Terms of namespace ``tag`` (``/api/v5/term/``, paged), same names merged, each
        counted with a one-item asset page (``meta.total``). Terms carry no file count, so at
        most TAG_COUNTS names are counted (those containing ``contains`` first)."""
        names: dict[str, list[str]] = {}
        for term in await self.find_terms():
            name = term.get("name")
            if isinstance(name, str) and name and term.get("id"):
                names.setdefault(name, []).append(str(term["id"]))
        wanted = (contains or "").strip().casefold()
        picked = sorted((n for n in names if wanted in n.casefold()),
                        key=lambda n: (not n.casefold().startswith(wanted), n.casefold(), n))
        picked = picked[:TAG_COUNTS]
        counts: list[int] = []
        for start in range(0, len(picked), 8):  # a few at once; the client's budget paces them
            chunk = picked[start:start + 8]
            counts.extend(await asyncio.gather(*(self.count(names[n]) for n in chunk)))
        out = [TagCount(tag=n, count=c) for n, c in zip(picked, counts, strict=True) if c > 0]
        out.sort(key=lambda t: (-t.count, t.tag))
        return out[:limit]


TAG_COUNTS = 500  # term names counted by list_tags (one request each)


async def all_or_none(coros: list[Coroutine[Any, Any, T]]) -> list[T]:
    """The results of ``coros`` run at once; on the first failure the others are cancelled
    (and awaited) before it propagates, so no request outlives the caller."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

PROVIDER = PercolateProvider
