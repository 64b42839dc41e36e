"""Test Connection: each step with its status and time, the eligible count, and the hints."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, LoadingIndicator, Static

from damkit.errors import DamkitError
from damkit.providers import CheckReport
from damkit.redact import redact
from damkit.setup_flow import step_hint

from .common import damkit_app

MARKS = {"ok": "[green]✓ ok[/]", "failed": "[red]✗ failed[/]", "warning": "[yellow]! warn[/]",
         "skipped": "[dim]- skip[/]"}

#: how the console runs a fix that is a damkit action (from this screen)
CONSOLE_ACTIONS = {"auth": "press o to log in (then the test runs again)"}


def better_lines(report: CheckReport) -> list[str]:
    """A better spelling of the tag, shown first (right under the verdict): the setting to
    change, one key away, then retagging in the DAM as the second option."""
    fix = report.better_spelling
    if fix is None:
        return []
    return [f"[yellow b]{escape(fix.message)}.[/]",
            f"  [b]u[/]: {escape(fix.action)}, then test again",
            "  or: retag those files in the DAM"]


def hint_lines(report: CheckReport) -> list[str]:
    """What is wrong and how to fix it, as markup lines: the steps' hints, the near misses
    with their exact spelling (quoted, so stray spaces show), then the warnings."""
    lines = []
    for step in report.steps:
        if step.status in ("failed", "warning"):
            lines.append(f"[b]{escape(step.name)}[/]: {escape(step.detail)}")
            hint = step_hint(step, report.provider, CONSOLE_ACTIONS)
            if hint:
                lines.append(f"  [cyan]→ {escape(hint)}[/]")
    for miss in report.near_misses:
        lines.append(f"[yellow]near miss:[/] {miss.count} file(s) carry "
                     f"{escape(repr(miss.spelling))}, not {escape(repr(report.tag))}")
    for warning in report.warnings:
        lines.append(f"[yellow]warning:[/] {escape(warning)}")
    return lines


def steps_table(report: CheckReport, *, timings: bool) -> Table:
    """The check's steps; the detail column wraps (80 columns are enough to read it all)."""
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
    table.add_column("step", no_wrap=True, style="bold")
    table.add_column("status", no_wrap=True)
    if timings:
        table.add_column("time", no_wrap=True, justify="right")
    table.add_column("detail", ratio=1, overflow="fold")
    for step in report.steps:
        cells = [Text(step.name), Text.from_markup(MARKS.get(step.status, step.status))]
        if timings:
            cells.append(Text(f"{step.seconds:.1f}s"))
        cells.append(Text(step.detail))
        table.add_row(*cells)
    return table


class CheckScreen(Screen[None]):
    """Runs the check in a worker; the screen keeps answering meanwhile."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="check.back"),
        Binding("r", "run", "Run again", id="check.run"),
        Binding("s", "sync", "Sync", id="check.sync"),
        Binding("e", "edit", "Edit settings", id="check.edit"),
        Binding("u", "use_spelling", "Use spelling", id="check.use-spelling"),
        Binding("o", "login", "Log in", id="check.login"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.connection = name
        self.report: CheckReport | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Test Connection: {self.connection}", classes="title")
        yield LoadingIndicator(id="loading")
        with VerticalScroll(id="result"):
            yield Static("", id="verdict", classes="verdict")
            yield Static("", id="better", classes="hints")
            yield Static("", id="steps")
            yield Static("", id="hints", classes="hints")
        yield Footer()

    def on_mount(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        self.query_one("#loading").display = True
        self.query_one("#verdict", Static).update("Checking…")
        self.query_one("#hints", Static).update("")
        self.query_one("#better", Static).update("")
        self.query_one("#steps", Static).update("")
        self.check()

    def check(self) -> None:
        """Test Connection as an async worker of the app (the core is async): going back does
        not abandon it half way (its outcome is still recorded on the connection); only its
        display is dropped. Running it again replaces the one under way."""
        self.app.run_worker(self._check(), group=f"check:{self.connection}", exclusive=True,
                            exit_on_error=False)

    async def _check(self) -> None:
        try:
            report = await damkit_app(self).workspace.check(self.connection)
        except DamkitError as exc:
            self._later(self._failed, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bug in a check must not close the console
            self._later(self._failed,
                        DamkitError(redact(f"unexpected {type(exc).__name__}: {exc}")))
            return
        self._later(self._show, report)

    def _later(self, show: Any, value: Any) -> None:
        if self in self.app.screen_stack:  # the user may have gone back meanwhile
            show(value)

    def _failed(self, exc: DamkitError) -> None:
        self.query_one("#loading").display = False
        hint = f"\n[cyan]→ {escape(exc.hint)}[/]" if exc.hint else ""
        self.query_one("#verdict", Static).update(
            f"[red b]Cannot check[/]: {escape(exc.message)}{hint}")
        self.query_one("#result").focus()

    def _show(self, report: CheckReport) -> None:
        self.report = report
        self.refresh_bindings()
        self.query_one("#loading").display = False
        self.query_one("#steps", Static).update(steps_table(report, timings=damkit_app(self).timings))
        eligible = "?" if report.eligible is None else str(report.eligible)
        if report.ok:
            verdict = (f"[green b]Connection OK[/]: [b]{eligible}[/] file(s) eligible "
                       f"(tag {escape(repr(report.tag))}). Press [b]s[/] to sync.")
        else:
            verdict = (f"[red b]Connection failed[/]: {eligible} file(s) eligible "
                       f"(tag {escape(repr(report.tag))}). Fix it, then [b]r[/] to run again.")
        self.query_one("#verdict", Static).update(verdict)
        self.query_one("#better", Static).update("\n".join(better_lines(report)))
        self.query_one("#better").display = report.better_spelling is not None
        self.query_one("#hints", Static).update("\n".join(hint_lines(report)))
        self.query_one("#result").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "use_spelling":  # offered only when the check found a better spelling
            return self.report is not None and self.report.better_spelling is not None
        if action == "login":  # only for a DAM with a browser login
            return self._browser_login
        return True

    @property
    def _browser_login(self) -> bool:
        try:
            return damkit_app(self).workspace.spec(self.connection).capabilities.browser_login
        except DamkitError:
            return False

    def action_login(self) -> None:
        from .login import LoginScreen

        self.app.switch_screen(LoginScreen(self.connection, then_check=True))

    def action_use_spelling(self) -> None:
        """Set the tag field to the spelling the files carry, then test again."""
        fix = self.report.better_spelling if self.report is not None else None
        if fix is None or fix.field is None or fix.value is None:
            return
        self.app.run_worker(self._use(fix.field, fix.value), group="use-spelling",
                            exclusive=True, exit_on_error=False)

    async def _use(self, field: str, value: str) -> None:
        import asyncio

        ws = damkit_app(self).workspace
        try:
            await asyncio.to_thread(ws.edit_connection, self.connection, {field: value})
        except DamkitError as exc:
            self.notify(exc.message, severity="error", title="Not changed")
            return
        self.notify(f"{field} set to {value!r}. Testing again.", title="Setting changed")
        if self in self.app.screen_stack:
            self.action_run()

    def action_sync(self) -> None:
        from .sync import open_sync

        open_sync(self.app, self.connection, switch=True)

    def action_edit(self) -> None:
        from .edit import ConnectionFormScreen

        provider = (self.report.provider if self.report is not None
                    else str(damkit_app(self).workspace.connection(self.connection)["provider"]))
        self.app.switch_screen(ConnectionFormScreen(provider, existing=self.connection))
