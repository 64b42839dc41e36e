"""Plumbing every command shares: the Typer app, the workspace, output, errors and input.

Exit codes: 0 success, 1 the operation or check failed, 2 bad usage or bad settings.
Every command whose output is data takes ``--json``. Heavy modules are imported inside the
commands that need them, so ``damkit --help`` starts fast.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import typer

if TYPE_CHECKING:
    from ..workspace import Workspace

app = typer.Typer(
    name="damkit",
    help="Connect a DAM to your asset library: settings, Test Connection, and sync of every "
    "file carrying the tag into \"DAM Import\". `damkit providers list` shows the DAMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a traceback must never print locals (secrets)
)

HomeOption = typer.Option(None, "--home", envvar="DAMKIT_HOME",
                          help="Workspace folder (default: $DAMKIT_HOME, else the user data dir).")
JsonOption = typer.Option(False, "--json", help="Print JSON (for scripts).")


def group(help: str) -> typer.Typer:
    """A command group (``damkit connections ...``)."""
    return typer.Typer(help=help, no_args_is_help=True)


# --- plumbing ---------------------------------------------------------------------------------


class State:
    home: Optional[Path] = None


state = State()


@app.callback()
def main_callback(home: Optional[Path] = HomeOption) -> None:
    state.home = home


def workspace() -> Workspace:
    from ..workspace import open_workspace

    return open_workspace(state.home, interactive=True)


def out(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def err(text: str) -> None:
    from ..redact import redact

    sys.stderr.write(redact(text) + "\n")


def fail(exc: BaseException, *, as_json: bool = False) -> NoReturn:
    from ..errors import DamkitError

    if isinstance(exc, DamkitError):
        if as_json:
            out({"ok": False, "error": exc.message, "hint": exc.hint,
                 "field": getattr(exc, "field", None)})
        else:
            err(f"error: {exc.message}")
            if exc.hint:
                err(f"  hint: {exc.hint}")
        raise typer.Exit(exc.exit_code)
    raise exc


def finish(report: Any, as_json: bool, render: Any) -> NoReturn:
    """Print a check or sync report (JSON or for people); exit 0 when it is ok, else 1."""
    if as_json:
        out(report.model_dump(mode="json"))
    else:
        render(report)
    raise typer.Exit(0 if report.ok else 1)


def console() -> Any:
    from rich.console import Console

    return Console()


def guarded(as_json: bool = False) -> Any:
    """Context manager turning DamkitError into a clean message and its exit code."""
    from contextlib import contextmanager

    from ..errors import DamkitError

    @contextmanager
    def _guard() -> Any:
        try:
            yield
        except DamkitError as exc:
            fail(exc, as_json=as_json)

    return _guard()


def parse_sets(pairs: list[str]) -> dict[str, str]:
    from ..errors import SettingsError

    values: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SettingsError(f"--set '{pair}': write FIELD=VALUE", field=pair)
        key, _, value = pair.partition("=")
        values[key.strip()] = value
    return values


def read_secrets(fields: list[str]) -> dict[str, str]:
    """Each ``--secret FIELD``: a hidden prompt on a terminal, else one line of standard input."""
    values: dict[str, str] = {}
    tty = sys.stdin.isatty()
    for field in fields:
        if tty:
            value = getpass.getpass(f"{field}: ")
        else:
            line = sys.stdin.readline()
            if not line:
                from ..errors import SettingsError

                raise SettingsError(f"--secret {field}: no line left on standard input",
                                    field=field, hint="give one line per --secret, in order")
            value = line.rstrip("\r\n")
        values[field] = value
    return values


def interactive() -> bool:
    """Standard input and output are a terminal: prompting is allowed (never in scripts)."""
    return sys.stdin.isatty() and sys.stdout.isatty()

