"""The setup flow: one model of each provider's guide (steps, fields, actions), what comes next
for a connection's state, and structured hints in words."""

from __future__ import annotations

from pathlib import Path

import pytest

from damkit.errors import SettingsError
from damkit.providers import names
from damkit.providers.base import CheckStep, Fix
from damkit.setup_flow import (
    DEPENDENCY_ORDER,
    ConnectionState,
    connection_state,
    fix_text,
    setup_flow,
    step_hint,
)
from damkit.workspace import open_workspace


@pytest.mark.parametrize("provider", names())
def test_each_field_is_asked_once_and_actions_follow_their_dependencies(provider: str) -> None:
    flow = setup_flow(provider)
    asked = [f.name for f in flow.fields]
    assert len(asked) == len(set(asked))
    assert set(asked) == set(flow.spec.settings_model().model_fields)
    # nothing required hides under "Advanced"
    assert [f.name for f in flow.advanced if f.required] == []
    order = [s.action for s in flow.steps if s.action in DEPENDENCY_ORDER]
    ranks = [DEPENDENCY_ORDER.index(a) for a in order]
    assert ranks == sorted(ranks), order  # e.g. never "log in" before "save"
    assert flow.step_of("check") is not None


def test_next_action_by_state() -> None:
    canto, percolate = setup_flow("canto"), setup_flow("percolate")
    assert canto.next_action(ConnectionState()) == "save"
    saved = ConnectionState(saved=True, logged_in=False)
    assert canto.next_action(saved) == "auth" and canto.next_step(saved).id == "canto.login"
    assert percolate.next_action(ConnectionState(saved=True)) == "check"
    done = ConnectionState(saved=True, logged_in=True, checked=True, synced=True)
    assert canto.next_action(done) is None and canto.next_step(done) is None
    # a guide that saves and tests in one step answers "save" with that step
    assert setup_flow("bynder").next_step(ConnectionState()).id == "bynder.save"


def test_connection_state_from_a_workspace(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws", env={"DAMKIT_SECRET_STORE": "plaintext"})
    assert connection_state(ws, "acme") == ConnectionState()
    ws.add_connection("canto", "acme", {"domain": "acme.canto.com", "app_id": "a",
                                        "app_secret": "s", "keyword": "Gelato"})
    assert connection_state(ws, "acme") == ConnectionState(saved=True, logged_in=False)
    assert setup_flow("canto").next_action(connection_state(ws, "acme")) == "auth"
    ws.secrets.set("acme", "refresh_token", "r")
    assert connection_state(ws, "acme").logged_in is True
    ws.close()


def test_fix_text_names_the_step_and_the_field() -> None:
    flow = setup_flow("canto")
    fix = Fix(step="canto.keyword", field="keyword", message="no file carries 'Gelato'",
              action="tag a file in Canto, or fix the keyword")
    text = fix_text(fix, flow)
    assert text.startswith("no file carries 'Gelato': tag a file in Canto")
    assert "step 2. Set up the keyword" in text and "field Keyword for Import" in text
    step = CheckStep(name="Keyword", status="failed", hint="old text", fix=fix)
    assert step_hint(step, "canto") == text
    assert step_hint(CheckStep(name="x", status="failed", hint="plain"), "canto") == "plain"


def test_unknown_provider() -> None:
    with pytest.raises(SettingsError, match="unknown provider"):
        setup_flow("nuxeo")
