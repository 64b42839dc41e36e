"""Sandbox glue for the example notebooks: a workspace wired to a sandbox, a staged audit."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:

    from ..sandbox import Sandbox
    from ..workspace import Workspace



# --- sandbox glue -------------------------------------------------------------------------------


async def sandbox_workspace(sb: Sandbox, root: str | Path | None = None) -> Workspace:
    """A fresh workspace with one connection per sandbox provider (Canto logged in).

    Sandbox only: its throwaway keys are kept in the workspace's plaintext secret file.
    ``root`` defaults to a new temporary folder.
    """
    from ..demo import (
        add_sandbox_connections,
        demo_workspace,
        login_sandbox_connections,
    )

    base = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="damkit-notebook-"))
    ws = demo_workspace(base / "workspace")
    names = await asyncio.to_thread(add_sandbox_connections, ws, sb.manifest())
    await login_sandbox_connections(ws, names)
    return ws




async def sandbox_audit_demo(sb: Sandbox, ws: Workspace, provider: str | None = None, *,
                             rate: float = 100.0) -> dict[str, str]:
    """Sandbox only: sync every connection, then change a few files of ``provider`` upstream so
    that each audit status shows: one download refused (failed), one new version (stale), one
    untagged (gone), one newly tagged (missing). Returns ``{status: asset name}``.

    ``provider`` defaults to the last of the workspace's providers in name order."""
    import re

    from ..sync import sync_connection

    provider = provider or sorted(c["provider"] for c in ws.connections())[-1]

    for name in [c["name"] for c in ws.connections()]:
        await sync_connection(ws, name, rate=rate)
    conn = next(c["name"] for c in ws.connections() if c["provider"] == provider)
    tag = str(ws.load_settings(conn, require_secrets=False).import_tag)
    broken = await asyncio.to_thread(sb.control, "POST", f"{provider}/assets",
                                     json={"name": "broken download.png", "tags": [tag]})
    await asyncio.to_thread(sb.set_faults, provider, fault_rate=1.0, fault_statuses=[400],
                            match=f"{re.escape(broken['key'])}/download")
    try:
        await sync_connection(ws, conn, rate=rate)
    finally:
        await asyncio.to_thread(sb.set_faults, provider)
    listed = await asyncio.to_thread(sb.control, "GET", f"{provider}/assets",
                                     params={"tag": tag, "state": "live", "limit": 3})
    stale, gone = listed["assets"][0], listed["assets"][1]
    await asyncio.to_thread(sb.control, "POST", f"{provider}/assets/{stale['key']}/modify",
                            json={"size": 4321})
    await asyncio.to_thread(sb.control, "POST", f"{provider}/assets/{gone['key']}/untag",
                            json={"tag": tag})
    new = await asyncio.to_thread(sb.control, "POST", f"{provider}/assets",
                                  json={"name": "new poster.png", "tags": [tag]})
    return {"failed": broken["name"], "stale": stale["name"], "gone": gone["name"],
            "missing": new["name"]}

