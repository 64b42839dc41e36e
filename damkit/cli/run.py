"""``damkit demo``, ``damkit sandbox``, ``damkit tui`` and ``damkit version``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..display import clean
from .common import JsonOption, app, cmd, guarded, out, print_table, say, shown, state
from .paint import human_size


@app.command("demo")
def demo(
    assets: int = typer.Option(300, "--assets", help="Assets per provider in the sandbox"),
    as_json: bool = JsonOption,
) -> None:
    """Start a sandbox, connect every emulated provider, check and sync them, print a summary."""
    from ..demo import run_demo
    from ..workspace import run_sync

    with guarded(as_json):
        rows = run_sync(run_demo(state.home, assets=assets))
    if as_json:
        out([r.model_dump(mode="json") for r in rows])
    else:
        print_table(["connection", "check", "eligible", "synced", "size", "seconds"],
                    [[r.connection, "ok" if r.check_ok else "failed", str(r.eligible),
                      str(r.synced), human_size(r.bytes), f"{r.seconds:.2f}"] for r in rows],
                    title="damkit demo", right=(2, 3, 4, 5))
        for r in rows:
            if not r.check_ok or r.error:
                say(f"{r.connection}: {clean(r.error or r.check_detail)}")
        if state.home is not None:
            import shlex

            from ..demo import demo_root

            root = demo_root(state.home).resolve()
            here = shlex.quote(str(root))
            say(f"files: {root / 'DAM Import'}")
            say(f"audit: {cmd()} --home {here} library audit --offline")
            say(f"look around: {cmd()} --home {here} connections list")
            say(f"console: {cmd()} tui --sandbox")
    ok = all(r.check_ok for r in rows)
    raise typer.Exit(0 if ok else 1)


@app.command("sandbox")
def sandbox(
    action: str | None = typer.Argument(None, metavar="[compare FILE]",
                                           help="compare FILE: replay a recorded HAR against "
                                           "a fresh sandbox and report the differences"),
    file: Path | None = typer.Argument(None, metavar="", show_default=False),
    as_json: bool = JsonOption,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int | None = typer.Option(None, "--port"),
    assets: int = typer.Option(300, "--assets"),
    seed: int = typer.Option(7, "--seed"),
    latency_ms: float = typer.Option(0.0, "--latency-ms"),
    fault_rate: float = typer.Option(0.0, "--fault-rate"),
    rate_limit: list[str] = typer.Option([], "--rate-limit", metavar="PROVIDER=R",
                                         help="A limit clients are not told, e.g. canto=20"),
    allow_remote: bool = typer.Option(False, "--allow-remote",
                                      help="Allow a non-loopback host (the manifest serves every "
                                      "sandbox secret to whoever asks)"),
    switch: list[str] = typer.Option([], "--switch", metavar="PROVIDER:NAME",
                                     help="Behave as a real server might where facts are unknown "
                                     "(docs/sandbox.md, Switches); repeatable; *:NAME for all"),
) -> None:
    """Serve every registered provider's emulator on one loopback port."""
    if action is not None:
        sandbox_compare(action, file, as_json, assets=assets, seed=seed)
        return
    from ..errors import SettingsError
    from ..sandbox import parse_rate_limits, serve, switch_config

    with guarded():
        try:
            faults = parse_rate_limits(rate_limit)
        except ValueError as exc:
            raise SettingsError(str(exc), field="rate_limit") from None
        try:
            serve(host=host, port=port, assets=assets, seed=seed, latency_ms=latency_ms,
                  fault_rate=fault_rate, allow_remote=allow_remote, faults=faults,
                  switches=switch_config(switch))
        except ValueError as exc:
            raise SettingsError(f"--host: {exc}", field="host") from None


def sandbox_compare(action: str, file: Path | None, as_json: bool, **sandbox: Any) -> None:
    """``damkit sandbox compare FILE [--assets N --seed S]``: replay against a fresh sandbox of
    that size and seed; exit 0 when it answers as recorded, 1 if not."""
    from ..errors import SettingsError

    with guarded(as_json):
        if action != "compare" or file is None:
            raise SettingsError(f"unknown sandbox action {action!r}: use damkit sandbox "
                                "compare FILE (or damkit sandbox with options to serve)")
        from ..compare import CompareError, compare

        try:
            result = compare(file, **sandbox)
        except CompareError as exc:
            raise SettingsError(str(exc), field="FILE") from None
    if as_json:
        out(result.model_dump())
    else:
        say(f"{result.provider}: {result.replayed} requests replayed over "
            f"{len(result.endpoints)} endpoints, {len(result.skipped)} skipped")
        for d in result.differences:
            where = f" {shown(d.key)}" if d.key else ""
            say(f"  {shown(d.endpoint)}: {shown(d.what)}{where}: recorded {shown(d.recorded)}, "
                f"sandbox {shown(d.sandbox)}")
        if result.same:
            say("no difference")
    raise typer.Exit(0 if result.same else 1)


@app.command("tui")
def tui(
    sandbox: bool = typer.Option(False, "--sandbox",
                                 help="Open on a workspace wired to a fresh sandbox"),
    assets: int = typer.Option(300, "--assets", help="Sandbox assets per provider"),
) -> None:
    """Open the keyboard-driven console (connections, guided setup, check, sync, library)."""
    from damkit_tui import run

    with guarded():
        run(state.home, sandbox=sandbox, assets=assets)


@app.command("version")
def version() -> None:
    """Print damkit's version."""
    from .. import __version__

    print(__version__)
