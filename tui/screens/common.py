"""Small pieces shared by the screens."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.dom import DOMNode
from textual.widgets import Button, Static

if TYPE_CHECKING:
    from damkit.workspace import Workspace


class ConsoleApp(Protocol):
    """What the screens use of the console app (``damkit_tui.app.DamkitApp``)."""

    workspace: Workspace
    sandbox: Any
    sync_rate: float | None
    timings: bool
    connection_names: list[str]


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

    try:
        screen.app.call_from_thread(run)
    except RuntimeError:  # the app has closed
        pass




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
