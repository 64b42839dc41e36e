"""The demo: the whole job against the sandbox, for a new user, in well under a minute.

Start a sandbox, make a fresh workspace, add one connection per emulated provider from the
sandbox's manifest, Test Connection on each, sync each, and return one row per connection.
:func:`add_sandbox_connections` is the reusable part (``damkit connections add-sandbox``, tests,
benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel

from .errors import DamkitError, SettingsError
from .progress import ProgressCallback

if TYPE_CHECKING:
    from .workspace import Workspace

DEMO_ASSETS = 60
#: Client-side requests/s of the demo's syncs. The demo's sandbox runs on this machine with its
#: rate limit off, so the providers' polite defaults (Canto 3/s, Percolate 10/s, Bynder 15/s)
#: would only make a new user wait; pass ``rate=None`` to see them at work.
DEMO_RATE = 100.0


def fetch_manifest(url: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """The sandbox manifest from its base URL (or the manifest URL itself)."""
    target = url.rstrip("/")
    if not target.endswith("/_sandbox/manifest"):
        target += "/_sandbox/manifest"
    try:
        response = httpx.get(target, timeout=timeout)
        response.raise_for_status()
        data = response.json()
    except httpx.InvalidURL:
        raise SettingsError(f"'{url}' is not a sandbox URL", field="url",
                            hint="give the address `damkit sandbox` printed, e.g. "
                            "http://127.0.0.1:8765") from None
    except (httpx.HTTPError, ValueError) as exc:
        from .errors import Unreachable

        raise Unreachable(f"no sandbox manifest at {target} ({type(exc).__name__}: {exc})",
                          hint="start one with `damkit sandbox` and give the URL it prints") from None
    if not isinstance(data, dict) or not isinstance(data.get("providers"), dict):
        raise SettingsError(f"{target} is not a damkit sandbox manifest")
    return data


def add_sandbox_connections(ws: Workspace, manifest_or_url: dict[str, Any] | str,
                            prefix: str = "sandbox-") -> list[str]:
    """Add (or update, when the name exists) one connection per provider in the manifest.

    Returns the connection names, e.g. ``["sandbox-bynder", "sandbox-canto", ...]``.
    """
    manifest = (fetch_manifest(manifest_or_url) if isinstance(manifest_or_url, str)
                else manifest_or_url)
    names: list[str] = []
    for provider, fields in sorted(manifest["providers"].items()):
        values = {k: v for k, v in fields.items() if k != "eligible"}
        name = f"{prefix}{provider}"
        if ws.index.get_connection(name) is None:
            ws.add_connection(provider, name, values)
        else:
            ws.edit_connection(name, values)
        names.append(name)
    return names


def demo_workspace(root: Path) -> Workspace:
    """A workspace for sandbox connections only: their secrets are the sandbox's throwaway keys,
    kept in the workspace's own plaintext secret file (never use this for real connections)."""
    from .secrets.base import DEMO_MARKER
    from .workspace import open_workspace

    root.mkdir(parents=True, exist_ok=True)
    (root / DEMO_MARKER).write_text("This workspace belongs to `damkit demo` (sandbox keys only, "
                                    "kept in secrets.json); it is made anew on every demo.\n")
    return open_workspace(root, env={"DAMKIT_SECRET_STORE": "plaintext"})


async def login_sandbox_connections(ws: Workspace, names: list[str]) -> list[str]:
    """Log the sandbox connections whose provider needs a browser login in, playing the user on
    the sandbox's consent page. Returns the names logged in. Sandbox connections only."""
    done: list[str] = []
    for name in names:
        spec = ws.spec(name)
        play = spec.sandbox_login_flow()
        if play is None:
            continue
        try:
            async with ws.login(name) as login:
                await play(login)
        except DamkitError:
            raise
        except (ValueError, KeyError, httpx.HTTPError) as exc:  # the sandbox's page misbehaved
            from .errors import Unavailable

            raise Unavailable(f"the sandbox's {spec.title} login failed for {name}: {exc}",
                              hint="check that the sandbox is running and healthy "
                              "(its consent page answers), then run the command again") from None
        done.append(name)
    return done


