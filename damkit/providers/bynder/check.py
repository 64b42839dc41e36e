"""Bynder "Test Connection": each step timed, each failure with a hint naming the guide step.

Steps, cheapest first:

1. Reach Bynder: ``GET /api/v4/currentUser/`` answers like a Bynder portal (DNS, TLS, connect,
   and "some server, but not Bynder" told apart);
2. Credentials: the same answer, 401 messages tell which key Bynder refused;
3. Permissions (backlink on only): a harmless real probe (list the metaproperties), then the
   security profile's roles; a permission whose role is not found is "not verified" (a
   warning), never "missing", since Bynder's role names are in no public source;
4. Tagged files: the same listing the sync does, each asset's ``tags`` checked (the count is
   what the sync would import; archived and limited-use media as the settings say);
5. Near misses: ``GET /api/v4/tags/?keyword=`` with ``mediaCount``, spellings that differ from
   the tag only in case or spaces;
6. Download: the download URL of the first file the listing found eligible (the sync's own
   path; no second listing).

``ok`` only when nothing failed and at least one file carries the tag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from ...errors import DamkitError, HttpError
from ...redact import redact
from ..base import (
    CheckReport,
    CheckStep,
    Fix,
    NearMiss,
    RemoteAsset,
    Stage,
    StepFailed,
    describe_error,
    run_stages,
)
from ..membership import MembershipUnproven
from . import BACKLINK_PERMISSIONS
from .backlink import permission_table
from .connector import (
    MEDIA,
    METAPROPERTIES,
    diagnose_401,
    field_label,
    guide_hint,
    is_token_response,
    json_body,
    wire_message,
)

if TYPE_CHECKING:
    from .connector import BynderProvider

#: Test Connection answers in seconds: two quick retries, not the sync's patient five.
CHECK_RETRIES = 2

DOMAIN_HINT = guide_hint("bynder.settings", field_label("domain"),
                         "Use your portal's web address, e.g. acme.bynder.com")


def overloaded(response: httpx.Response) -> StepFailed | None:
    """429 / 5xx after every retry: Bynder is throttling or failing, not the settings."""
    status = response.status_code
    if status == 429:
        return StepFailed("Bynder kept answering 429 Too Many Requests after every retry "
                          "(Bynder allows 15 requests a second per client)",
                          "Wait a minute and test again; another program may be using the "
                          "same keys")
    if status >= 500:
        return StepFailed(f"Bynder kept answering {status} {response.reason_phrase} after every "
                          "retry", "Bynder has trouble right now: test again later")
    return None


def transport(exc: HttpError, domain: str) -> StepFailed:
    host = urlsplit(domain).hostname or domain
    detail = {
        "dns": f"the domain {host} does not resolve",
        "tls": f"the secure connection (TLS) to {host} failed",
        "connect": f"nothing answers at {host}",
        "timeout": f"{host} did not answer in time",
    }.get(exc.kind, f"the connection to {host} failed")
    return StepFailed(redact(f"{detail}: {exc.message}"), DOMAIN_HINT)


async def _get(provider: BynderProvider, path: str,
               params: dict[str, Any] | None = None) -> httpx.Response:
    return await provider.http.request("GET", path, params=params,
                                       retries=min(CHECK_RETRIES, provider.http.retries or CHECK_RETRIES))


def looks_like_bynder(response: httpx.Response) -> bool:
    """A Bynder API answer: JSON, and either the user (200) or an error object (401/403/400)."""
    body = json_body(response)
    if not isinstance(body, dict):
        return False
    if response.status_code == 200:
        return "id" in body
    if response.status_code in (400, 401, 403):
        return any(k in body for k in ("message", "error", "statuscode"))
    return False


async def run_check(provider: BynderProvider) -> CheckReport:
    settings = provider.settings
    report = CheckReport(provider="bynder", connection=provider.ctx.name, tag=settings.tag)
    state: dict[str, Any] = {}
    stages = [("Reach Bynder", _reach), ("Credentials", _credentials),
              ("Permissions", _permissions), ("Tagged files", _tagged),
              ("Near misses", _near_misses), ("Download", _download)]

    def describe(exc: DamkitError) -> StepFailed:
        return describe_error(
            exc, site=Fix(step="bynder.settings", field="domain", action=DOMAIN_HINT),
            keys=Fix(step="bynder.keys", action=guide_hint("bynder.keys", None,
                                                           "copy the keys again")),
            access=Fix(step="bynder.backlink", field="backlink",
                       action=guide_hint("bynder.backlink", None, "check the permissions")))

    def bind(stage: Any) -> Stage:
        return lambda step: stage(provider, report, step, state)

    # Without reaching Bynder or with refused keys nothing else can be learnt; a missing
    # permission or zero tagged files still lets the other steps say what they see.
    return await run_stages(report, [(n, bind(st)) for n, st in stages], describe=describe,
                            stop_on_failure=lambda name: name in ("Reach Bynder", "Credentials"))


async def _reach(provider: BynderProvider, report: CheckReport, step: CheckStep,
                 state: dict[str, Any]) -> None:
    try:
        response = await _get(provider, "/api/v4/currentUser/")
    except HttpError as exc:
        raise transport(exc, provider.settings.domain) from None
    state["user_response"] = response
    host = urlsplit(provider.settings.domain).hostname or provider.settings.domain
    busy = overloaded(response)
    if busy is not None:
        raise busy
    if not looks_like_bynder(response):
        kind = response.headers.get("content-type", "?").split(";")[0]
        raise StepFailed(f"{host} answered (HTTP {response.status_code}, {kind}) but not like a "
                         "Bynder portal's API", DOMAIN_HINT)
    step.detail = f"{host} answers like a Bynder portal"


async def _credentials(provider: BynderProvider, report: CheckReport, step: CheckStep,
                       state: dict[str, Any]) -> None:
    response: httpx.Response = state["user_response"]
    status = response.status_code
    if status == 401 or (is_token_response(response) and status in (400, 401, 403)):
        detail, hint = diagnose_401(provider.settings, response)
        raise StepFailed(detail, hint)
    if status == 403:
        raise StepFailed(f"the keys work, but may not read the current user "
                         f"({wire_message(response) or '403'})",
                         guide_hint("bynder.keys", None,
                                    "The token's user or scopes lack current.user:read"))
    user = json_body(response) or {}
    state["user"] = user
    who = user.get("username") or user.get("email") or user.get("id")
    step.detail = f"accepted ({provider.settings.auth}), acting as the portal user {who}"


async def _permissions(provider: BynderProvider, report: CheckReport, step: CheckStep,
                       state: dict[str, Any]) -> None:
    if not provider.settings.backlink:
        raise StepFailed("backlink is off: only reading and downloading are needed",
                         status="skipped")
    hint = guide_hint("bynder.backlink", None,
                      "Give the keys' portal user these permissions, or turn off "
                      + field_label("backlink"))
    # A harmless real probe: the backlink must find its metaproperty, so it must list them.
    listed = await _get(provider, METAPROPERTIES, params={"options": 0})
    busy = overloaded(listed)
    if busy is not None:
        raise busy
    if listed.status_code in (401, 403):
        report.permissions = {name: None for name in BACKLINK_PERMISSIONS}
        raise StepFailed(f"Bynder refused to list the metaproperties (HTTP {listed.status_code}): "
                         "the backlink could not find or create its metaproperty", hint)
    # Bynder's security-profile role names are in no public source: a role found under the
    # names damkit guesses counts as found, anything else is "not verified", never "missing".
    table: dict[str, bool | None] = {name: None for name in BACKLINK_PERMISSIONS}
    profile_id = state.get("user", {}).get("profileId")
    if profile_id:
        response = await _get(provider, f"/api/v4/profiles/{quote(str(profile_id))}/")
        busy = overloaded(response)
        if busy is not None:
            raise busy
        if response.status_code == 200:
            roles = {str(r) for r in (json_body(response) or {}).get("roles") or []}
            table.update({n: True for n, ok in permission_table(roles).items() if ok})
    state["permissions"] = table
    report.permissions = dict(table)
    found = [n for n, ok in table.items() if ok]
    unknown = [n for n, ok in table.items() if ok is None]
    step.detail = "found: " + (", ".join(found) or "none")
    if unknown:
        step.status = "warning"
        step.detail += ("; not verified: " + ", ".join(unknown) + " (Bynder's permission names "
                        "are not public; the backlink's first write proves them, and a refusal "
                        "is reported per file)")
        step.hint = hint


async def _tagged(provider: BynderProvider, report: CheckReport, step: CheckStep,
                  state: dict[str, Any]) -> None:
    tag = provider.settings.tag
    if "," in tag:
        report.warnings.append(f"the tag '{tag}' contains a comma: Bynder's tag filter splits "
                               "on commas, so the count may be wrong")
    try:  # the listing the sync does (its count_eligible), keeping the first file for Download
        async for page in provider.list_assets():
            state.setdefault("first", page[0])
        tally = provider.tally
    except MembershipUnproven as exc:  # the DAM answered: say what it lacks, not "unreachable"
        raise StepFailed(exc.message, exc.hint) from None
    count = tally.eligible
    left_out = {k: v for k, v in tally.excluded.items() if v}
    if tally.untagged:
        report.warnings.append(f"Bynder's tag filter let {tally.untagged} media without the tag "
                               f"'{tag}' through; they are not imported")
    setting = {"archived": "include_archived", "limited use": "include_limited"}
    for reason, n in sorted(left_out.items()):
        report.warnings.append(f"{n} media carrying the tag are {reason} and are not imported "
                               f"(setting {field_label(setting.get(reason, 'tag'))})")
    if not provider.settings.include_limited and "limited use" not in left_out:
        limited = await _get(provider, MEDIA, params={"tags": tag, "limited": 1, "limit": 0,
                                                      "total": 1})
        hidden = (json_body(limited) or {}) if limited.status_code == 200 else {}
        limited_count = hidden.get("total", {}).get("count") if isinstance(hidden, dict) else None
        if isinstance(limited_count, int) and limited_count:
            report.warnings.append(f"Bynder counts {limited_count} limited-use media with the tag; they are "
                                   f"not imported (setting {field_label('include_limited')})")
    report.eligible = count
    state["eligible"] = count
    if count == 0:
        state["zero_step"] = step
        raise StepFailed(f"no file carries the tag '{tag}' exactly (tags are case sensitive)",
                         guide_hint("bynder.tagging", None,
                                    f"Tag at least one file with '{tag}' in Bynder, or fix "
                                    + field_label("tag")))
    step.detail = f"{count} file(s) carry the tag '{tag}'"
    if tally.summary():
        step.detail += f" ({tally.summary()})"


async def _near_misses(provider: BynderProvider, report: CheckReport, step: CheckStep,
                       state: dict[str, Any]) -> None:
    tag = provider.settings.tag
    wanted = tag.strip().casefold()
    response = await _get(provider, "/api/v4/tags/", params={
        "keyword": tag.strip(), "limit": 1000, "orderBy": "mediaCount desc"})
    if response.status_code != 200 or not isinstance(json_body(response), list):
        raise StepFailed(f"the tag list could not be read (HTTP {response.status_code}); near "
                         "misses not checked", status="warning")
    misses = [NearMiss(spelling=str(row["tag"]), count=int(row.get("mediaCount") or 0))
              for row in json_body(response)
              if isinstance(row, dict) and isinstance(row.get("tag"), str)
              and row["tag"] != tag and row["tag"].strip().casefold() == wanted
              and int(row.get("mediaCount") or 0) > 0]
    report.near_misses = misses
    if not misses:
        step.detail = "no other spelling of the tag is in use"
        return
    listing = ", ".join(f"'{m.spelling}' ({m.count})" for m in misses)
    zero: CheckStep | None = state.get("zero_step")
    if zero is not None:
        zero.detail += f"; but files carry near misses: {listing}"
        zero.hint = guide_hint("bynder.tagging", None,
                               f"Tags are case sensitive: retag those files with '{tag}' in "
                               f"Bynder, or set {field_label('tag')} to the spelling in use")
    raise StepFailed(f"{sum(m.count for m in misses)} file(s) carry the tag spelt otherwise, "
                     f"and are NOT synced: {listing}",
                     guide_hint("bynder.tagging", None,
                                f"Tags are case sensitive: retag those files with '{tag}'"),
                     status="warning")


async def _download(provider: BynderProvider, report: CheckReport, step: CheckStep,
                    state: dict[str, Any]) -> None:
    first: RemoteAsset | None = state.get("first")
    if not state.get("eligible") or first is None:
        raise StepFailed("no tagged file to try", status="skipped")
    response = await _get(provider, f"{MEDIA}{quote(first.id, safe='')}/download/")
    busy = overloaded(response)
    if busy is not None:
        raise busy
    if response.status_code == 403:
        if report.permissions is not None:
            report.permissions["Download original"] = False  # a real refusal, not a guess
        raise StepFailed("Bynder refused the download URL: the keys' user lacks the permission "
                         "Download original",
                         guide_hint("bynder.backlink", None, "The keys need the permission "
                                    "Download original for the sync to work"))
    body = json_body(response)
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("s3_file"):
        raise StepFailed(f"Bynder gave no download URL (HTTP {response.status_code})")
    step.detail = "the first tagged file has a download URL"
