"""``damkit library ...``: read the library index, audit it, restore a backup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .common import JsonOption, console, group, guarded, out, state, workspace

app = group("Read the library index.")


@app.command("stats")
def library_stats(connection: Optional[str] = typer.Option(None, "--connection", "-c"),
                  as_json: bool = JsonOption) -> None:
    """Counts per status and bytes, per connection."""
    with guarded(as_json):
        stats = workspace().library_stats(connection)
    if as_json:
        out(stats)
    else:
        console().print_json(json.dumps(stats, default=str))


@app.command("ls")
def library_ls(
    connection: Optional[str] = typer.Option(None, "--connection", "-c"),
    status: Optional[str] = typer.Option(None, "--status"),
    tag: Optional[str] = typer.Option(None, "--tag"),
    name: Optional[str] = typer.Option(None, "--name", help="Name contains"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JsonOption,
) -> None:
    """List assets in the index."""
    with guarded(as_json):
        rows = workspace().assets(connection=connection, status=status, tag=tag,
                                  name_contains=name)
    if as_json:
        out(rows[:limit] if limit else rows)
        return
    from rich.table import Table

    table = Table("connection", "id", "name", "status", "size", "path")
    for r in rows[:limit]:
        table.add_row(r.get("connection", ""), str(r.get("provider_id", "")), r.get("name", ""),
                      r.get("status", ""), str(r.get("size", "")), r.get("local_path") or "")
    console().print(table)
    if limit and len(rows) > limit:
        console().print(f"[dim]{len(rows) - limit} more; use --limit 0 for all[/]")


@app.command("audit")
def library_audit(
    connection: Optional[str] = typer.Option(None, "--connection", "-c"),
    offline: bool = typer.Option(False, "--offline",
                                 help="Compare the index with the files only; do not ask the DAM"),
    show: Optional[str] = typer.Option(None, "--show", help="List the assets of one status "
                                       "(current, missing, failed, stale, gone)"),
    as_json: bool = JsonOption,
) -> None:
    """What is tagged in the DAM against what reached the library, per status."""
    from ..audit import STATUSES, audit
    from ..workspace import run_sync

    with guarded(as_json):
        report = run_sync(audit(workspace(), connection, live=not offline))
    problems = sum(n for status, n in report.counts().items() if status != "current")
    if as_json:
        out({"live": report.live, "counts": report.counts(), "near_misses": report.near_misses(),
             "connections": [{**c.model_dump(mode="json", exclude={"rows"}),
                              "counts": c.counts()} for c in report.connections],
             "rows": [r.model_dump(mode="json") for r in report.rows
                      if show is None or r.status == show]})
        raise typer.Exit(0 if problems == 0 else 1)
    from rich.table import Table

    table = Table("connection", "tagged", *STATUSES, title="damkit audit",
                  caption="current: in both; missing: tagged, not in the library; stale: changed "
                  "in the DAM; gone: no longer tagged upstream")
    for c in report.connections:
        counts = c.counts()
        table.add_row(c.connection, "-" if c.eligible is None else str(c.eligible),
                      *(str(counts[s]) for s in STATUSES))
    con = console()
    con.print(table)
    for c in report.connections:
        if c.error:
            con.print(f"[yellow]{c.connection}:[/] the DAM could not be listed ({c.error}); "
                      "index only", highlight=False)
        for miss in c.near_misses:
            con.print(f"[yellow]{c.connection}:[/] {miss.count} file(s) carry {miss.spelling!r}, "
                      f"not {c.tag!r} (not imported)", highlight=False)
    for row in report.rows:
        if show is not None and row.status == show:
            con.print(f"  {row.connection} {row.asset_id} {row.name!r}: {row.detail}",
                      highlight=False)
    raise typer.Exit(0 if problems == 0 else 1)


@app.command("restore")
def library_restore(
    backup: Optional[Path] = typer.Option(None, "--backup",
                                          help="A backup folder (default: the latest)"),
) -> None:
    """Put a backup of the index back after damage; the damaged files are kept aside."""
    from ..index import LibraryIndex
    from ..workspace import default_home

    with guarded():
        root = (state.home or default_home()).expanduser().resolve()
        aside = LibraryIndex.restore(root / "index", backup)
    console().print(f"restored the index of {root}; the damaged files are in {aside}",
                    highlight=False)


@app.command("show")
def library_show(connection: str, asset_id: str, as_json: bool = JsonOption) -> None:
    """One asset's record."""
    with guarded(as_json):
        doc = workspace().index.get_asset(connection, asset_id)
        if doc is None:
            from ..errors import NotFoundError

            raise NotFoundError(f"no asset {asset_id!r} in connection {connection!r}")
    if as_json:
        out(doc)
    else:
        for k, v in doc.items():
            console().print(f"{k}: {v!r}", highlight=False)
