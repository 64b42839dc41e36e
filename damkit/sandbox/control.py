"""The sandbox control API (``/_sandbox/...``, JSON): inspect and change catalogs, set faults,
reset. Never part of a provider's API; see docs/sandbox.md for every endpoint with an example.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .catalog import STATES, Catalog, SandboxAsset, asset_state
from .faults import FaultError, FaultSpec

if TYPE_CHECKING:
    from .app import SandboxState

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_SIZE = 50_000_000

Handler = Callable[[Request], Awaitable[Response]]


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def asset_json(catalog: Catalog, asset: SandboxAsset, *, md5: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": asset.key, "number": asset.number, "name": asset.name, "ext": asset.ext,
        "mime": asset.mime, "size": asset.size, "tags": list(asset.tags),
        "state": asset_state(asset), "version": asset.version, "created": asset.created,
        "modified": asset.modified,
    }
    if md5:
        out["md5"] = catalog.md5(asset)
    return out


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ControlError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ControlError(400, f"{name} must be an integer") from None
    if isinstance(value, bool) or not lo <= number <= hi:
        raise ControlError(400, f"{name} must be between {lo} and {hi}")
    return number


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ControlError(400, f"{name!r} (a string) is required")
    return value


def control_routes(state: SandboxState) -> list[Route]:
    """Routes relative to the ``/_sandbox`` mount."""

    def catalog_of(request: Request) -> Catalog:
        provider = request.path_params["provider"]
        emu = state.emulators.get(provider)
        if emu is None:
            raise ControlError(404, f"unknown provider {provider!r}; running: "
                                    f"{', '.join(state.emulators) or 'none'}")
        return emu.catalog

    def asset_of(request: Request) -> tuple[Catalog, SandboxAsset]:
        catalog = catalog_of(request)
        key = request.path_params["key"]
        asset = catalog.assets.get(key)
        if asset is None:
            raise ControlError(404, f"no asset {key!r} in {catalog.provider}")
        return catalog, asset

    def faults_of(request: Request) -> Any:
        provider = request.path_params["provider"]
        faults = state.faults.get(provider)
        if faults is None or provider not in state.emulators:
            raise ControlError(404, f"unknown provider {provider!r}")
        return faults

    def handled(fn: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except ControlError as exc:
                return error(exc.status, exc.message)
        return endpoint

    async def manifest(request: Request) -> Response:
        return JSONResponse(state.manifest())

    async def reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True, "manifest": state.manifest()})

    async def list_assets(request: Request) -> Response:
        catalog = catalog_of(request)
        q = request.query_params
        page = _int(q.get("page", 1), "page", 1, 10**9)
        limit = _int(q.get("limit", DEFAULT_LIMIT), "limit", 1, MAX_LIMIT)
        wanted = q.get("state", "all")
        if wanted not in STATES:
            raise ControlError(400, f"state must be one of {', '.join(STATES)}")
        pool = catalog.listing(tag=q.get("tag"), state=wanted)
        start = (page - 1) * limit
        return JSONResponse({
            "provider": catalog.provider, "total": len(pool), "page": page, "limit": limit,
            "assets": [asset_json(catalog, a) for a in pool[start:start + limit]],
        })

    async def add_asset(request: Request) -> Response:
        catalog = catalog_of(request)
        data = await _body(request)
        name = _str(data, "name")
        ext = data.get("ext", "png")
        if not isinstance(ext, str) or not ext.isalnum():
            raise ControlError(400, "ext must be letters and digits, e.g. \"png\"")
        size = _int(data.get("size", 4_000), "size", 0, MAX_SIZE)
        tags = data.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ControlError(400, "tags must be a list of strings")
        asset = catalog.add(name, ext=ext.lower(), size=size, tags=tags)
        return JSONResponse(asset_json(catalog, asset), status_code=201)

    async def get_asset(request: Request) -> Response:
        catalog, asset = asset_of(request)
        return JSONResponse(asset_json(catalog, asset, md5=True))

    async def content(request: Request) -> Response:
        catalog, asset = asset_of(request)
        return Response(catalog.content(asset), media_type=asset.mime)

    async def tag(request: Request) -> Response:
        catalog, asset = asset_of(request)
        name = _str(await _body(request), "tag")
        untag = request.url.path.rstrip("/").endswith("/untag")
        if untag:
            catalog.set_tags(asset.key, remove=[name])
        else:
            catalog.set_tags(asset.key, add=[name])
        return JSONResponse(asset_json(catalog, asset))

    async def modify(request: Request) -> Response:
        catalog, asset = asset_of(request)
        data = await _body(request)
        size = None if data.get("size") is None else _int(data["size"], "size", 0, MAX_SIZE)
        name = None if data.get("name") is None else _str(data, "name")
        catalog.modify(asset.key, size=size, name=name)
        return JSONResponse(asset_json(catalog, asset, md5=True))

    async def delete(request: Request) -> Response:
        catalog, asset = asset_of(request)
        catalog.delete(asset.key)
        return JSONResponse(asset_json(catalog, asset))

    async def archive(request: Request) -> Response:
        catalog, asset = asset_of(request)
        archived = (await _body(request)).get("archived", True)
        if not isinstance(archived, bool):
            raise ControlError(400, "archived must be true or false")
        catalog.archive(asset.key, archived)
        return JSONResponse(asset_json(catalog, asset))

    async def limit(request: Request) -> Response:
        catalog, asset = asset_of(request)
        limited = (await _body(request)).get("limited", True)
        if not isinstance(limited, bool):
            raise ControlError(400, "limited must be true or false")
        catalog.limit(asset.key, limited)
        return JSONResponse({**asset_json(catalog, asset), "limited": asset.limited})

    async def all_faults(request: Request) -> Response:
        return JSONResponse({name: f.snapshot() for name, f in state.faults.items()
                             if name in state.emulators})

    async def faults(request: Request) -> Response:
        current = faults_of(request)
        if request.method == "GET":
            return JSONResponse(current.snapshot())
        if request.method == "DELETE":
            current.set(FaultSpec())
            return JSONResponse(current.snapshot())
        data = await _body(request)
        try:
            spec = FaultSpec.from_dict(data, base=current.spec if request.method == "PATCH" else None)
        except FaultError as exc:
            raise ControlError(400, str(exc)) from None
        current.set(spec, restart=request.method != "PATCH")
        return JSONResponse(current.snapshot())

    async def switches(request: Request) -> Response:
        from .switches import SwitchError, validate

        provider = request.path_params["provider"]
        emu = state.emulators.get(provider)
        if emu is None:
            raise ControlError(404, f"unknown provider {provider!r}")
        if request.method == "PUT":
            try:
                state.switches[provider] = validate(provider, (await _body(request)).get("on", []),
                                                    emu.switch_names())
            except SwitchError as exc:
                raise ControlError(400, str(exc)) from None
        return JSONResponse({"provider": provider, "on": sorted(state.switches[provider]),
                             "known": list(emu.switch_names())})

    table: list[tuple[str, Handler, list[str]]] = [
        ("/{provider}/switches", switches, ["GET", "PUT"]),
        ("/manifest", manifest, ["GET"]),
        ("/reset", reset, ["POST"]),
        ("/faults", all_faults, ["GET"]),
        ("/{provider}/faults", faults, ["GET", "PUT", "PATCH", "DELETE"]),
        ("/{provider}/assets", list_assets, ["GET"]),
        ("/{provider}/assets", add_asset, ["POST"]),
        ("/{provider}/assets/{key}", get_asset, ["GET"]),
        ("/{provider}/assets/{key}/content", content, ["GET"]),
        ("/{provider}/assets/{key}/tag", tag, ["POST"]),
        ("/{provider}/assets/{key}/untag", tag, ["POST"]),
        ("/{provider}/assets/{key}/modify", modify, ["POST"]),
        ("/{provider}/assets/{key}/delete", delete, ["POST"]),
        ("/{provider}/assets/{key}/archive", archive, ["POST"]),
        ("/{provider}/assets/{key}/limit", limit, ["POST"]),
    ]
    routes = [Route(path, handled(fn), methods=methods) for path, fn, methods in table]

    async def not_found(request: Request) -> Response:
        return error(404, f"no control endpoint {request.method} {request.url.path}")

    routes.append(Route("/{rest:path}", not_found,
                        methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    return routes
