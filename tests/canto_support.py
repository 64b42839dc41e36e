"""Helpers shared by the Canto tests: settings from the sandbox manifest, a context, a login."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from damkit.providers.base import ConnectionContext
from damkit.providers.canto.auth import CantoLogin
from damkit.providers.canto.settings import CantoSettings
from damkit.sandbox import Sandbox
from damkit.sandbox.canto import CantoEmulator, consent

from provider_support import MemorySecrets


def manifest_of(sb: Sandbox) -> dict[str, Any]:
    return dict(httpx.get(sb.manifest_url).json()["providers"]["canto"])


def emulator(sb: Sandbox) -> CantoEmulator:
    emu = sb.state.emulators["canto"]
    if not isinstance(emu, CantoEmulator):
        raise TypeError("not the Canto emulator")
    return emu


def settings_of(sb: Sandbox, **override: Any) -> CantoSettings:
    values = manifest_of(sb)
    values.pop("eligible")
    values.update(override)
    return CantoSettings(**values)


def make_ctx(sb: Sandbox, tmp_path: Path, *, name: str = "acme", secrets: Any = None,
             settings: CantoSettings | None = None, **options: Any) -> ConnectionContext:
    """A context on the sandbox; ``rate`` high so tests do not wait on Canto's 3 requests/s."""
    state = tmp_path / "state" / name
    state.mkdir(parents=True, exist_ok=True)
    return ConnectionContext(name=name, settings=settings or settings_of(sb),
                             secrets=secrets if secrets is not None else MemorySecrets(),
                             state_dir=state, rate=1000.0, options=dict(options))


async def paste_login(ctx: ConnectionContext) -> str:
    """Log in the SSH way: authorize URL → Allow (no redirect followed) → paste the Location."""
    import asyncio

    async with CantoLogin(ctx, port=0) as login:
        request = login.start()
        location = await asyncio.to_thread(consent, request.authorize_url)
        await login.complete(location)
    return location


def revoke(sb: Sandbox) -> None:
    httpx.post(f"{sb.url}/canto/_revoke").raise_for_status()


def expire(sb: Sandbox) -> None:
    httpx.post(f"{sb.url}/canto/_expire").raise_for_status()
