"""The ``damkit`` command line: scripts, quick checks over SSH, and the demo.

One module per command group; each imports its heavy modules inside its commands, so
``damkit --help`` starts fast. Exit codes: 0 success, 1 the operation or check failed, 2 bad
usage or bad settings. Every command whose output is data takes ``--json``.
"""

from __future__ import annotations

import gc
import os
import sys

# A command starts by creating some 400,000 objects (typer, httpx, pydantic's schemas), which
# CPython's default threshold (700) meets with about 130 collections, one of them full: a tenth
# of `damkit check`. The command line collects every 50,000 new objects instead; a long sync
# still collects, with a few megabytes of garbage at most waiting.
gc.set_threshold(50_000, 10, 10)
# `import httpx` also loads httpx's own command line (click, rich's syntax highlighting,
# pygments) whenever click and rich are installed; damkit never runs it. A None entry makes that
# import fail, which httpx expects (it then defines a stub).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
# pydantic looks for plug-ins (a scan of every installed package's entry points, a tenth of
# `damkit check`) when it builds the first model; the command line uses none. Set
# PYDANTIC_DISABLE_PLUGINS to a name list (or "none") to load plug-ins anyway.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from . import check, config, connections, events, library, providers, run, sync, tags, worker  # noqa: E402,F401
from .check import login_flow, render_report  # noqa: E402
from .common import DISK_HINT, app, err  # noqa: E402

app.add_typer(connections.app, name="connections")
app.add_typer(providers.app, name="providers")
app.add_typer(library.app, name="library")
app.add_typer(config.config_app, name="config")
app.add_typer(events.app, name="events")


def main() -> None:
    from ..redact import install_log_redaction

    install_log_redaction()
    try:
        app()
    except KeyboardInterrupt:
        err("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001  (the last line of defence: one message, never a traceback)
        sys.exit(report_unexpected(exc))
    finally:
        # The command is done: the interpreter's exit then skips the objects of the start in
        # its final garbage collections (a sweep of some 500,000 objects, a fifth of a check).
        gc.freeze()


def report_unexpected(exc: BaseException) -> int:
    """An error no command turned into a message: say its cause and a fix in one message (the
    traceback only with ``DAMKIT_DEBUG=1``); the exit code (1, or the typed error's own)."""
    from ..errors import DamkitError, local_storage_error

    if os.environ.get("DAMKIT_DEBUG"):
        import traceback

        err("".join(traceback.format_exception(exc)))
    if isinstance(exc, OSError) and not isinstance(exc, DamkitError):
        disk = local_storage_error(exc)
        if disk is not None:
            err(f"error: {disk.message}")
            err(f"  hint: {DISK_HINT}")
            return 1
        err(f"error: {exc.strerror or exc} ({exc.filename or 'the operating system'})")
        err("  hint: check the path and its permissions, then run the command again")
        return 1
    if isinstance(exc, DamkitError):
        err(f"error: {exc.message}")
        if exc.hint:
            err(f"  hint: {exc.hint}")
        return exc.exit_code
    err(f"error: unexpected {type(exc).__name__}: {exc}")
    err("  hint: this is a bug in damkit; run it again with DAMKIT_DEBUG=1 and attach the "
        "output (secrets are redacted) to a bug report")
    return 1


__all__ = ["app", "check", "config", "connections", "events", "library", "login_flow", "main",
           "providers", "render_report", "run", "sync", "worker"]
