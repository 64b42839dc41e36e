"""The setup flow: a provider's guide as ordered steps with their fields and actions.

One model, rendered three ways: the console form, the notebook form and the command line
(``damkit providers show``, ``damkit connections add`` on a terminal) all walk a
:class:`SetupFlow`. It says which fields each step asks for (each field once, in the guide's
order; the rest behind "Advanced"), which action a step runs (save, log in, test, sync, the events
request), and which action comes next for a connection's state. A failed check's structured hint
(:class:`~damkit.providers.base.Fix`) is rendered with :func:`fix_text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from .providers import get as provider_spec

if TYPE_CHECKING:
    from .providers.base import CheckReport, CheckStep, Fix
    from .providers.spec import ProviderSpec
    from .settings import FieldSpec
    from .workspace import Workspace

Action = Literal["save", "auth", "check", "sync", "events-request"]

#: What each action is called on a button or a prompt.
ACTION_LABELS: dict[str, str] = {
    "save": "Save",
    "auth": "Log in",
    "check": "Test Connection",
    "sync": "Sync",
    "events-request": "Write the events request",
}

#: The order in which a connection's actions depend on each other: a login needs the saved
#: connection (its settings and secrets), a test needs the login, a sync needs a passing test.
DEPENDENCY_ORDER: tuple[str, ...] = ("save", "auth", "check", "sync")


@dataclass(frozen=True)
class GuideStep:
    """One step of the guide as frontends render it: the text, the fields it asks, its action."""

    number: int
    id: str
    title: str
    where: str
    what: str
    warnings: tuple[str, ...]
    fields: tuple[FieldSpec, ...]  # fields first asked at this step (each field once)
    action: str | None

    @property
    def action_label(self) -> str | None:
        return ACTION_LABELS.get(self.action or "", self.action)

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "id": self.id, "title": self.title, "where": self.where,
                "what": self.what, "warnings": list(self.warnings),
                "fields": [field_dict(f) for f in self.fields], "action": self.action,
                "action_label": self.action_label}


def field_dict(spec: FieldSpec) -> dict[str, Any]:
    """A field as data for ``--json`` (defaults of secret fields are never shown)."""
    return {"name": spec.name, "label": spec.label, "help": spec.help, "kind": spec.kind,
            "secret": spec.secret, "required": spec.required,
            "default": None if spec.secret else spec.default,
            "choices": list(spec.choices) if spec.choices else None,
            "placeholder": spec.placeholder, "advanced": spec.advanced, "step": spec.step}


class ConnectionState(BaseModel):
    """What has been done for a connection, as far as its next action cares."""

    saved: bool = False
    logged_in: bool | None = None  # None: the provider has no browser login
    checked: bool = False  # the last Test Connection passed
    synced: bool = False  # a sync finished ok


@dataclass(frozen=True)
class SetupFlow:
    """A provider's guide, ready to render. Build it with :func:`setup_flow`."""

    spec: ProviderSpec
    steps: tuple[GuideStep, ...]
    advanced: tuple[FieldSpec, ...]  # fields no step asks for (alternatives, sandbox URLs)

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        """Every field, in the order the guide asks for them, then the advanced ones."""
        return tuple(f for step in self.steps for f in step.fields) + self.advanced

    def step_of(self, action: str) -> GuideStep | None:
        """The step that runs ``action`` (the first one)."""
        return next((s for s in self.steps if s.action == action), None)

    def next_action(self, state: ConnectionState) -> str | None:
        """The action that comes next for a connection in ``state`` (None when all are done)."""
        if not state.saved:
            return "save"
        if self.spec.capabilities.browser_login and not state.logged_in:
            return "auth"
        if not state.checked:
            return "check"
        if not state.synced:
            return "sync"
        return None

    def next_step(self, state: ConnectionState) -> GuideStep | None:
        """The guide step to show next: the one running :meth:`next_action` (a guide whose save
        is part of its test step, e.g. "Save and test", answers with that step)."""
        action = self.next_action(state)
        if action is None:
            return None
        step = self.step_of(action)
        if step is None and action == "save":
            step = self.step_of("check")
        return step


