"""Pick a tag (keyword, term) from those the DAM has in use, with their file counts.

Near spellings of what was typed come first (the core ranks them), so the customer picks the
DAM's exact spelling instead of typing it. Dismisses with the chosen spelling (None: Escape).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import LoadingIndicator, OptionList, Static
from textual.widgets.option_list import Option

from damkit.errors import DamkitError
from damkit.providers import TagCount

from .common import damkit_app


class TagPickerScreen(ModalScreen[str | None]):
    """The DAM's tags with counts; Enter picks one, Escape keeps the field as it is."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="tags.cancel")]

    def __init__(self, name: str, *, noun: str, near: str | None,
                 draft: tuple[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.connection = name
        self.noun = noun
        self.near = near
        self.draft = draft
        self.found: list[TagCount] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog picker"):
            near = f", nearest to '{self.near}' first" if self.near else ""
            yield Static(f"The DAM's {self.noun}s{near}", classes="title", markup=False)
            yield LoadingIndicator(id="tags-loading")
            yield Static("", id="tags-message", markup=False)
            yield OptionList(id="tags")
            yield Static("File counts are exact spellings (case and spaces count). Enter picks "
                         "one, Escape cancels.", classes="help")

    def on_mount(self) -> None:
        self.query_one("#tags", OptionList).display = False
        self.app.run_worker(self._load(), group="tags", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        ws = damkit_app(self).workspace
        try:
            found = await ws.tags(self.connection, near=self.near, limit=500, draft=self.draft)
        except DamkitError as exc:
            if self.is_attached:
                self._show_error(exc)
            return
        if self.is_attached:
            self._show(found)

    def _show_error(self, exc: DamkitError) -> None:
        self.query_one("#tags-loading").display = False
        hint = f"\n→ {exc.hint}" if exc.hint else ""
        self.query_one("#tags-message", Static).update(
            f"The {self.noun}s could not be read: {exc.message}{hint}")

    def _show(self, found: list[TagCount]) -> None:
        self.found = found
        self.query_one("#tags-loading").display = False
        options = self.query_one("#tags", OptionList)
        if not found:
            self.query_one("#tags-message", Static).update(f"No {self.noun} is in use in the DAM.")
            return
        width = max(len(str(t.count)) for t in found)
        options.add_options([Option(Text(f"{t.count:>{width}} file(s)  {t.tag!r}"), id=str(i))
                             for i, t in enumerate(found)])
        options.display = True
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.found[int(str(event.option.id))].tag)

    def action_cancel(self) -> None:
        self.dismiss(None)
