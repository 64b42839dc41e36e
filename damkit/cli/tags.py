"""``damkit tags NAME``: the tags (keywords, terms) a connection's DAM has in use, with counts,
so the spelling is picked rather than typed (near spellings of ``--near`` first)."""

from __future__ import annotations

import typer

from .common import JsonOption, app, guarded, out, say, shown, workspace
from .paint import styled


@app.command("tags")
def tags(
    name: str,
    as_json: bool = JsonOption,
    near: str | None = typer.Option(None, "--near", help="Put spellings near this text first "
                                       "(same letters in another case, a typo)"),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many"),
) -> None:
    """List the DAM's tags (Bynder tags, Canto keywords, Percolate terms) with file counts."""
    from ..workspace import run_sync

    with guarded(as_json):
        ws = workspace()
        found = run_sync(ws.tags(name, near=near, limit=limit))
        noun = ws.spec(name).tag_noun
        field = ws.spec(name).settings_model().tag_field
        current = str(ws.connection(name)["settings"].get(field) or "")
    if as_json:
        out({"connection": name, "noun": noun, "current": current,
             "tags": [t.model_dump() for t in found]})
        return
    if not found:
        say(f"no {noun} is in use in {name}'s DAM")
        return
    width = max(len(str(t.count)) for t in found)
    for t in found:
        mark = "  " + styled("(set)", "green") if t.tag == current else ""
        say(f"{t.count:>{width}}  {shown(repr(t.tag))}{mark}")
    say(styled(f"set one with: damkit connections edit {name} --set \"{field}=<{noun}>\"", "dim"))
