"""Toydam's connector: damkit's HTTP layer (rate limit, retries, redaction) against its API.

API: ``X-Toy-Key`` header; ``GET /api/me``; ``GET /api/assets?term=&page=&per_page=`` →
``{"items": [...], "total": n}``; ``GET /api/assets/{id}`` and ``/api/assets/{id}/file``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from damkit.errors import DamkitError, NotFoundError
from damkit.http import HttpClient
from damkit.providers.base import (
    CheckReport,
    CheckStep,
    ConnectionContext,
    Fix,
    Provider,
    RemoteAsset,
    StepFailed,
    run_stages,
)
from damkit.redact import register_secret

from .settings import ToySettings
from .steps import STEPS


class KeyAuth(httpx.Auth):
    """The API key header, sent only to Toydam's own origin (the HTTP layer sees to that)."""

    def __init__(self, key: str) -> None:
        register_secret(key)  # never in a log or an error message
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["X-Toy-Key"] = self.key
        yield request


def remote(item: dict[str, Any]) -> RemoteAsset:
    return RemoteAsset(id=str(item["id"]), name=item["name"], type=item["ext"],
                       size=item["size"], checksum=f"sha256:{item['sha256']}",
                       tags=tuple(item["terms"]), modified=item["modified"],
                       version=str(item["version"]))


class ToyProvider(Provider):
    name: ClassVar[str] = "toy"
    settings_model: ClassVar[type[ToySettings]] = ToySettings
    steps = STEPS
    page_size: ClassVar[int] = 25
    settings: ToySettings

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        key = self.settings.api_key.get_secret_value()
        self.http = HttpClient(self.settings.url, auth=KeyAuth(key),
                               rate=ctx.rate or self.default_rate, burst=self.default_burst)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _page(self, page: int) -> dict[str, Any]:
        response = await self.http.request(
            "GET", "/api/assets", params={"term": self.settings.import_tag, "page": page,
                                          "per_page": self.page_size}, ok=(200,))
        data: dict[str, Any] = response.json()
        return data

    async def list_assets(self) -> AsyncIterator[list[RemoteAsset]]:  # type: ignore[override]
        page, seen = 1, 0
        while True:
            data = await self._page(page)
            items = [remote(i) for i in data["items"]]
            seen += len(items)
            yield [a for a in items if self.has_tag(a)]
            if not items or seen >= int(data["total"]):
                return
            page += 1

    async def get_asset(self, asset_id: str) -> RemoteAsset | None:
        response = await self.http.request("GET", f"/api/assets/{quote(asset_id, safe='')}",
                                           ok=(200, 404))
        return None if response.status_code == 404 else remote(response.json())

    async def download(self, asset: RemoteAsset) -> AsyncIterator[bytes]:  # type: ignore[override]
        path = f"/api/assets/{quote(asset.id, safe='')}/file"
        try:
            async with self.http.stream("GET", path) as response:
                async for chunk in response.aiter_bytes():
                    yield chunk
        except NotFoundError:
            raise NotFoundError(f"Toydam has no asset {asset.id} any more") from None

    async def check(self) -> CheckReport:
        report = CheckReport(provider=self.name, connection=self.ctx.name,
                             tag=self.settings.import_tag)

        async def credentials(step: CheckStep) -> None:
            response = await self.http.request("GET", "/api/me", ok=(200, 401))
            if response.status_code == 401:
                raise StepFailed("Toydam refused the API key",
                                 hint="check the API key (guide step 'Create an API key')")
            step.detail = f"signed in as {response.json()['user']}"

        async def term(step: CheckStep) -> None:
            report.eligible = int((await self._page(1))["total"])
            step.detail = f"{report.eligible} file(s) carry {self.settings.import_tag!r}"
            if not report.eligible:
                step.fix = Fix(step="toy.settings", field="term", message="no file carries the term",
                               action="tag a file in Toydam, or fix the term")
                raise StepFailed(step.detail, hint=step.fix.action)

        def describe(exc: DamkitError) -> StepFailed:
            return StepFailed(exc.message, hint="check the Toydam URL (guide step 'Address and "
                                                "term')")

        return await run_stages(report, [("Credentials", credentials), ("Term", term)],
                                describe=describe)
