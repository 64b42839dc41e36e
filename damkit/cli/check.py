"""``damkit check`` (Test Connection) and ``damkit auth`` (a provider's browser login)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .common import JsonOption, app, cmd, err, finish, guarded, say, shown, workspace
from .paint import line, styled
from .record import RecordOption, recorded

if TYPE_CHECKING:
    from ..providers import CheckReport
    from ..workspace import Workspace


def render_report(report: CheckReport) -> None:
    from ..setup_flow import better_spelling_lines, step_hint

    for text in better_spelling_lines(report):
        line(styled(shown(text), "yellow"))
    marks = {"ok": styled("✓", "green"), "failed": styled("✗", "red"),
             "warning": styled("!", "yellow"), "skipped": styled("-", "dim")}
    for step in report.steps:  # details quote the DAM (tags, names): shown() makes them safe
        line(f" {marks.get(step.status, '?')} {shown(step.name)} "
             f"{styled(f'({step.seconds:.2f}s)', 'dim')} {shown(step.detail)}")
        hint = step_hint(step, report.provider) if step.status != "ok" else None
        if hint:
            line("     " + styled(f"→ {shown(hint)}", "cyan"))
    for warning in report.warnings:
        line(f"   {styled('warning:', 'yellow')} {shown(warning)}")
    if report.ok:
        line(f"{styled('Connection OK', 'green bold')}: {report.eligible} eligible file(s)")
    else:
        line(styled("Connection failed", "red bold"))


@app.command("check")
def check(name: str, as_json: bool = JsonOption,
          record: Path | None = RecordOption) -> None:
    """Test Connection: does it work, and how many files are eligible?"""
    from ..workspace import run_sync

    with guarded(as_json):
        ws = workspace()
        with recorded(ws, name, record):
            report = run_sync(ws.check(name))
    finish(report, as_json, render_report)


@app.command("auth")
def auth(
    name: str,
    no_browser: bool = typer.Option(False, "--no-browser",
                                    help="Print the login URL and read the pasted redirect URL"),
) -> None:
    """Log in (OAuth, e.g. Canto): in a local browser, or over SSH by pasting the redirect URL."""
    from ..workspace import run_sync

    with guarded():
        ws = workspace()
        title = ws.spec(name).title
        run_sync(login_flow(ws, name, open_browser=not no_browser,
                            read_line=lambda prompt: getpass.getpass(prompt), echo=err))
    say(f"logged in to {title}: {name}; next: {cmd()} check {name}")


async def login_flow(ws: Workspace, name: str, *, open_browser: bool,
                     read_line: Any, echo: Any, timeout: float = 300.0,
                     port: int | None = None) -> None:
    """``damkit auth NAME [--no-browser]``: the loopback way when a browser can be opened here,
    else (or with ``--no-browser``) the paste way. ``read_line(prompt)`` reads the pasted address
    (hidden: it holds a one-time code); ``echo(text)`` writes to the user."""
    import asyncio
    from urllib.parse import urlsplit

    from ..errors import AuthError
    from ..providers import LoopbackUnavailable

    title = ws.spec(name).title
    async with ws.login(name, port=port) as login:
        if open_browser and login.browser_available():
            def show(request: Any) -> None:
                echo(f"Opening {title} in your browser. If nothing opens, visit:\n  "
                     f"{request.authorize_url}\nSign in, choose what damkit may read (e.g. the "
                     "Main Library) and allow access.")

            try:
                await login.run_loopback(open_browser=True, timeout=timeout, on_url=show)
                return
            except LoopbackUnavailable as exc:
                echo(f"{exc.message}; falling back to pasting the address.")
        request = login.start()
        port_ = urlsplit(request.redirect_uri).port
        echo("Open this address in a browser (on any machine):\n  " + request.authorize_url + "\n"
             f"Sign in to {title}, choose what damkit may read (e.g. the Main Library) and allow "
             f"access. The browser is then sent to {request.redirect_uri}?code=... (a page that "
             "may not load: that is expected). Copy that whole address from the address bar.\n"
             f"(Or forward the port: ssh -L {port_}:127.0.0.1:{port_} and run without "
             "--no-browser on a desktop.)")
        for attempt in range(3):
            pasted = await asyncio.to_thread(read_line, "Paste the address (or the code): ")
            try:
                await login.complete(pasted)
                return
            except AuthError as exc:
                if attempt == 2 or not login.started:
                    raise
                echo(f"{exc.message}. Try again.")
