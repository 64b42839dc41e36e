"""``damkit sandbox compare FILE`` (core, not the sandbox: it drives the real connectors): replay
a recorded HAR against a fresh sandbox and say, per endpoint, where the sandbox answers
differently (status, content type, keys, value types).

A HAR comes from ``damkit check|sync NAME --record FILE`` (:mod:`damkit.record`); its
``log._damkit`` names the provider and the connection's base URL. Every recorded ``GET`` below
that base URL is sent again to the provider's emulator, signed by the real connector as it signs
its own requests (a request that was refused in the recording is sent with a made-up token, so
that refusals are compared with refusals). Other methods (token requests, writes) and other
hosts (pre-signed file URLs, OAuth hosts) are listed as skipped. A recorded id the sandbox does
not know is replaced by one of its tagged assets.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import BaseModel, Field

from .record import shape_of
from .redact import MASK

ID_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9:_-]{6,}$|^\w+:\d+$")
REFUSED_TOKEN = "Bearer damkit-replay-not-a-token"


class Difference(BaseModel):
    endpoint: str  # "GET /api/v4/media/{id}/"
    what: str  # "status", "content type", "key", "type"
    key: str | None = None
    recorded: str
    sandbox: str


class Comparison(BaseModel):
    provider: str
    replayed: int = 0
    endpoints: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    differences: list[Difference] = Field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.differences


class CompareError(ValueError):
    """The file is not a HAR damkit recorded."""


def endpoint_of(method: str, path: str) -> str:
    segments = ["{id}" if ID_SEGMENT.match(s) else s for s in path.split("/")]
    return f"{method} {'/'.join(segments)}"


def load(path: Path) -> dict[str, Any]:
    try:
        har = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompareError(f"{path}: not a readable HAR file ({exc})") from None
    log = har.get("log") if isinstance(har, dict) else None
    meta = log.get("_damkit") if isinstance(log, dict) else None
    if not isinstance(meta, dict) or not meta.get("provider") or not meta.get("base_url"):
        raise CompareError(f"{path}: no log._damkit.provider/base_url: record it with "
                           "damkit check NAME --record FILE")
    return cast(dict[str, Any], har)


def recorded_shape(response: dict[str, Any]) -> dict[str, str] | None:
    """The recorded body's shape: from its text when that is whole JSON (so an edited HAR is
    compared as edited), else the shape kept before the body was capped."""
    content = response.get("content") or {}
    text = content.get("text")
    if isinstance(text, str) and "json" in str(content.get("mimeType", "")):
        try:
            return shape_of(json.loads(text))
        except ValueError:
            pass
    shape = response.get("_shape")
    return dict(shape) if isinstance(shape, dict) else None


def diff_shapes(endpoint: str, recorded: dict[str, str],
                sandbox: dict[str, str]) -> list[Difference]:
    out: list[Difference] = []
    for key in sorted(set(recorded) | set(sandbox)):
        if key not in sandbox:
            out.append(Difference(endpoint=endpoint, what="key", key=key, recorded="present",
                                  sandbox="absent"))
        elif key not in recorded:
            out.append(Difference(endpoint=endpoint, what="key", key=key, recorded="absent",
                                  sandbox="present"))
        else:
            a = set(recorded[key].split("|")) - {"null"}
            b = set(sandbox[key].split("|")) - {"null"}
            if a and b and not a & b:
                out.append(Difference(endpoint=endpoint, what="type", key=key,
                                      recorded=recorded[key], sandbox=sandbox[key]))
    return out


def mime(value: str) -> str:
    return value.split(";")[0].strip().lower()


async def compare_async(path: Path, *, assets: int = 300, seed: int = 7) -> Comparison:
    """Replay ``path`` against a fresh sandbox (``assets``/``seed`` as ``damkit sandbox``)."""
    from .demo import add_sandbox_connections, demo_workspace, login_sandbox_connections
    from .sandbox.server import Sandbox

    har = load(path)
    meta = har["log"]["_damkit"]
    provider = str(meta["provider"])
    base = str(meta["base_url"]).rstrip("/")
    result = Comparison(provider=provider)
    with Sandbox(assets=assets, seed=seed, providers=(provider,)) as sb, \
            tempfile.TemporaryDirectory() as tmp:
        ws = demo_workspace(Path(tmp))
        try:
            manifest = sb.manifest()
            (name,) = add_sandbox_connections(ws, manifest)
            await login_sandbox_connections(ws, [name])
            catalog = sb.state.catalog(provider)
            spare = [a.key for a in catalog.tagged(catalog.tag)[:5]]
            target = sb.state.emulators[provider].base_url
            seen: set[str] = set()
            async with ws.provider(name, rate=1000.0) as connector, httpx.AsyncClient() as plain:
                for entry in har["log"].get("entries") or []:
                    await _replay(entry, base, target, connector, plain, spare, result, seen)
        finally:
            ws.close()
    result.endpoints = sorted(seen)
    return result


async def _replay(entry: dict[str, Any], base: str, target: str, connector: Any,
                  plain: httpx.AsyncClient, spare: list[str], result: Comparison,
                  seen: set[str]) -> None:
    request, recorded = entry.get("request") or {}, entry.get("response") or {}
    method, url = str(request.get("method", "")), str(request.get("url", ""))
    if not url.startswith(base):
        result.skipped.append(f"{method} {urlsplit(url).netloc}: another host (not replayed)")
        return
    rest = url[len(base):]
    parts = urlsplit(rest)
    endpoint = endpoint_of(method, parts.path)
    if method != "GET":
        result.skipped.append(f"{endpoint}: {method} is not replayed (tokens and writes)")
        return
    params = parse_qsl(parts.query, keep_blank_values=True)
    if any(MASK in v for _, v in params):
        result.skipped.append(f"{endpoint}: its query was a credential (pre-signed or a "
                              "token), masked in the recording: not replayable")
        return
    authenticated = bool((entry.get("_damkit") or {}).get("authenticated"))
    status = int(recorded.get("status") or 0)
    if status == 429 or status >= 500:
        result.skipped.append(f"{endpoint}: recorded {status}, a passing state (retried), "
                              "not compared")
        return

    async def send(path: str) -> httpx.Response:
        if authenticated and status not in (401, 403):
            response: httpx.Response = await connector.replay(path, params)
            return response
        headers = {"Authorization": REFUSED_TOKEN} if authenticated else {}
        return await plain.get(target + path, params=cast(Any, params), headers=headers)

    response = await send(parts.path)
    if response.status_code == 404 and 200 <= status < 300:
        segments = parts.path.split("/")
        for key in spare:  # an id of the recorded portal: ask for one the sandbox has
            swapped = "/".join(key if ID_SEGMENT.match(s) else s for s in segments)
            response = await send(swapped)
            if response.status_code != 404:
                break
    result.replayed += 1
    seen.add(endpoint)
    diffs: list[Difference] = []
    if response.status_code != status:
        diffs.append(Difference(endpoint=endpoint, what="status", recorded=str(status),
                                sandbox=str(response.status_code)))
    kind = mime(str((recorded.get("content") or {}).get("mimeType", "")))
    got = mime(response.headers.get("content-type", ""))
    if kind and got and kind != got:
        diffs.append(Difference(endpoint=endpoint, what="content type", recorded=kind,
                                sandbox=got))
    shape = recorded_shape(recorded)
    if shape is not None and "json" in got:
        try:
            diffs += diff_shapes(endpoint, shape, shape_of(response.json()))
        except ValueError:
            diffs.append(Difference(endpoint=endpoint, what="content type", recorded=kind,
                                    sandbox="not JSON"))
    for d in diffs:  # one line per endpoint and difference, however often it was called
        if d not in result.differences:
            result.differences.append(d)


def compare(path: Path, **kw: Any) -> Comparison:
    return asyncio.run(compare_async(path, **kw))
