"""Browser login (providers whose capabilities declare ``browser_login``, e.g. Canto): the
authorize URL (copyable), the loopback way where a browser exists, else the pasted redirect URL
(over SSH the browser runs on another machine).

One async worker runs the whole login on the app's event loop: it shows the URL, then waits for
whichever comes first, the loopback redirect (desktop) or a pasted address (any time).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Static

from damkit.errors import DamkitError
from damkit.redact import redact

from .common import copy_honestly, damkit_app, show_plain

if TYPE_CHECKING:
    from damkit.providers import LoginRequest


class LoginScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="canto.back"),
        Binding("ctrl+y", "copy_url", "Copy URL", id="canto.copy"),
        Binding("f3", "plain_url", "URL on a plain line", id="canto.plain"),
        Binding("ctrl+o", "browser", "Open browser", id="canto.browser"),
        Binding("ctrl+n", "restart", "New link", id="canto.restart"),
    ]

    def __init__(self, name: str, *, then_check: bool = False,
                 loopback: bool | None = None) -> None:
        super().__init__()
        self.connection = name
        self.then_check = then_check
        self.loopback = loopback  # None: where a browser exists (damkit's browser_available)
        self.url = ""
        self.ready = False  # the login address is shown: a pasted answer can be taken
        self._pasted: asyncio.Queue[str | None] = asyncio.Queue()
        self.logged_in = False
        self.browser = False
        self.title_text = "the DAM"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Browser login: {self.connection}", classes="title")
        with VerticalScroll(id="login"):
            yield Static(
                "1. Open this address in a browser (ctrl+y copies it; F3 shows it on one plain "
                "line to select), sign in to the DAM, select the part that holds the files (i.e. "
                "Main Library) and click [b]Allow[/].",
                classes="step-text")
            yield Static("Preparing the login…", id="url", classes="url")
            yield Static("", id="redirect", classes="help")
            yield Static(
                "2. Paste here the address the browser was sent to (it starts with "
                "http://127.0.0.1 and carries code= and state=), then Enter:", classes="step-text")
            yield Input(placeholder="paste the redirect URL (or the code)", id="pasted")
            yield Static("The part of the DAM you selected (recorded with the login, shown on "
                         "the connection):", classes="step-text")
            yield Input(value="Main Library", id="library", select_on_focus=False)
            yield Button("Complete login", id="complete", variant="primary")
            yield Static("", id="status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#pasted", Input).focus()
        self.login()

    def on_unmount(self) -> None:
        self._send(None)  # ends the worker's wait

    # --- the worker ---------------------------------------------------------------------------

    @work(exclusive=True, group="login", exit_on_error=False)
    async def login(self) -> None:
        try:
            await self._flow()
        except DamkitError as exc:
            self._status(f"[red]{escape(exc.message)}[/]"
                         + (f"\n[cyan]→ {escape(exc.hint)}[/]" if exc.hint else ""))
        except Exception as exc:  # noqa: BLE001 - shown, never a crash with a token on screen
            self._status(f"[red]{escape(redact(str(exc)))}[/]")

    async def _flow(self) -> None:
        ws = damkit_app(self).workspace
        self.title_text = ws.spec(self.connection).title
        async with ws.login(self.connection) as login:
            self.browser = login.browser_available()
            use_loopback = self.browser if self.loopback is None else self.loopback
            loopback: asyncio.Task[bool] | None = None
            if use_loopback:  # on the Redirect URL registered on the key (127.0.0.1:8976)
                loopback = asyncio.create_task(login.run_loopback(
                    open_browser=True, on_url=self._show_url))
            else:
                self._show_url(login.start())
            try:
                while True:
                    getter = asyncio.create_task(self._pasted.get())
                    waiting: set[asyncio.Task[Any]] = {getter} | ({loopback} if loopback else set())
                    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    if loopback is not None and loopback in done:
                        failed = loopback.exception()
                        if failed is None:
                            getter.cancel()
                            break
                        # e.g. the port is taken: fall back to the paste way
                        loopback = None
                        getter.cancel()
                        self._show_url(login.start())
                        self._status(f"[yellow]{escape(redact(str(failed)))}[/]"
                                     "\nPaste the address instead.")
                        continue
                    pasted = getter.result()
                    if pasted is None:
                        return  # the screen closed
                    if pasted == "":  # a new link was asked for
                        self._show_url(login.start())
                        continue
                    try:
                        await login.complete(pasted)
                        break
                    except DamkitError as exc:
                        self._status(f"[red]{escape(exc.message)}[/]\n[cyan]→ "
                                     f"{escape(exc.hint or 'try again')} (ctrl+n: a new link)[/]")
            finally:
                if loopback is not None and not loopback.done():
                    loopback.cancel()
                    await asyncio.gather(loopback, return_exceptions=True)
        self._done()

    def dirty(self) -> bool:
        """A pasted address not submitted yet (q then asks before quitting)."""
        return bool(self.query_one("#pasted", Input).value.strip())

    def _send(self, value: str | None) -> None:
        self._pasted.put_nowait(value)

    # --- UI -------------------------------------------------------------------------------------

    def _show_url(self, request: LoginRequest) -> None:
        self.ready = True
        self.url = request.authorize_url
        self.query_one("#url", Static).update(escape(request.authorize_url))
        self.query_one("#redirect", Static).update(
            f"[dim]Redirect URL registered on the API key:[/] {escape(request.redirect_uri)}")
        self._status("")

    def _status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    def action_copy_url(self) -> None:
        if self.url:
            copy_honestly(self, self.url, "The login address was")

    def action_plain_url(self) -> None:
        if self.url:
            show_plain(self, self.url, "The login address")

    def action_browser(self) -> None:
        import webbrowser

        if self.url and self.browser and webbrowser.open(self.url):
            self.notify("Opened in the browser; paste the redirect URL when the DAM sends you back.")
        else:
            self.notify("No browser here: copy the address (ctrl+y) to a browser elsewhere.",
                        severity="warning")

    def action_restart(self) -> None:
        self._send("")

    @on(Input.Submitted, "#pasted")
    @on(Button.Pressed, "#complete")
    def _complete(self) -> None:
        field = self.query_one("#pasted", Input)
        pasted = field.value.strip()
        if not pasted:
            self._status("Paste the address the browser was sent to.")
            return
        if not self.ready:
            self._status("The login is not ready yet: wait for the address above.")
            return
        field.value = ""  # the code is single use; do not leave it on screen
        self._status("Logging in…")
        self._send(pasted)

    def _done(self) -> None:
        self.logged_in = True
        library = self.query_one("#library", Input).value
        damkit_app(self).workspace.record_login(self.connection, library=library)
        self.notify(f"Logged in to {self.title_text}.", title=self.title_text)
        if self.then_check:
            from .check import CheckScreen

            self.app.switch_screen(CheckScreen(self.connection))
        else:
            self.app.pop_screen()
