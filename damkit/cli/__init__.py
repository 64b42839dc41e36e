"""The ``damkit`` command line: scripts, quick checks over SSH, and the demo.

One module per command group; each imports its heavy modules inside its commands, so
``damkit --help`` starts fast. Exit codes: 0 success, 1 the operation or check failed, 2 bad
usage or bad settings. Every command whose output is data takes ``--json``.
"""

from __future__ import annotations

import sys

from . import check, config, connections, events, library, providers, run, sync, tags  # noqa: F401
from .check import login_flow, render_report
from .common import app, err

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


__all__ = ["app", "check", "config", "connections", "events", "library", "login_flow", "main",
           "providers", "render_report", "run", "sync"]
