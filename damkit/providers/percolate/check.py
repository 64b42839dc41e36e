"""Percolate "Test Connection": five steps, each timed, each failure with a hint.

1. Reach Percolate: ``GET /api/v5/me`` without credentials must answer a JSON 401 (so the Client
   Secret is never sent to a host that is not Percolate); DNS, TLS, connect and "not Percolate"
   are told apart.
2. Credentials: the client-credentials token (which field is wrong), then ``/api/v5/me``.
3. Scope: a one-item asset page of the license (403 = unknown license or no access).
4. Tag: the term named exactly as the tag, and near misses (case, spaces) with their file counts
   (asked at once).
5. Eligible files: the listing the sync does, on the terms the Tag step found, membership
   proven per asset.

A 429 or 5xx that lasts through the (few) retries ends the check with "overloaded/unavailable".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from ...errors import DamkitError, HttpError
from ...http import HttpClient
from ...redact import redact
from ..base import CheckReport, CheckStep, Fix, NearMiss, Stage, StepFailed, describe_error, run_stages
from .auth import BearerAuth, api_error, client_user
from .steps import STEPS

if TYPE_CHECKING:
    from .connector import PercolateProvider

#: what one step learnt that a later one uses (the Scope step's asset count, the exact terms)
State = dict[str, Any]
StepFn = Callable[["PercolateProvider", HttpClient, CheckReport, CheckStep, State],
                  Awaitable[None]]
TAGGED_WARNING = next(w for s in STEPS if s.id == "percolate.check" for w in s.warnings)


def guide_hint(step_id: str, field_label: str | None = None, extra: str = "") -> str:
    """'guide step "<title>" (<where>): <extra> — field <label>'."""
    step = next(s for s in STEPS if s.id == step_id)
    text = f'guide step "{step.title}" ({step.where})'
    if extra:
        text += f": {extra}"
    if field_label:
        text += f"; field to fix: {field_label}"
    return text


URL_HINT = ('field to fix: API base URL (advanced; leave https://percolate.com unless you use the '
            'damkit sandbox)')


def overloaded(status: int, where: str) -> StepFailed:
    word = "rate-limiting damkit (429 Too Many Requests)" if status == 429 else f"answering {status}"
    return StepFailed(
        f"Percolate is overloaded or unavailable: {where} kept {word} through every retry",
        hint=guide_hint("percolate.check", None,
                        "nothing to change in the settings; run Test Connection again later, "
                        "and contact Percolate if it lasts"))


def transport(exc: HttpError, base: str) -> StepFailed:
    if exc.kind == "dns":
        detail = f"the domain of {base} does not resolve (DNS)"
    elif exc.kind == "tls":
        detail = f"TLS failed with {base}: {exc.message}"
    elif exc.kind == "timeout":
        detail = f"{base} did not answer in time"
    elif exc.kind == "connect":
        detail = f"cannot connect to {base}: {exc.message}"
    elif exc.status is not None and (exc.status == 429 or exc.status >= 500):
        return overloaded(exc.status, base)
    else:
        detail = exc.message
    return StepFailed(redact(detail), hint=URL_HINT)


async def run_check(provider: PercolateProvider) -> CheckReport:
    settings = provider.settings
    report = CheckReport(provider="percolate", connection=provider.ctx.name, tag=settings.tag)
    # A few quick retries only: Test Connection must answer in seconds, even when Percolate is down.
    async with HttpClient(settings.api_url, retries=2, backoff=0.1, max_backoff=1.0,
                          timeout=15.0, connect_timeout=5.0) as http:
        stages: list[tuple[str, StepFn]] = [
            ("Reach Percolate", _reach), ("Credentials", _credentials), ("Scope", _scope),
            ("Tag", _tag), ("Eligible files", _eligible),
        ]

        def describe(exc: DamkitError) -> StepFailed:
            return describe_error(
                exc, site=Fix(field="api_url", action=URL_HINT),
                keys=Fix(step="percolate.secret", field="client_secret",
                         action=guide_hint("percolate.secret", "Client Secret")),
                access=Fix(step="percolate.scope", field="scope_id",
                           action=guide_hint("percolate.scope", "Scope ID")))

        state: State = {}

        def bind(run: StepFn) -> Stage:
            return lambda step: run(provider, http, report, step, state)

        # The Tag step may fail (no exact term) and Eligible still reports 0 with the warning.
        return await run_stages(report, [(n, bind(r)) for n, r in stages], describe=describe,
                                stop_on_failure=lambda name: name != "Tag")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


async def _reach(provider: PercolateProvider, http: HttpClient, report: CheckReport,
                 step: CheckStep, state: State) -> None:
    response = await http.request("GET", "/api/v5/me", auth=False)
    status = response.status_code
    if status == 429 or status >= 500:
        raise overloaded(status, "/api/v5/me")
    body = _json(response)
    looks = isinstance(body, dict) and ("errors" in body or "error" in body or "data" in body)
    if status in (401, 403, 200) and looks:
        step.detail = f"{http.base_url} answers as a Percolate API ({status} without credentials)"
        return
    if status == 401:  # the status is documented, the body's keys are not: warn only
        kind = response.headers.get("content-type", "?").split(";")[0]
        step.status = "warning"
        step.detail = (f"{http.base_url} answers 401 without credentials, as Percolate does, but "
                       f"with a body ({kind}) no public source shows; the Credentials step "
                       "proves the connection")
        return
    kind = response.headers.get("content-type", "?").split(";")[0]
    raise StepFailed(f"{http.base_url} answered {status} ({kind}) on /api/v5/me: this is not a "
                     "Percolate API", hint=URL_HINT)


async def _credentials(provider: PercolateProvider, http: HttpClient, report: CheckReport,
                       step: CheckStep, state: State) -> None:
    response = await provider.tokens.request_token(http)
    status = response.status_code
    if status == 429 or status >= 500:
        raise overloaded(status, "/auth/v5/token/")
    code, message = api_error(response)
    lowered = f"{code} {message}".lower()
    user = client_user(provider.settings.client_id)
    if status == 400 and "grant" in lowered:
        raise StepFailed(
            f"the API client {user} does not allow Client Credentials ({code}): Percolate clients "
            "support one grant type each",
            hint=guide_hint("percolate.client", "Client ID",
                            "use (or create) an API client with the Client Credentials "
                            "(two-legged) grant"))
    if status in (400, 401, 403):
        if "secret" in lowered:
            raise StepFailed(f"Percolate refused the Client Secret for {user} ({code or status})",
                             hint=guide_hint("percolate.secret", "Client Secret",
                                             "copy the API Key again with Show secret"))
        if "client" in lowered:
            raise StepFailed(f"Percolate does not know the Client ID {user} ({code or status}); "
                             "it may be mistyped or the API client was deleted",
                             hint=guide_hint("percolate.client", "Client ID"))
        raise StepFailed(f"Percolate refused the Client ID / Client Secret ({code or status})",
                         hint=guide_hint("percolate.client", "Client ID") + "; also "
                         + guide_hint("percolate.secret", "Client Secret"))
    if status != 200:
        raise StepFailed(f"the token endpoint /auth/v5/token/ answered {status}: this does not "
                         "look like Percolate", hint=URL_HINT)
    token = await provider.tokens.get(http)
    me = await http.request("GET", "/api/v5/me", auth=BearerAuth(token))
    if me.status_code == 429 or me.status_code >= 500:
        raise overloaded(me.status_code, "/api/v5/me")
    if me.status_code in (401, 403):
        raise StepFailed(f"Percolate issued a token but refuses it ({me.status_code}): the login "
                         "is expired or revoked",
                         hint=guide_hint("percolate.secret", "Client Secret",
                                         "check the API client is still active; regenerate the "
                                         "secret if needed"))
    data = (_json(me) or {}).get("data") or {}
    who = f"{data.get('name') or '?'} ({data.get('id') or '?'})" if isinstance(data, dict) else "?"
    step.detail = f"API client {user} signed in; acting as {who}"


async def _scope(provider: PercolateProvider, http: HttpClient, report: CheckReport,
                 step: CheckStep, state: State) -> None:
    scope = provider.settings.scope_id
    response = await provider.api("/api/v5/asset/", {"scope_ids": scope, "limit": 1}, http)
    status = response.status_code
    if status == 429 or status >= 500:
        raise overloaded(status, "/api/v5/asset/")
    code, message = api_error(response)
    if status in (403, 404):
        raise StepFailed(f"Percolate refuses {scope} ({status} {code}): the license ID is wrong, "
                         "or this API client has no access to that license",
                         hint=guide_hint("percolate.scope", "Scope ID"))
    if status == 401:
        raise StepFailed("Percolate refuses the access token even after fetching a new one: the "
                         "login is expired or revoked",
                         hint=guide_hint("percolate.secret", "Client Secret"))
    if status != 200:
        raise StepFailed(f"listing assets of {scope} answered {status} {code}: {message}",
                         hint=guide_hint("percolate.scope", "Scope ID"))
    total = ((_json(response) or {}).get("meta") or {}).get("total")
    state["scope_total"] = total if isinstance(total, int) else None
    step.detail = f"{scope} is readable ({total} assets)"


async def _tag(provider: PercolateProvider, http: HttpClient, report: CheckReport,
               step: CheckStep, state: State) -> None:
    tag = provider.settings.tag
    exact, near = provider.split_terms(await provider.find_terms(http))
    state["exact"] = exact
    everything = 0  # every asset of the scope (the Scope step counted them: same query)
    if near:
        everything = state.get("scope_total") or await provider.count(None, http)
    spellings = sorted(near)
    counts = await asyncio.gather(*(provider.count(near[s], http) for s in spellings))
    for spelling, count in zip(spellings, counts, strict=True):
        if count and count >= everything:  # the term filter is not applied: no true count
            report.warnings.append(f"near miss '{spelling}': its file count is unknown (Percolate "
                                   "did not apply the term filter); it is never imported")
            continue
        if count:
            report.near_misses.append(NearMiss(spelling=spelling, count=count))
    listed = ", ".join(f"'{m.spelling}' ({m.count} files)" for m in report.near_misses)
    if not exact:
        detail = f"no tag named exactly '{tag}' in {provider.settings.scope_id}"
        if listed:
            detail += f"; files carry near misses: {listed}"
        raise StepFailed(detail, hint=guide_hint(
            "percolate.tag", "Tag for Import",
            "write the tag exactly as in Percolate, case and spaces included"))
    step.detail = f"tag '{tag}' is {', '.join(exact)}"
    if listed:
        step.status = "warning"
        step.detail += f"; near misses not imported: {listed}"
        step.hint = guide_hint("percolate.tag", None,
                               "files tagged with another spelling are not imported; retag them "
                               f"'{tag}' in Percolate")


async def _eligible(provider: PercolateProvider, http: HttpClient, report: CheckReport,
                    step: CheckStep, state: State) -> None:
    exact: list[str] = state.get("exact") or []
    tally = await provider.count_eligible(exact) if exact else None
    report.eligible = tally.eligible if tally else 0
    if tally and tally.untagged:
        report.warnings.append(f"Percolate's term filter let {tally.untagged} assets without the "
                               f"tag '{provider.settings.tag}' through; they are not imported")
    if report.eligible < 1:
        report.warnings.append(TAGGED_WARNING)
        raise StepFailed(f"0 files carry the tag '{provider.settings.tag}'. {TAGGED_WARNING}",
                         hint=guide_hint("percolate.tag", "Tag for Import",
                                         "tag at least 1 file in Percolate, then test again"))
    step.detail = f"{report.eligible} files carry the tag '{provider.settings.tag}'"
    if tally and tally.summary():
        step.detail += f" ({tally.summary()})"
