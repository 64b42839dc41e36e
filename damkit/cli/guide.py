"""The setup flow on the command line: print a provider's guide, or walk it on a terminal.

Both render :mod:`damkit.setup_flow`, the same model the console and the notebook forms render.
The walk takes its input and output as functions so that it runs the same under a terminal and in
tests; secrets are read with the hidden reader and never echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import DamkitError, SettingsError

if TYPE_CHECKING:
    from ..settings import FieldSpec
    from ..setup_flow import GuideStep, SetupFlow
    from ..workspace import Workspace

Ask = Callable[[str], str]
Echo = Callable[[str], None]
MAX_TRIES = 5


def guide_lines(flow: SetupFlow) -> list[str]:
    """The guide as plain lines: each step with where, what, warnings, fields and action."""
    lines = [f"{flow.spec.title} ({flow.spec.name}): {flow.spec.summary}".rstrip(": ")]
    for step in flow.steps:
        lines.extend(step_lines(step))
    if flow.advanced:
        lines.append("")
        lines.append("Advanced (optional):")
        lines.extend(f"  - {field_line(f)}" for f in flow.advanced)
    return lines


def step_lines(step: GuideStep) -> list[str]:
    lines = ["", f"{step.number}. {step.title}", f"   where: {step.where}", f"   {step.what}"]
    lines.extend(f"   ! {warning}" for warning in step.warnings)
    lines.extend(f"   - {field_line(f)}" for f in step.fields)
    if step.action_label:
        lines.append(f"   → action: {step.action_label}")
    return lines


def field_line(spec: FieldSpec) -> str:
    marks = [spec.name] + ([spec.kind] if spec.kind != "secret" else [])
    if spec.required:
        marks.append("required")
    if spec.secret:
        marks.append("secret, hidden")
    if spec.choices:
        marks.append("one of " + "/".join(spec.choices))
    elif spec.default not in (None, "") and not spec.secret:
        marks.append(f"default {spec.default!r}")
    return f"{spec.label} ({', '.join(marks)}): {spec.help}"


def prompt_field(spec: FieldSpec, *, ask: Ask, ask_secret: Ask, echo: Echo,
                 check: Callable[[str, Any], str | None]) -> tuple[bool, Any]:
    """Ask one field until its value passes the field's own validation.

    Returns ``(given, value)``; ``given`` is False when an optional field is left empty (its
    default stays). A secret is read hidden and never echoed.
    """
    suffix = ""
    if spec.kind == "bool":
        suffix = f" [{'Y/n' if spec.default else 'y/N'}]"
    elif spec.choices:
        suffix = f" ({'/'.join(spec.choices)}) [{spec.default or spec.choices[0]}]"
    elif spec.default not in (None, "") and not spec.secret:
        suffix = f" [{spec.default}]"
    prompt = f"   {spec.label}{' *' if spec.required else ''}{suffix}: "
    for _ in range(MAX_TRIES):
        raw = (ask_secret if spec.secret else ask)(prompt)
        text = raw if spec.secret else raw.rstrip("\r\n")
        if text.strip() == "":
            if not spec.required:
                return False, None
            echo(f"   {spec.label} is required. {spec.help}")
            continue
        value: Any = text
        if spec.kind == "bool":
            answer = text.strip().lower()
            if answer not in ("y", "yes", "n", "no", "true", "false"):
                echo("   answer y or n")
                continue
            value = answer in ("y", "yes", "true")
        problem = check(spec.name, value)
        if problem is None:
            return True, value
        echo(f"   {problem}")
    raise SettingsError(f"{spec.label}: no valid value after {MAX_TRIES} tries", field=spec.name)


def confirm(ask: Ask, question: str, *, default: bool) -> bool:
    answer = ask(f"{question} [{'Y/n' if default else 'y/N'}] ").strip().lower()
    return default if not answer else answer in ("y", "yes")


def walk(ws: Workspace, provider: str, name: str, *, ask: Ask, ask_secret: Ask, echo: Echo,
         actions: dict[str, Callable[[], None]]) -> dict[str, Any]:
    """Walk the guide of ``provider`` to add connection ``name``: each step's text, then its
    fields (validated as typed), then its action. The connection is saved at the guide's save
    step (or its test step when the guide saves and tests at once); a field refused on save is
    asked again. ``actions`` run the later actions (``auth``, ``check``, ``sync``,
    ``events-request``) when the user agrees. Returns the saved connection."""
    from ..settings import clean_connection_name
    from ..setup_flow import setup_flow

    clean_connection_name(name)
    if ws.index.get_connection(name) is not None:
        raise SettingsError(f"a connection named '{name}' already exists", field="name",
                            hint="choose another name, or `damkit connections edit`")
    flow = setup_flow(provider)
    model = flow.spec.settings_model()
    values: dict[str, Any] = {}
    doc: dict[str, Any] | None = None
    echo(f"Adding {name}: a {flow.spec.title} connection. Follow the guide; * marks required "
         "fields, secrets are not shown as you type.")

    def ask_field(spec: FieldSpec) -> None:
        given, value = prompt_field(spec, ask=ask, ask_secret=ask_secret, echo=echo,
                                    check=model.check_field)
        if given:
            values[spec.name] = value
        else:
            values.pop(spec.name, None)

    for step in flow.steps:
        for line in step_lines(step)[:-1 if step.action_label else None]:
            if not line.startswith("   - "):
                echo(line)
        for spec in step.fields:
            ask_field(spec)
        if step.action is None:
            continue
        if doc is None and step.action in ("save", "check"):
            if flow.advanced and confirm(ask, "   Change the advanced settings ("
                                         + ", ".join(f.label for f in flow.advanced) + ")?",
                                         default=False):
                for spec in flow.advanced:
                    ask_field(spec)
            doc = save_with_retries(ws, provider, name, values, ask_field, flow, echo)
            echo(f"   saved {name} (secrets in the {ws.secrets.kind} secret store)")
            if step.action == "save":
                continue
        run = actions.get(step.action)
        if doc is None or run is None:
            continue
        default = step.action in ("auth", "check")
        if confirm(ask, f"   {step.action_label} now?", default=default):
            try:
                run()
            except DamkitError as exc:
                echo(f"   {step.action_label} failed: {exc.message}"
                     + (f"\n   hint: {exc.hint}" if exc.hint else ""))
    if doc is None:  # a guide with no save step: save at the end
        doc = save_with_retries(ws, provider, name, values, ask_field, flow, echo)
    return doc


def save_with_retries(ws: Workspace, provider: str, name: str, values: dict[str, Any],
                      ask_field: Callable[[FieldSpec], None], flow: SetupFlow,
                      echo: Echo) -> dict[str, Any]:
    """Save; when a field is refused (e.g. a rule across fields), ask it again and retry."""
    by_name = {f.name: f for f in flow.fields}
    for _ in range(MAX_TRIES):
        try:
            return ws.add_connection(provider, name, values)
        except SettingsError as exc:
            echo(f"   not saved: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
            if exc.field in by_name:
                ask_field(by_name[exc.field])
                continue
            # a rule across fields (e.g. which keys go together): ask the guide's empty fields
            empty = [f for step in flow.steps for f in step.fields if f.name not in values]
            if not empty:
                raise
            for spec in empty:
                ask_field(spec)
    raise SettingsError(f"{name}: not saved after {MAX_TRIES} tries", field="name")


__all__ = ["guide_lines", "prompt_field", "step_lines", "walk"]