def add_and_login_sandbox(ws: Workspace, manifest_or_url: dict[str, Any] | str,
                          prefix: str = "sandbox-") -> list[str]:
    """:func:`add_sandbox_connections` then :func:`login_sandbox_connections`, all or nothing:
    when a login fails, the connections this call added are removed and the ones it changed are
    put back, so a failure leaves the workspace as it was."""
    from .workspace import run_sync

    manifest = (fetch_manifest(manifest_or_url) if isinstance(manifest_or_url, str)
                else manifest_or_url)
    before = {f"{prefix}{p}": ws.index.get_connection(f"{prefix}{p}")
              for p in manifest["providers"]}
    names: list[str] = []
    try:
        names = add_sandbox_connections(ws, manifest, prefix=prefix)
        run_sync(login_sandbox_connections(ws, names))
    except BaseException:
        for name, doc in before.items():
            with contextlib.suppress(Exception):
                if doc is None:
                    if ws.index.get_connection(name) is not None:
                        ws.remove_connection(name)
                else:
                    ws.index.put_connection(doc)
        raise
    return names


class DemoRow(BaseModel):
    """One connection's part of the demo."""

    connection: str
    provider: str
    check_ok: bool
    check_detail: str = ""
    eligible: int | None = None
    synced: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0  # check + sync
    status: str = ""  # the sync's status, or "skipped" when the check failed
    error: str | None = None


async def demo_connection(ws: Workspace, name: str, *,
                          progress: ProgressCallback | None = None,
                          rate: float | None = None) -> DemoRow:
    from .sync import sync_connection

    provider = ws.connection(name)["provider"]
    started = time.perf_counter()
    try:
        report = await ws.check(name)
    except DamkitError as exc:
        return DemoRow(connection=name, provider=provider, check_ok=False, check_detail=str(exc),
                       status="skipped", seconds=round(time.perf_counter() - started, 3))
    failure = report.first_failure
    row = DemoRow(connection=name, provider=provider, check_ok=report.ok,
                  check_detail=failure.detail if failure else "ok", eligible=report.eligible)
    if not report.ok:
        row.status = "skipped"
    else:
        try:
            sync = await sync_connection(ws, name, progress=progress, rate=rate)
            row.synced, row.failed, row.bytes = sync.synced, sync.failed, sync.bytes
            row.status, row.error = sync.status, sync.error
        except DamkitError as exc:
            row.status, row.error = "failed", str(exc)
    row.seconds = round(time.perf_counter() - started, 3)
    return row


def demo_root(home: Path) -> Path:
    """Where ``run_demo(home)`` keeps its workspace (made anew on every run)."""
    return Path(home) / "demo"


async def run_demo(home: Path | None = None, *, assets: int = DEMO_ASSETS,
                   progress: ProgressCallback | None = None,
                   providers: tuple[str, ...] | None = None,
                   rate: float | None = DEMO_RATE) -> list[DemoRow]:
    """Sandbox → fresh workspace (``home/"demo"``, else a temporary folder that is removed) →
    connections → check → sync. Returns one row per connection.

    ``rate``: client-side requests/s of the syncs (see :data:`DEMO_RATE`); with ``rate=None`` the
    providers' own defaults apply and the sandbox enforces Bynder's 15 requests/s.
    """
    from .sandbox import Sandbox

    temp: str | None = None
    if home is None:
        temp = tempfile.mkdtemp(prefix="damkit-demo-")
        root = Path(temp)
    else:
        root = demo_root(home)
        shutil.rmtree(root, ignore_errors=True)  # a fresh demo every time
    config: dict[str, Any] = {"assets": assets}
    if rate is not None:
        config["rate_limit"] = None
    if providers:
        config["providers"] = providers
    sandbox = Sandbox(**config)
    await asyncio.to_thread(sandbox.start)
    try:
        with demo_workspace(root) as ws:
            names = add_sandbox_connections(ws, sandbox.manifest())
            await login_sandbox_connections(ws, names)
            rows = await asyncio.gather(*(demo_connection(ws, n, progress=progress, rate=rate)
                                          for n in names))
            return list(rows)
    finally:
        await asyncio.to_thread(sandbox.stop)
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


__all__ = [
    "DEMO_ASSETS",
    "DEMO_RATE",
    "DemoRow",
    "add_sandbox_connections",
    "demo_root",
    "demo_workspace",
    "fetch_manifest",
    "login_sandbox_connections",
    "run_demo",
]
