"""``damkit providers ...``: the registered DAMs, and each one's setup guide."""

from __future__ import annotations

import typer

from .common import JsonOption, group, guarded, out, say
from .paint import styled

app = group("The DAMs damkit connects to, and their setup guides.")


@app.command("list")
def providers_list(as_json: bool = JsonOption) -> None:
    """Every registered provider with what it can do."""
    from dataclasses import asdict

    from ..providers import all as all_providers

    specs = all_providers()
    if as_json:
        out([{"name": s.name, "title": s.title, "summary": s.summary,
              "capabilities": asdict(s.capabilities)} for s in specs])
        return
    for s in specs:
        caps = s.capabilities
        features = [f for f, on in (("browser login", caps.browser_login),
                                    ("backlink", caps.backlink),
                                    ("change notifications", caps.change_notifications)) if on]
        say(f"{styled(s.name, 'bold')} {s.title}: {s.summary}"
            + (" " + styled(f"({', '.join(features)})", "dim") if features else ""))


@app.command("show")
def providers_show(provider: str = typer.Argument(..., help="e.g. one of `damkit providers list`"),
                   as_json: bool = JsonOption) -> None:
    """The provider's setup guide: its steps, the fields each asks for, and their actions."""
    from dataclasses import asdict

    from ..setup_flow import field_dict, setup_flow
    from .guide import guide_lines

    with guarded(as_json):
        flow = setup_flow(provider)
    if as_json:
        out({"name": flow.spec.name, "title": flow.spec.title, "summary": flow.spec.summary,
             "capabilities": asdict(flow.spec.capabilities),
             "steps": [s.as_dict() for s in flow.steps],
             "advanced": [field_dict(f) for f in flow.advanced]})
        return
    for text in guide_lines(flow):
        say(text)
    say(f"\nAdd one: damkit connections add {flow.spec.name} NAME")
