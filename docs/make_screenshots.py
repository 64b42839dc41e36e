"""Make the README's TUI pictures: docs/img/tui-onboarding.svg and docs/img/tui-sync.svg.

    .venv/bin/python docs/make_screenshots.py

Starts a sandbox (fixed seed), opens the console on a fresh temporary workspace at 80x24 and
drives it by keys like a user: add a Bynder connection following its guide (the keys pasted,
masked on screen), then sync a ready sandbox connection (caught half-way: plan, progress bar,
counts, bytes and rate).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from textual import events
from textual.widgets import Input

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from damkit.demo import add_sandbox_connections, demo_workspace  # noqa: E402
from damkit.sandbox import Sandbox  # noqa: E402
from damkit_tui.app import DamkitApp  # noqa: E402
from damkit_tui.screens.edit import ConnectionFormScreen  # noqa: E402
from damkit_tui.screens.sync import SyncScreen  # noqa: E402

OUT = ROOT / "docs" / "img"
SIZE = (80, 24)


async def until(pilot: Any, condition: Any, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the console did not get there")
        await pilot.pause(0.05)


async def tab_to(pilot: Any, widget_id: str) -> None:
    for _ in range(60):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise LookupError(widget_id)


async def paste(pilot: Any, text: str) -> None:
    pilot.app.focused.post_message(events.Paste(text))
    await pilot.pause()


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with Sandbox(assets=200, seed=7, providers=("bynder", "percolate"), latency_ms=40) as sb, \
            tempfile.TemporaryDirectory(prefix="damkit-shots-") as tmp:
        manifest = sb.manifest()
        fields = manifest["providers"]["bynder"]
        with demo_workspace(Path(tmp) / "ws") as ws:
            add_sandbox_connections(ws, {"providers": {"percolate":
                                                       manifest["providers"]["percolate"]}})
            app = DamkitApp(ws, sync_rate=200)
            app.animation_level = "none"
            async with app.run_test(size=SIZE) as pilot:
                app.theme = "textual-dark"
                # onboarding: pick Bynder, name it, fill the guide's fields
                await pilot.press("a", "enter")
                await until(pilot, lambda: isinstance(app.screen, ConnectionFormScreen))
                await pilot.press(*"acme-bynder")
                for name in ("domain", "tag", "consumer_key", "consumer_secret", "token_key",
                             "token_secret"):
                    await tab_to(pilot, f"field-{name}")
                    await paste(pilot, str(fields[name]))
                await tab_to(pilot, "field-consumer_key")
                for field in app.screen.query(Input):
                    field.cursor_blink = False
                await pilot.pause(0.2)
                app.save_screenshot("tui-onboarding.svg", str(OUT))
                svg = (OUT / "tui-onboarding.svg").read_text(encoding="utf-8")
                for name in ("consumer_key", "consumer_secret", "token_key", "token_secret"):
                    if str(fields[name]) in svg:
                        raise RuntimeError(f"the {name} is visible in the screenshot")
                await pilot.press("escape")  # unsaved input: the console asks first
                await pilot.pause(0.2)
                if not isinstance(app.screen, ConnectionFormScreen) and \
                        type(app.screen).__name__ != "ConnectionsScreen":
                    await pilot.press("y")
                # sync: the ready connection, caught half-way (plan, bar, counts, rate)
                await until(pilot, lambda: "sandbox-percolate" in app.connection_names)
                await pilot.press("s")
                await until(pilot, lambda: isinstance(app.screen, SyncScreen)
                            and app.screen.mailbox.events > 60)
                await pilot.pause(0.25)
                app.save_screenshot("tui-sync.svg", str(OUT))
                await until(pilot, lambda: app.screen.report is not None)
    for name in ("tui-onboarding.svg", "tui-sync.svg"):
        print(OUT / name)


if __name__ == "__main__":
    asyncio.run(main())