def setup_flow(provider: str) -> SetupFlow:
    """The setup flow of ``provider`` (a :class:`SettingsError` for an unknown name)."""
    spec = provider_spec(provider)
    fields = {f.name: f for f in spec.settings_model().fields()}
    placed: set[str] = set()
    steps: list[GuideStep] = []
    for number, step in enumerate(spec.setup_steps(), start=1):
        asked = []
        for name in step.fields:
            if name in fields and name not in placed:
                placed.add(name)
                asked.append(fields[name])
        steps.append(GuideStep(number=number, id=step.id, title=step.title, where=step.where,
                               what=step.what, warnings=tuple(step.warnings),
                               fields=tuple(asked), action=step.action))
    advanced = tuple(f for f in fields.values() if f.name not in placed)
    return SetupFlow(spec=spec, steps=tuple(steps), advanced=advanced)


def connection_state(ws: Workspace, name: str) -> ConnectionState:
    """What has been done for connection ``name`` (unsaved names are simply not saved)."""
    doc = ws.index.get_connection(name)
    if doc is None:
        return ConnectionState()
    caps = provider_spec(doc["provider"]).capabilities
    logged_in: bool | None = None
    if caps.browser_login:
        marker = caps.login_marker or (caps.login_secrets[0] if caps.login_secrets else None)
        logged_in = bool(marker and ws.secrets.source(name, marker) is not None)
    check = doc.get("last_check") or {}
    sync = doc.get("last_sync") or {}
    return ConnectionState(saved=True, logged_in=logged_in, checked=bool(check.get("ok")),
                           synced=sync.get("status") == "ok")


def fix_text(fix: Fix, flow: SetupFlow | None = None) -> str:
    """A structured hint in words: what is wrong, the exact fix, and where (step and field)."""
    parts = [p for p in (fix.message, fix.action) if p]
    where = []
    if fix.step:
        step = next((s for s in flow.steps if s.id == fix.step), None) if flow else None
        where.append(f"step {step.number}. {step.title}" if step else f"step {fix.step}")
    if fix.field:
        label = next((f.label for f in flow.fields if f.name == fix.field), None) if flow else None
        where.append(f"field {label or fix.field}")
    text = ": ".join(parts) if len(parts) == 2 else (parts[0] if parts else "")
    return f"{text} ({', '.join(where)})" if where else text


def step_hint(step: CheckStep, provider: str | None = None,
              actions: dict[str, str] | None = None) -> str | None:
    """What to do about a check step, in words: its structured fix (with the guide step and
    field named) when it has one, else its hint text; None when there is nothing to say.

    ``actions``: how this frontend runs a damkit action (``{"auth": "press o"}``). A fix that
    is an action the frontend does not name keeps the step's own hint (the command line's)."""
    if step.fix is None:
        return step.hint
    if step.fix.run is not None:
        how = (actions or {}).get(step.fix.run)
        if how is None:
            return step.hint or fix_text(step.fix)
        return f"{step.fix.message}: {how}"
    flow = None
    if provider:
        from .errors import SettingsError

        try:
            flow = setup_flow(provider)
        except SettingsError:
            flow = None
    return fix_text(step.fix, flow) or step.hint


def setting_command(connection: str, fix: Fix, flow: SetupFlow | None = None) -> str | None:
    """The exact command that applies a fix which is a setting (``fix.field`` = ``fix.value``),
    with the field written as its label; None when the fix is not a setting."""
    if fix.field is None or fix.value is None:
        return None
    label = next((f.label for f in flow.fields if f.name == fix.field), None) if flow else None
    pair = f"{label or fix.field}={fix.value}".replace('"', '\\"')
    return f'damkit connections edit {connection} --set "{pair}"'


def better_spelling_lines(report: CheckReport) -> list[str]:
    """What every frontend says first when another spelling of the tag carries more files:
    the finding, the setting to change (with the exact command), then retagging as the second
    option. Empty when there is nothing better."""
    fix = report.better_spelling
    if fix is None:
        return []
    from .errors import SettingsError

    try:
        flow: SetupFlow | None = setup_flow(report.provider)
    except SettingsError:
        flow = None
    noun = flow.spec.tag_noun if flow else "tag"
    where = fix_text(fix.model_copy(update={"message": ""}), flow)
    lines = [f"{fix.message}.", f"1. Change the setting: {where}"]
    command = setting_command(report.connection, fix, flow)
    if command:
        lines.append(f"   {command}")
    lines.append(f"2. Or retag those files in the DAM with the {noun} '{report.tag}' exactly.")
    return lines


__all__ = ["ACTION_LABELS", "DEPENDENCY_ORDER", "ConnectionState", "GuideStep", "SetupFlow",
           "better_spelling_lines", "connection_state", "field_dict", "fix_text",
           "setting_command", "setup_flow", "step_hint"]
