"""``damkit library ...``: read the library index, audit it, restore a backup."""

from __future__ import annotations

from pathlib import Path

import typer

from ..display import clean
from .common import JsonOption, cmd, group, guarded, out, print_table, say, state, workspace
from .paint import human_size

LIST_LIMIT = 50

app = group("Read the library index.")


@app.command("stats")
def library_stats(connection: str | None = typer.Option(None, "--connection", "-c"),
                  as_json: bool = JsonOption) -> None:
    """Counts per status and bytes, per connection."""
    with guarded(as_json):
        stats = workspace().library_stats(connection)
    if as_json:
        out(stats)
        return
    per = stats.get("by_connection") or {}
    if not per:
        say("the library is empty: add a connection and sync it "
            f"(`{cmd()} connections add`, `{cmd()} sync NAME`)")
        return
    statuses = sorted({st for entry in per.values() for st in entry.get("by_status", {})})
    rows = [[name, str(e["assets"]), human_size(e["bytes"]),
             *(str(e["by_status"].get(st, 0)) for st in statuses)] for name, e in per.items()]
    if len(per) > 1:
        rows.append(["total", str(stats["assets"]), human_size(stats["bytes"]),
                     *(str(stats["by_status"].get(st, 0)) for st in statuses)])
    print_table(["connection", "assets", "size", *statuses], rows,
                right=tuple(range(1, 3 + len(statuses))))


@app.command("ls")
def library_ls(
    connection: str | None = typer.Option(None, "--connection", "-c"),
    status: str | None = typer.Option(None, "--status"),
    tag: str | None = typer.Option(None, "--tag"),
    name: str | None = typer.Option(None, "--name", help="Name contains"),
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
    shown_rows = rows[:limit] if limit else rows
    print_table(["connection", "id", "name", "status", "size", "path"],
                [[r.get("connection", ""), str(r.get("provider_id", "")), r.get("name", ""),
                  r.get("status", ""), human_size(r.get("size")), r.get("local_path") or ""]
                 for r in shown_rows], right=(4,))
    if limit and len(rows) > limit:
        say(f"… and {len(rows) - limit} more; use --limit 0 for all")


@app.command("audit")
def library_audit(
    connection: str | None = typer.Option(None, "--connection", "-c"),
    offline: bool = typer.Option(False, "--offline",
                                 help="Compare the index with the files only; do not ask the DAM"),
    show: str | None = typer.Option(None, "--show", help="List the assets of one status "
                                       "(current, missing, failed, stale, gone)"),
    as_json: bool = JsonOption,
) -> None:
    """What is tagged in the DAM against what reached the library, per status."""
    from ..audit import STATUSES, audit
    from ..workspace import run_sync

    with guarded(as_json):
        if show is not None and show not in STATUSES:
            from ..errors import SettingsError

            raise SettingsError(f"--show {show!r} is not a status", field="show",
                                hint="one of " + ", ".join(STATUSES))
        report = run_sync(audit(workspace(), connection, live=not offline))
    problems = sum(n for status, n in report.counts().items() if status != "current")
    if as_json:
        out({"live": report.live, "counts": report.counts(), "near_misses": report.near_misses(),
             "connections": [{**c.model_dump(mode="json", exclude={"rows"}),
                              "counts": c.counts()} for c in report.connections],
             "rows": [r.model_dump(mode="json") for r in report.rows
                      if show is None or r.status == show]})
        raise typer.Exit(0 if problems == 0 else 1)
    print_table(["connection", "tagged", *STATUSES],
                [[c.connection, "-" if c.eligible is None else str(c.eligible),
                  *(str(c.counts()[s]) for s in STATUSES)] for c in report.connections],
                title="damkit audit", right=tuple(range(1, 2 + len(STATUSES))))
    say("current: in both; missing: tagged, not in the library; stale: changed in the DAM; "
        "gone: no longer tagged upstream")
    for c in report.connections:
        if c.error:
            say(f"{c.connection}: the DAM could not be listed ({clean(c.error)}); index only")
        for miss in c.near_misses:
            say(f"{c.connection}: {miss.count} file(s) carry {clean(miss.spelling)!r}, "
                f"not {clean(c.tag)!r} (not imported)")
    listed = [row for row in report.rows if show is not None and row.status == show]
    for row in listed[:LIST_LIMIT]:
        say(f"  {row.connection} {clean(row.asset_id)} {clean(row.name)!r}: {clean(row.detail)}")
    if len(listed) > LIST_LIMIT:
        say(f"  … and {len(listed) - LIST_LIMIT} more (--json lists them all)")
    raise typer.Exit(0 if problems == 0 else 1)


@app.command("restore")
def library_restore(
    backup: Path | None = typer.Option(None, "--backup",
                                          help="A backup folder (default: the latest)"),
) -> None:
    """Put a backup of the index back after damage; the damaged files are kept aside."""
    from ..errors import SettingsError
    from ..index import LibraryIndex, index_location, is_database_url
    from ..workspace import default_home

    with guarded():
        root = (state.home or default_home()).expanduser().resolve()
        if is_database_url(index_location(root / "index")):
            raise SettingsError("the index is a PostgreSQL database (DAMKIT_INDEX_URL): this "
                                "command restores the file index's backups",
                                hint="restore the database with the server's own backups "
                                     "(pg_dump, or base backups and WAL archiving)")
        aside = LibraryIndex.restore(root / "index", backup)
    say(f"restored the index of {root}; the damaged files are in {aside}")


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
            text = ", ".join(map(str, v)) if isinstance(v, list) else v
            say(f"{k}: {clean(text)}")
