"""Small pieces shared by the screens."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Static

if TYPE_CHECKING:
    from damkit.workspace import Workspace


class ConsoleApp(App[None]):
    """What the screens know of the console app: its workspace and options. The app
    (``damkit_tui.app.DamkitApp``) derives from it, so that screens never import the app."""

    workspace: Workspace
    sandbox: Any = None  # a running damkit.sandbox.Sandbox with --sandbox
    sync_rate: float | None = None  # requests/s for syncs; None keeps each provider's rate
    timings: bool = True  # show durations and rates (off: stable screenshots)
    connection_names: list[str]  # refreshed by the Connections screen

    def follow(self, name: str) -> None:
        """Put the Connections cursor on ``name`` (just added or edited), so the list's actions
        act on it."""
        from .connections import ConnectionsScreen

        for screen in self.screen_stack:
            if isinstance(screen, ConnectionsScreen):
                screen.select(name)


def damkit_app(node: DOMNode) -> ConsoleApp:
    """The running console app, typed (Textual types ``node.app`` as a plain ``App``)."""
    return cast(ConsoleApp, node.app)

def deliver(screen: Screen[Any], callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """From a worker thread: run ``callback(*args)`` on the UI, if ``screen`` is still open.

    A check or a sync may end after the user went back (Escape): its result is then dropped
    instead of touching widgets that no longer exist.
    """
    def run() -> None:
        if screen in screen.app.screen_stack:
            callback(*args, **kwargs)

    with contextlib.suppress(RuntimeError):  # the app has closed
        screen.app.call_from_thread(run)




#: What a copy says: the terminal's clipboard is reached by an escape sequence (OSC 52) whose
#: arrival nobody can confirm, so the message says what was sent and what to do if it did not land.
COPY_NOTE = ("If pasting gives nothing, your terminal does not accept it (tmux: "
             "set -g set-clipboard on): press F3 to show it on a plain line and select it.")


def copy_honestly(screen: Screen[Any], text: str, what: str) -> None:
    """Send ``text`` to the terminal's clipboard (OSC 52) and say honestly what happened."""
    screen.app.copy_to_clipboard(text)
    screen.notify(f"{what} sent to your terminal's clipboard (OSC 52). {COPY_NOTE}",
                  title="Copy", timeout=8)


def show_plain(screen: Screen[Any], text: str, what: str) -> bool:
    """Show ``text`` whole on the terminal itself (the console steps aside), as one unbroken
    line the terminal's own selection copies exactly; Enter comes back. False when the console
    cannot step aside here (then the text stays on screen, and copy is the way)."""
    from textual.app import SuspendNotSupported

    try:
        with screen.app.suspend():
            print(f"\n{what} (select it with the mouse, copy, then press Enter):\n\n{text}\n")
            input()
    except (SuspendNotSupported, EOFError, OSError):
        screen.notify("This terminal cannot show it outside the console: use ctrl+y to copy.",
                      severity="warning")
        return False
    return True


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("y", "yes", "Yes")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (esc)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
