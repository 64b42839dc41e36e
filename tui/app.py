"""The damkit console app."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from damkit.redact import install_log_redaction, redact
from damkit.workspace import Workspace, open_workspace

from .screens.common import ConsoleApp
from .screens.connections import ConnectionsScreen


class DamkitApp(ConsoleApp):
    """Connections, guided setup, Test Connection, sync and the library, by keyboard alone."""

    CSS_PATH = Path(__file__).with_name("damkit.tcss")  # absolute: subclasses elsewhere work
    TITLE = "damkit"
    SUB_TITLE = "DAM → library"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        Binding("f1", "help", "Help", show=False),
    ]

    def __init__(self, workspace: Workspace, *, sandbox: Any = None,
                 sync_rate: float | None = None, timings: bool = True) -> None:
        super().__init__()
        self.workspace = workspace
        self.sandbox = sandbox  # a running damkit.sandbox.Sandbox with --sandbox
        self.sync_rate = sync_rate  # requests/s for syncs; None keeps each provider's polite rate
        self.timings = timings  # show durations and rates (off: stable screenshots)
        self.connection_names: list[str] = []  # refreshed by the Connections screen

    def on_mount(self) -> None:
        if self.sandbox is not None:
            self.sub_title = f"sandbox {self.sandbox.url}"
        self.push_screen(ConnectionsScreen())

    async def action_quit(self) -> None:
        """Quit; a running sync is cancelled first (finished files stay), then q quits."""
        from .screens.sync import running_syncs

        running = [s for s in running_syncs(self, self.connection_names) if not s.cancelling]
        if running:
            for screen in running:
                screen.action_cancel()
            self.notify("Cancelling the sync (finished files stay). Press q again to quit.",
                        severity="warning")
            return
        dirty = getattr(self.screen, "dirty", None)
        if callable(dirty) and dirty():  # a form with unsaved input: never lost by one key
            from .screens.common import ConfirmScreen

            def done(confirmed: bool | None) -> None:
                if confirmed:
                    self.exit()

            self.push_screen(ConfirmScreen("Quit damkit? This screen's unsaved input is lost."),
                             done)
            return
        self.exit()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_help(self) -> None:
        self.notify("Every action is in the footer; ctrl+p lists them all. Escape goes back.",
                    title="Keys")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Connections", "Back to the list of connections", self.to_connections)
        yield SystemCommand("Add a connection", "Pick a DAM and follow its setup guide",
                            lambda: self._on_connections("add"))
        yield SystemCommand("Library", "Browse the DAM Import folder",
                            lambda: self._on_connections("library"))
        for name in self.connection_names:
            for action, title, help_text in self._connection_commands(name):
                yield SystemCommand(f"{title}: {name}", help_text,
                                    self._for_connection(action, name))
        yield SystemCommand("Toggle theme", "Dark or light", self.action_toggle_theme)

    def _connection_commands(self, name: str) -> list[tuple[str, str, str]]:
        """The palette's actions for one connection: only those its provider's capabilities
        allow (no login for a DAM without a browser login, no events without notifications)."""
        from damkit.errors import DamkitError

        commands = [
            ("check", "Test Connection", "run the check and show each step"),
            ("sync", "Sync", "download what carries the tag into DAM Import"),
            ("edit", "Edit", "change the settings"),
            ("history", "Sync history", "past runs: counts, errors (h)"),
        ]
        try:
            spec = self.workspace.spec(name)
        except DamkitError:
            return commands
        caps = spec.capabilities
        if caps.browser_login:
            commands.append(("login", f"Log in to {spec.title}", "the browser login (o)"))
        if caps.change_notifications or caps.backlink:
            commands.append(("events", f"{spec.title} events & backlink",
                             "Event consumer URL, request text, workspace settings (v)"))
        return commands

    def to_connections(self) -> ConnectionsScreen:
        """Pop back to the Connections screen (the bottom of the stack)."""
        while len(self.screen_stack) > 2 and not isinstance(self.screen, ConnectionsScreen):
            self.pop_screen()
        screen = self.screen
        if not isinstance(screen, ConnectionsScreen):
            raise LookupError("the Connections screen is not open")
        return screen

    def _on_connections(self, action: str) -> None:
        getattr(self.to_connections(), f"action_{action}")()

    def _for_connection(self, action: str, name: str) -> Callable[[], None]:
        def run() -> None:
            screen = self.to_connections()
            screen.select(name)
            getattr(screen, f"action_{action}")()
        return run

    def _fatal_error(self) -> None:
        """Crash screen without local variables (they may hold secrets), redacted.

        Textual's own crash screen prints every frame's locals and offers no public hook to turn
        that off, so this one hook is overridden; the rest goes through the public ``panic``."""
        import rich
        from rich.text import Text
        from rich.traceback import Traceback

        self.bell()
        traceback = Traceback(show_locals=False, width=None, suppress=[rich])
        with self.console.capture() as capture:
            self.console.print(traceback)
        self.panic(Text.from_ansi(redact(capture.get())))



def run(home: Path | None = None, *, sandbox: bool = False, assets: int = 300) -> None:
    """Open the console on the workspace at ``home`` (default: ``$DAMKIT_HOME`` or the user data
    folder), or with ``sandbox`` on a fresh workspace wired to a new sandbox."""
    install_log_redaction()
    if not sandbox:
        with open_workspace(home, interactive=True) as ws:
            _ = ws.secrets  # resolve now: a passphrase prompt comes before the app takes the screen
            DamkitApp(ws).run()
        return
    with sandbox_workspace(home, assets=assets) as (ws, sb):
        DamkitApp(ws, sandbox=sb).run()


@contextmanager
def sandbox_workspace(home: Path | None, *, assets: int = 300) -> Iterator[tuple[Workspace, Any]]:
    """A running sandbox and a fresh workspace (``home/"tui-sandbox"`` or a temporary folder)
    wired to it, with the three connections added (the ones needing a browser login logged in,
    as the demo's are) but not yet checked or synced."""
    import asyncio
    import shutil
    import tempfile

    from damkit.demo import add_sandbox_connections, demo_workspace, login_sandbox_connections
    from damkit.sandbox import Sandbox

    root = Path(home) / "tui-sandbox" if home else Path(tempfile.mkdtemp(prefix="damkit-tui-"))
    shutil.rmtree(root, ignore_errors=True)
    with Sandbox(assets=assets) as sb, demo_workspace(root) as ws:
        names = add_sandbox_connections(ws, sb.manifest())
        for name in asyncio.run(login_sandbox_connections(ws, names)):
            ws.record_login(name, library="Main Library")  # what the sandbox's consent picks
        ws.set_config(library_url_template="https://library.example.com/assets/{id}",
                      public_url="https://dam.example.com")
        try:
            yield ws, sb
        finally:
            if home is None:
                shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui", description=DamkitApp.__doc__)
    parser.add_argument("--home", type=Path, default=None, help="workspace folder")
    parser.add_argument("--sandbox", action="store_true",
                        help="open on a workspace wired to a fresh sandbox")
    args = parser.parse_args(argv)
    run(args.home, sandbox=args.sandbox)
    return 0
