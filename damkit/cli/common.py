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
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from .paint import cell_len, line, styled

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
#: What to do when the disk refused a write.
DISK_HINT = ("free some space on that disk (or set DAMKIT_HOME to a folder on a larger one), then "
             "run the command again; what was written before is kept whole")


def group(help: str) -> typer.Typer:
    """A command group (``damkit connections ...``)."""
    return typer.Typer(help=help, no_args_is_help=True)


# --- plumbing ---------------------------------------------------------------------------------


class State:
    home: Path | None = None


state = State()


@app.callback()
def main_callback(home: Path | None = HomeOption) -> None:
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


def cmd() -> str:
    """How to run damkit again, as the user did: ``damkit`` when that is what the shell finds,
    else the path of the running executable (``.venv/bin/damkit`` under the current folder, an
    absolute path elsewhere), else ``python -m damkit``."""
    import os
    import shutil

    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name not in ("damkit", "damkit.exe"):
        return f"{sys.executable} -m damkit"
    running = os.path.abspath(argv0)
    found = shutil.which("damkit")
    if found and os.path.abspath(found) == running:
        return "damkit"
    try:
        rel = os.path.relpath(running)
    except ValueError:  # another drive (Windows)
        return running
    return rel if not rel.startswith("..") else running


def shown(value: Any, *, limit: int | None = None) -> str:
    """A value from outside (a DAM's file name, a tag) as one safe line: control and invisible
    characters escaped (:func:`damkit.display.clean`)."""
    from ..display import clean

    return clean(value, limit=limit)


def say(text: str) -> None:
    """One line for people on standard output: never hard-wrapped, no markup, no highlighting
    (the text is already safe: :func:`damkit.display.clean` what came from outside)."""
    line(text)


def print_table(headers: list[str], rows: list[list[Any]], *, title: str | None = None,
                right: tuple[int, ...] = ()) -> None:
    """A plain aligned table: every cell whole (never cut to the terminal's width, so a name can
    be copied as it is), every cell made safe with :func:`damkit.display.clean`; columns in
    ``right`` align right (numbers)."""
    from ..display import clean

    cells = [[clean(c) for c in row] for row in rows]
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def joined(values: list[str]) -> str:
        parts = []
        for i, v in enumerate(values):
            pad = " " * (widths[i] - cell_len(v))
            parts.append(pad + v if i in right else v + pad)
        return "  ".join(parts).rstrip()

    if title:
        line(styled(title, "bold"))
    line(styled(joined(headers), "bold"))
    for row in cells:
        line(joined(row))




def refuse_secret_sets(model: Any, values: dict[str, str], connection: str) -> None:
    """A secret given with ``--set`` would sit in argv, ``ps`` and the shell history: refuse it,
    naming the flag that reads it hidden (nothing is saved)."""
    from ..errors import SettingsError
    from ..workspace import env_name as env_var_name

    for key in values:
        field = model.resolve_field_name(key)
        if field in model.secret_fields():
            label = model.field_spec(field).label
            raise SettingsError(
                f"--set {key}: '{label}' is a secret, and a value on the command line shows in "
                "`ps` and the shell history; nothing was saved",
                field=field,
                hint=f"use --secret {field} (read hidden on a terminal, else one line of standard "
                f"input), or set {env_var_name(connection, field)} in the environment")


def guarded(as_json: bool = False) -> Any:
    """Context manager turning DamkitError into a clean message and its exit code."""
    from contextlib import contextmanager

    from ..errors import DamkitError, local_storage_error

    @contextmanager
    def _guard() -> Any:
        try:
            yield
        except DamkitError as exc:
            fail(exc, as_json=as_json)
        except OSError as exc:  # the disk refused (full, read-only): a message, not a traceback
            disk = local_storage_error(exc, exc.filename or state.home or "the workspace")
            if disk is None:
                raise
            disk.hint = DISK_HINT
            fail(disk, as_json=as_json)

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

