"""The typed error tree: the HTTP layer's classes, and Test Connection's one mapping to a fix."""

from __future__ import annotations

import pytest

from damkit.errors import (
    BadAnswer,
    CredentialsRefused,
    DamkitError,
    Forbidden,
    HttpError,
    RateLimited,
    RemoteNotFound,
    Unavailable,
    Unreachable,
    error_for_status,
    is_transient,
    typed,
)
from damkit.providers.base import Fix, describe_error

SITE = Fix(step="x.settings", field="domain", action="use the portal's address")
KEYS = Fix(step="x.keys", field="secret", action="copy the key again")
ACCESS = Fix(step="x.scope", field="scope_id", action="check the scope")


@pytest.mark.parametrize("status, cls", [(401, CredentialsRefused), (403, Forbidden),
                                         (404, RemoteNotFound), (429, RateLimited),
                                         (503, Unavailable), (408, Unavailable),
                                         (400, HttpError)])
def test_statuses_map_to_the_most_specific_class(status: int, cls: type) -> None:
    error = error_for_status(status, "m")
    assert type(error) is cls and error.status == status


@pytest.mark.parametrize("error, step, field", [
    (Unreachable("no dns", kind="dns"), "x.settings", "domain"),
    (CredentialsRefused("refused", status=401), "x.keys", "secret"),
    (Forbidden("no", status=403), "x.scope", "scope_id"),
    (RemoteNotFound("none", status=404), "x.scope", "scope_id"),
    (BadAnswer("html", status=200), "x.settings", "domain"),
    (HttpError("plain 401 from a connector", status=401), "x.keys", "secret"),
])
def test_check_failures_name_the_step_and_field(error: DamkitError, step: str, field: str) -> None:
    failed = describe_error(error, site=SITE, keys=KEYS, access=ACCESS)
    assert failed.fix is not None and (failed.fix.step, failed.fix.field) == (step, field)
    assert failed.hint == failed.fix.text() and step in failed.hint and field in failed.hint
    assert failed.fix.message == error.message


def test_throttling_and_outages_say_there_is_nothing_to_change() -> None:
    throttled = describe_error(RateLimited("429", status=429, retry_after=30), site=SITE, keys=KEYS)
    assert throttled.fix is not None and throttled.fix.field is None and "30 s" in throttled.fix.action
    down = describe_error(Unavailable("503", status=503), site=SITE, keys=KEYS)
    assert down.fix is not None and down.fix.field is None and "nothing to change" in down.fix.action


def test_transient_failures_are_told_apart_from_refusals() -> None:
    assert is_transient(Unavailable("x", status=502)) and is_transient(Unreachable("x"))
    assert not is_transient(CredentialsRefused("x", status=401))
    assert isinstance(typed(HttpError("x", status=429)), RateLimited)
    assert isinstance(typed(HttpError("x", status=200, kind="protocol")), BadAnswer)
