"""Toydam's sandbox twin: a small Starlette API over the sandbox's shared catalog."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from damkit.sandbox.base import Emulator
from damkit.sandbox.catalog import Catalog, SandboxAsset

if TYPE_CHECKING:
    from damkit.sandbox.app import SandboxState

KEY = "toy-key-0123456789"


class ToyEmulator(Emulator):
    name = "toy"

    def __init__(self, state: SandboxState, catalog: Catalog) -> None:
        super().__init__(state, catalog)
        self.requests = 0

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/me", self.me), Route("/api/assets", self.assets),
                Route("/api/assets/{asset_id}", self.asset),
                Route("/api/assets/{asset_id}/file", self.file)]

    def manifest(self) -> dict[str, Any]:
        return {"url": self.base_url, "api_key": KEY, "term": self.catalog.tag,
                "eligible": self.catalog.eligible()}

    def _refused(self, request: Request) -> Response | None:
        self.requests += 1
        if request.headers.get("x-toy-key") != KEY:
            return JSONResponse({"error": "bad key"}, status_code=401)
        return None

    def _wire(self, asset: SandboxAsset) -> dict[str, Any]:
        data = self.catalog.content(asset)
        return {"id": asset.key, "name": f"{asset.name}", "ext": asset.ext, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(), "terms": list(asset.tags),
                "version": asset.version,
                "modified": datetime.fromtimestamp(asset.modified, UTC).isoformat()}

    async def me(self, request: Request) -> Response:
        return self._refused(request) or JSONResponse({"user": "toy-admin"})

    async def assets(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        term = request.query_params.get("term")
        page = int(request.query_params.get("page", "1"))
        per_page = min(int(request.query_params.get("per_page", "25")), 100)
        found = self.catalog.tagged(term) if term else list(self.catalog.live())
        items = found[(page - 1) * per_page: page * per_page]
        return JSONResponse({"items": [self._wire(a) for a in items], "total": len(found)})

    def _get(self, request: Request) -> SandboxAsset | Response:
        asset = self.catalog.get(request.path_params["asset_id"])
        if asset is None or asset.deleted:
            return JSONResponse({"error": "not found"}, status_code=404)
        return asset

    async def asset(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        asset = self._get(request)
        return asset if isinstance(asset, Response) else JSONResponse(self._wire(asset))

    async def file(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        asset = self._get(request)
        if isinstance(asset, Response):
            return asset
        return Response(self.catalog.content(asset), media_type=asset.mime)
