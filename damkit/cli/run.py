"""``damkit demo``, ``damkit sandbox``, ``damkit tui`` and ``damkit version``."""

from __future__ import annotations

from typing import Optional

import typer

from .common import JsonOption, app, console, guarded, out, state


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
        from rich.table import Table

        table = Table("connection", "check", "eligible", "synced", "bytes", "seconds",
                      title="damkit demo")
        for r in rows:
            table.add_row(r.connection, "ok" if r.check_ok else "failed", str(r.eligible),
                          str(r.synced), f"{r.bytes:,}", f"{r.seconds:.2f}")
        console().print(table)
        if state.home is not None:
            from ..demo import demo_root

            root = demo_root(state.home)
            console().print(f"files: {root / 'DAM Import'}\n"
                            f"index: damkit --home {root} library audit --offline\n"
                            "console: damkit tui --sandbox", highlight=False)
    ok = all(r.check_ok for r in rows)
    raise typer.Exit(0 if ok else 1)


@app.command("sandbox")
def sandbox(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: Optional[int] = typer.Option(None, "--port"),
    assets: int = typer.Option(300, "--assets"),
    seed: int = typer.Option(7, "--seed"),
    latency_ms: float = typer.Option(0.0, "--latency-ms"),
    fault_rate: float = typer.Option(0.0, "--fault-rate"),
    allow_remote: bool = typer.Option(False, "--allow-remote",
                                      help="Allow a non-loopback host (the manifest serves every "
                                      "sandbox secret to whoever asks)"),
) -> None:
    """Serve every registered provider's emulator on one loopback port."""
    from ..errors import SettingsError
    from ..sandbox import serve

    with guarded():
        try:
            serve(host=host, port=port, assets=assets, seed=seed, latency_ms=latency_ms,
                  fault_rate=fault_rate, allow_remote=allow_remote)
        except ValueError as exc:
            raise SettingsError(f"--host: {exc}", field="host") from None


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
