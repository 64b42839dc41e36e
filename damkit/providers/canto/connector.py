"""Canto connector: Test Connection, keyword listing, asset lookup and download.

Files carrying the keyword are listed with ``GET /api/v1/search?keywords=K&exactMatch=true``
paged by ``start``/``limit`` (project choice, providers/README.md), newest first: a file changed
while paging moves to the front, so it may be seen twice (deduplicated here) but none is skipped.
The keyword is also compared exactly on each result, case included.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ...errors import DamkitError, HttpError
from ...http import HttpClient, response_json
from ...redact import register_secret
from ..base import (
    CheckReport,
    CheckStep,
    ConnectionContext,
    Fix,
    NearMiss,
    Provider,
    RemoteAsset,
    Stage,
    StepFailed,
    TagCount,
    describe_error,
    run_stages,
)
from ..membership import MembershipUnproven, Tally
from .settings import CantoSettings
from .steps import STEPS
from .tokens import APP_HINT, CantoAuthError, CantoBearer, CantoOAuth, CantoTokens, auth_hint, step_title

log = logging.getLogger("damkit.canto")

SCHEMES = ("image", "video", "audio", "document", "presentation", "other")
MAX_LIMIT = 1000
CHECK_RETRIES = 2  # Test Connection must answer in seconds, even when Canto answers 503
NEAR_MISS_PAGES = 2  # pages of a loose search read to find near-miss spellings


def parse_canto_time(value: Any) -> str | None:
    """``yyyyMMddHHmmssSSS`` → ISO-8601 UTC (None when absent or malformed)."""
    text = str(value or "")
    if len(text) < 14 or not text[:17].isdigit():
        return None
    try:
        dt = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    millis = int(text[14:17] or 0) if len(text) >= 17 else 0
    return dt.replace(microsecond=millis * 1000).isoformat().replace("+00:00", "Z")


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def to_remote(item: dict[str, Any]) -> RemoteAsset:
    """One search/detail result → RemoteAsset (``size`` as number or numeric string)."""
    name = str(item.get("name") or "")
    scheme = str(item.get("scheme") or "")
    ext = name.rsplit(".", 1)[1].lower() if "." in name.strip(".") else ""
    md5 = item.get("md5")
    version = None
    for entry in item.get("versionHistory") or []:
        if isinstance(entry, dict) and entry.get("currentVersion"):
            version = str(entry.get("versionId") or entry.get("version") or "") or None
    found = item.get("url")
    urls: dict[str, Any] = found if isinstance(found, dict) else {}
    return RemoteAsset(
        id=str(item["id"]), name=name, type=ext or scheme,
        size=_int(item.get("size")),
        checksum=f"md5:{str(md5).lower()}" if md5 else None,
        tags=tuple(str(k) for k in item.get("keyword") or ()),
        modified=parse_canto_time(item.get("time") or item.get("lastUploaded")),
        version=version,
        extra={"scheme": scheme, "download": urls.get("download") or ""},
    )


class CantoProvider(Provider):
    name: ClassVar[str] = "canto"
    settings_model: ClassVar[type[CantoSettings]] = CantoSettings
    steps = STEPS
    page_size: int = MAX_LIMIT

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, CantoSettings):
            raise TypeError("CantoProvider needs CantoSettings")
        self.settings: CantoSettings = ctx.settings
        register_secret(self.settings.app_secret.get_secret_value())
        rate = ctx.rate if ctx.rate is not None else self.default_rate
        # no bearer on this one: token requests only
        self._oauth_client = HttpClient(rate=rate, burst=self.default_burst, retries=3)
        self.oauth = CantoOAuth(ctx, self._oauth_client)
        self.tokens = CantoTokens(ctx, self.oauth)
        self.tally = Tally()  # what the last listing saw
        self.client = HttpClient(self.settings.domain, auth=CantoBearer(self.tokens), rate=rate,
                                 burst=self.default_burst)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self._oauth_client.aclose()

    # --- reading --------------------------------------------------------------------------------

    async def _json(self, path: str, params: dict[str, Any] | None = None,
                    retries: int | None = None) -> Any:
        response = await self.client.request("GET", path, params=params, retries=retries)
        if response.status_code == 401:
            raise CantoAuthError("Canto refused the login (401 after a refresh)", reason="login",
                                 hint=auth_hint(self.ctx.name))
        if response.status_code != 200:
            raise HttpError(f"Canto answered {response.status_code} to {path}",
                            status=response.status_code, kind="http")
        try:
            return response_json(response)
        except ValueError:
            raise HttpError(f"Canto answered {path} with something that is not JSON (a web page?)",
                            status=200, kind="protocol") from None

    async def search(self, keyword: str, *, exact: bool, start: int = 0, limit: int = MAX_LIMIT,
                     retries: int | None = None) -> dict[str, Any]:
        params = {"keywords": keyword, "scheme": self.settings.schemes, "start": start,
                  "limit": min(limit, MAX_LIMIT), "sortBy": "time",
                  "sortDirection": "descending"}
        if exact:
            params["exactMatch"] = "true"
        data = await self._json("/api/v1/search", params, retries)
        if not isinstance(data, dict):
            raise HttpError("Canto's search answer is not an object", kind="protocol")
        return data

    async def count(self, keyword: str, *, exact: bool = True, retries: int | None = None) -> int:
        """How many files carry ``keyword``: one result asked for, ``found`` read."""
        data = await self.search(keyword, exact=exact, limit=1, retries=retries)
        return _int(data.get("found")) or 0

    async def judge(self, item: dict[str, Any], tally: Tally) -> RemoteAsset | None:
        """The result if it carries the keyword exactly, as Canto returned it. A result without
        a keyword list is re-read (``/api/v1/{scheme}/{id}``); still without one, membership
        cannot be proven and the listing fails closed."""
        tally.listed += 1
        if not isinstance(item.get("keyword"), list):
            detail = await self.get_asset(str(item["id"]), str(item.get("scheme") or "") or None,
                                          raw=True)
            if not isinstance(detail, dict) or not isinstance(detail.get("keyword"), list):
                tally.unproven += 1
                raise MembershipUnproven(
                    "Canto returned files without their keywords, so which of them carry the "
                    f"keyword '{self.settings.keyword}' cannot be proven: nothing is imported",
                    hint="report this answer (damkit check NAME --record FILE) to damkit")
            item = detail
        asset = to_remote(item)
        if self.settings.keyword not in asset.tags:
            tally.untagged += 1
            return None
        tally.eligible += 1
        return asset

    async def list_assets(self) -> AsyncIterator[list[RemoteAsset]]:
        tag = self.settings.keyword
        self.tally = tally = Tally()
        start, seen = 0, set()
        while True:
            data = await self.search(tag, exact=True, start=start, limit=self.page_size)
            results = [r for r in data.get("results") or [] if isinstance(r, dict) and r.get("id")]
            found = _int(data.get("found")) or 0
            page = []
            for item in results:
                if str(item["id"]) in seen:
                    continue
                seen.add(str(item["id"]))
                asset = await self.judge(item, tally)
                if asset is not None:
                    page.append(asset)
            if page:
                yield page
            start += len(results)
            if not results or start >= found:
                return

    async def replay(self, path: str, params: list[tuple[str, str]]) -> Any:
        return await self.client.request("GET", path, params=params, follow_redirects=False)

    async def count_eligible(self, retries: int | None = None) -> Tally:
        """Test Connection's count: the listing the sync would do, so the two always agree."""
        async for _ in self.list_assets():
            pass
        return self.tally

    async def get_asset(self, asset_id: str, scheme: str | None = None,
                        raw: bool = False) -> Any:
        """Canto needs the scheme in the path; without it, try each (as Canto's own plugins do).
        ``raw``: the detail object as Canto returned it."""
        for candidate in ([scheme] if scheme else SCHEMES):
            response = await self.client.request("GET", f"/api/v1/{candidate}/{asset_id}")
            if response.status_code == 200:
                return response.json() if raw else to_remote(response.json())
            if response.status_code == 401:
                raise CantoAuthError("Canto refused the login", reason="login",
                                     hint=auth_hint(self.ctx.name))
            if response.status_code not in (400, 404):
                raise HttpError(f"Canto answered {response.status_code} for an asset",
                                status=response.status_code, kind="http")
        return None

    async def download(self, asset: RemoteAsset) -> AsyncIterator[bytes]:
        """``url.download`` (``/api_binary/v1/{scheme}/{id}``) answers with a redirect to the file;
        the bearer token goes to the tenant only, never to the redirect target."""
        url = str(asset.extra.get("download") or "")
        scheme = str(asset.extra.get("scheme") or "image")
        if not url or urlsplit(url).netloc != urlsplit(self.settings.domain).netloc:
            url = f"/api_binary/v1/{scheme}/{asset.id}"
        async with self.client.stream("GET", url) as response:
            async for chunk in response.aiter_bytes():
                yield chunk

    # --- Test Connection ------------------------------------------------------------------------

    async def check(self) -> CheckReport:
        report = CheckReport(provider=self.name, connection=self.ctx.name,
                             tag=self.settings.keyword)
        stages = (("Reach Canto", self._check_reach), ("App credentials", self._check_app),
                  ("Login", self._check_login), ("Keyword", self._check_keyword),
                  ("Near misses", self._check_near_misses))

        def describe(exc: DamkitError) -> StepFailed:
            site = self._http_hint(HttpError("", kind="protocol"))
            return describe_error(
                exc, site=Fix(step="canto.integration", field="domain", action=site),
                keys=Fix(step="canto.login", action=auth_hint(self.ctx.name)),
                access=Fix(step="canto.api-key", field="app_id", action=APP_HINT))

        def bind(stage: Any) -> Stage:
            return lambda step: stage(report, step)

        return await run_stages(report, [(n, bind(st)) for n, st in stages], describe=describe)

    @staticmethod
    def _fail(step: CheckStep, detail: str, hint: str | None) -> None:
        step.status, step.detail, step.hint = "failed", detail, hint

    def _http_hint(self, exc: HttpError) -> str:
        integration = step_title("canto.integration")
        if exc.kind in ("dns", "tls", "connect", "protocol"):
            return f"check the Canto Domain (guide step '{integration}'), e.g. acme.canto.com"
        if exc.status == 429:
            return "Canto is rate limiting this tenant: wait a minute and test again"
        if exc.status and exc.status >= 500:
            return "Canto is failing on its side: test again later (status.canto.com)"
        return f"check the Canto Domain (guide step '{integration}')"

    async def _check_reach(self, report: CheckReport, step: CheckStep) -> None:
        """Canto's API answers a token it does not know with 401 (canto.md §1.3); a web server,
        a login page or another API answers otherwise."""
        host = urlsplit(self.settings.domain).netloc
        response = await self.client.request(
            "GET", "/api/v1/user", auth=False, retries=CHECK_RETRIES,
            headers={"Authorization": "Bearer damkit-probe-not-a-token"})
        status = response.status_code
        if status == 429 or status >= 500:
            raise HttpError(f"{host} kept answering {status}", status=status, kind="http")
        content_type = response.headers.get("content-type", "")
        if status not in (401, 403):
            self._fail(step, f"{host} answered {status} ({content_type or 'no content type'}) "
                       "where Canto's API answers 401: this is not a Canto tenant API",
                       self._http_hint(HttpError("", kind="protocol")))
            return
        step.detail = f"{host} answers as Canto's API ({status} to an unknown token)"
        if "html" in content_type:  # the body of Canto's 401 is not documented: warn only
            step.status = "warning"
            step.detail += ("; the answer is a web page, not JSON, which no public source "
                            "confirms for Canto: the Login step proves the connection")

    async def _check_app(self, report: CheckReport, step: CheckStep) -> None:
        """A code exchange with a code that cannot exist: Canto checks the app first, so
        ``invalid_grant`` means the App ID and App Secret were accepted. Nothing is changed."""
        try:
            await self.oauth.token({"grant_type": "authorization_code",
                                    "code": "damkit-check-no-such-code",
                                    "redirect_uri": "http://127.0.0.1/damkit-check"},
                                   retries=CHECK_RETRIES)
        except CantoAuthError as exc:
            if exc.reason == "login":
                step.detail = "App ID and App Secret accepted"
                return
            # Canto's answer to a code that cannot exist is not documented: never a failure.
            step.status = "warning"
            step.detail = (f"not verified: {exc.message}. Canto's answer to a made-up code is "
                           "not documented, so this only warns; the Login step proves the "
                           "App ID and App Secret")
            step.hint = exc.hint or APP_HINT
            return
        except HttpError as exc:
            step.status = "warning"
            step.detail = (f"not verified: the token endpoint answered {exc.status or exc.kind} "
                           "to a made-up code (an answer no public source documents); the Login "
                           "step proves the App ID and App Secret")
            return
        step.detail = "App ID and App Secret accepted"

    async def _check_login(self, report: CheckReport, step: CheckStep) -> None:
        if self.tokens.load() is None:
            self._fail(step, "not logged in to Canto yet", auth_hint(self.ctx.name))
            return
        try:
            data = await self._json("/api/v1/user", retries=CHECK_RETRIES)
        except CantoAuthError as exc:
            if exc.reason in ("login", "missing"):
                self._fail(step, "the Canto login expired or was revoked: " + exc.message,
                           auth_hint(self.ctx.name))
                return
            raise
        who = data.get("email") or data.get("userId") if isinstance(data, dict) else None
        if not who:
            self._fail(step, "Canto's user endpoint answered without a user",
                       self._http_hint(HttpError("", kind="protocol")))
            return
        step.detail = f"logged in as {who}"

    async def _check_keyword(self, report: CheckReport, step: CheckStep) -> None:
        keyword = self.settings.keyword
        tally = await self.count_eligible()
        eligible = report.eligible = tally.eligible
        if tally.untagged:
            report.warnings.append(f"Canto's keyword search returned {tally.untagged} files "
                                   f"without the keyword '{keyword}'; they are not imported")
        if eligible >= 1:
            step.detail = f"{eligible} file(s) carry the keyword '{keyword}'"
            if tally.summary():
                step.detail += f" ({tally.summary()})"
            return
        warning = next(w for w in self._keyword_step_warnings() if "at least one" in w)
        self._fail(step, f"no file carries the keyword '{keyword}' (written exactly, case "
                   f"included). {warning}",
                   f"add the keyword to the files in Canto, or fix Keyword for Import (guide step "
                   f"'{step_title('canto.keyword')}')")
        report.warnings.append(warning)
        # Near misses still help here: the keyword may be spelled another way.
        try:
            near = await self._near_misses(eligible)
        except DamkitError:
            return
        if near:
            report.near_misses = near
            step.detail += " Files carry near misses: " + ", ".join(
                f"'{n.spelling}' ({n.count})" for n in near)

    def _keyword_step_warnings(self) -> tuple[str, ...]:
        return next(s.warnings for s in STEPS if s.id == "canto.keyword")

    async def _check_near_misses(self, report: CheckReport, step: CheckStep) -> None:
        near = await self._near_misses(report.eligible or 0)
        report.near_misses = near
        if not near:
            step.detail = "no file carries the keyword in another case or with stray spaces"
            return
        step.status = "warning"
        listed = ", ".join(f"'{n.spelling}' on {n.count} file(s)" for n in near)
        step.detail = f"not imported (other spelling): {listed}"
        step.hint = (f"to import them, change their keyword in Canto to exactly "
                     f"'{self.settings.keyword}' (guide step '{step_title('canto.keyword')}')")

    async def _near_misses(self, exact_count: int) -> list[NearMiss]:
        """Spellings that differ only in case or outer spaces, with exact counts.

        A loose search's ``found`` equal to the exact count means there is none (one request).
        Otherwise spellings are collected from at most NEAR_MISS_PAGES pages of the loose search,
        and each is counted exactly.
        """
        keyword = self.settings.keyword
        loose = await self.search(keyword, exact=False, limit=1, retries=CHECK_RETRIES)
        loose_found = _int(loose.get("found")) or 0
        if loose_found <= exact_count:
            return []
        target = keyword.strip().casefold()
        spellings: set[str] = set()
        start = 0
        for _ in range(NEAR_MISS_PAGES):
            data = await self.search(keyword, exact=False, start=start, limit=MAX_LIMIT,
                                     retries=CHECK_RETRIES)
            results = data.get("results") or []
            for item in results:
                for k in (item.get("keyword") or []) if isinstance(item, dict) else []:
                    if isinstance(k, str) and k != keyword and k.strip().casefold() == target:
                        spellings.add(k)
            start += len(results)
            if not results or start >= loose_found:
                break
        ordered = sorted(spellings)  # each counted exactly, all at once
        counts = await asyncio.gather(*(self.count(s, exact=True, retries=CHECK_RETRIES)
                                        for s in ordered))
        return [NearMiss(spelling=s, count=n) for s, n in zip(ordered, counts, strict=True) if n]

    # --- tag discovery -------------------------------------------------------------------------

    async def list_tags(self, contains: str | None = None, limit: int = 200) -> list[TagCount]:
        """Canto has no keyword list with counts: the keywords of a loose search's results
        (all files, or those matching ``contains``) are tallied over at most TAG_SCAN_PAGES
        pages; when the scan could not read every result, each spelling is counted exactly."""
        text = (contains or "").strip()
        wanted = text.casefold()
        tally: dict[str, int] = {}
        start, found = 0, 0
        for _ in range(TAG_SCAN_PAGES):
            data = await self.search(text, exact=False, start=start, limit=MAX_LIMIT)
            found = _int(data.get("found")) or 0
            results = data.get("results") or []
            for item in results:
                for k in (item.get("keyword") or []) if isinstance(item, dict) else []:
                    if isinstance(k, str) and k and wanted in k.casefold():
                        tally[k] = tally.get(k, 0) + 1
            start += len(results)
            if not results or start >= found:
                break
        ranked = sorted(tally, key=lambda k: (-tally[k], k))[:limit]
        if start < found:  # partial scan: the tallies undercount, ask Canto for each
            tally = {k: await self.count(k, exact=True) for k in ranked}
        out = [TagCount(tag=k, count=tally[k]) for k in ranked if tally[k] > 0]
        out.sort(key=lambda t: (-t.count, t.tag))
        return out


TAG_SCAN_PAGES = 5  # search pages (of MAX_LIMIT files) read by list_tags

PROVIDER = CantoProvider

__all__ = ["PROVIDER", "CantoProvider", "parse_canto_time", "to_remote"]
