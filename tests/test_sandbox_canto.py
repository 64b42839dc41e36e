"""The Canto emulator over real HTTP: OAuth (consent page, token endpoint, PKCE, rotation),
search, assets, binaries, 404/401 rules and the revoke/expire hooks."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from damkit.sandbox import Sandbox
from damkit.sandbox.canto import consent, parse_consent_form, s256

from canto_support import emulator, manifest_of

VERIFIER = "v" * 60
REDIRECT = "http://127.0.0.1:45999/canto/callback"


@pytest.fixture(scope="module")
def sb(sandbox: Sandbox) -> Sandbox:
    return sandbox


def authorize_url(m: dict[str, Any], **override: str) -> str:
    params = {"response_type": "code", "app_id": m["app_id"], "redirect_uri": REDIRECT,
              "state": "st-123", "code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}
    params.update(override)
    return f"{m['domain']}/oauth/api/oauth2/authorize?{urlencode(params)}"


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def get_code(m: dict[str, Any], **override: str) -> str:
    return query_of(consent(authorize_url(m, **override)))["code"]


def exchange(m: dict[str, Any], code: str, *, form: bool = False, **extra: str) -> httpx.Response:
    params = {"app_id": m["app_id"], "app_secret": m["app_secret"],
              "grant_type": "authorization_code", "code": code, "code_verifier": VERIFIER,
              "redirect_uri": REDIRECT, **extra}
    url = f"{m['domain']}/oauth/api/oauth2/token"
    if form:
        return httpx.post(url, data=params)
    return httpx.post(url, params=params)  # Canto's documented way: query string, empty body


def tokens(m: dict[str, Any]) -> dict[str, Any]:
    response = exchange(m, get_code(m))
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- manifest, ids ------------------------------------------------------------------------------


def test_manifest_has_settings_and_eligible(sb: Sandbox) -> None:
    m = manifest_of(sb)
    assert set(m) == {"domain", "app_id", "app_secret", "keyword", "eligible"}
    assert m["domain"] == f"{sb.url}/canto"
    assert m["eligible"] == sb.state.catalog("canto").eligible() > 0
    for key in list(sb.state.catalog("canto").assets)[:50]:
        assert re.fullmatch(r"[a-z0-9]{26}", key)


# --- OAuth --------------------------------------------------------------------------------------


def test_consent_page_is_a_form_with_library_choice(sb: Sandbox) -> None:
    m = manifest_of(sb)
    page = httpx.get(authorize_url(m))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Main Library" in page.text and "Allow" in page.text and "Deny" in page.text
    action, fields = parse_consent_form(page.text, str(page.url))
    assert action.endswith("/oauth/api/oauth2/authorize") and fields["consent_id"]
    answer = httpx.post(action, data={**fields, "library": "Main Library", "decision": "allow"})
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    assert query_of(location)["state"] == "st-123" and query_of(location)["code"]
    # The consent form is single use.
    again = httpx.post(action, data={**fields, "decision": "allow"})
    assert again.status_code == 400


def test_deny_redirects_with_access_denied_and_state(sb: Sandbox) -> None:
    location = consent(authorize_url(manifest_of(sb), state="s-deny"), allow=False)
    q = query_of(location)
    assert q["error"] == "access_denied" and q["state"] == "s-deny" and "code" not in q


@pytest.mark.parametrize("override, text", [
    ({"app_id": "not-an-app"}, "Unknown app_id"),
    ({"redirect_uri": "https://evil.example.com/cb"}, "redirect_uri"),
    ({"response_type": "token"}, "response_type"),
])
def test_authorize_refuses_bad_requests_without_redirecting(sb: Sandbox, override: dict[str, str],
                                                            text: str) -> None:
    page = httpx.get(authorize_url(manifest_of(sb), **override))
    assert page.status_code == 400 and text in page.text
    assert "location" not in page.headers


def test_code_exchange_query_and_form_camel_case(sb: Sandbox) -> None:
    m = manifest_of(sb)
    for form in (False, True):
        response = exchange(m, get_code(m), form=form)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"accessToken", "refreshToken", "expiresIn", "tokenType"}
        assert body["tokenType"] == "Bearer" and body["expiresIn"] == 30 * 24 * 3600


def test_code_is_single_use_and_replay_revokes(sb: Sandbox) -> None:
    m = manifest_of(sb)
    code = get_code(m)
    first = exchange(m, code).json()
    assert httpx.get(f"{m['domain']}/api/v1/user", headers=bearer(first["accessToken"])).status_code == 200
    replay = exchange(m, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: tokens issued from a replayed code are revoked.
    assert httpx.get(f"{m['domain']}/api/v1/user", headers=bearer(first["accessToken"])).status_code == 401


@pytest.mark.parametrize("extra", [{"code_verifier": "w" * 60}, {"code_verifier": ""},
                                   {"redirect_uri": "http://127.0.0.1:1/other"}])
def test_pkce_and_redirect_uri_are_verified(sb: Sandbox, extra: dict[str, str]) -> None:
    m = manifest_of(sb)
    response = exchange(m, get_code(m), **extra)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_without_challenge_no_verifier_needed(sb: Sandbox) -> None:
    m = manifest_of(sb)
    code = get_code(m, code_challenge="", code_challenge_method="")
    assert exchange(m, code, code_verifier="").status_code == 200


@pytest.mark.parametrize("field, value, words", [("app_id", "nope", "app_id"),
                                                  ("app_secret", "nope", "app_secret")])
def test_bad_app_credentials_are_invalid_client(sb: Sandbox, field: str, value: str,
                                                words: str) -> None:
    m = manifest_of(sb)
    response = exchange(m, get_code(m), **{field: value})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client" and words in response.json()["error_description"]


def test_refresh_rotates_and_old_refresh_token_dies(sb: Sandbox) -> None:
    m = manifest_of(sb)
    first = tokens(m)
    url = f"{m['domain']}/oauth/api/oauth2/token"
    base = {"app_id": m["app_id"], "app_secret": m["app_secret"], "grant_type": "refresh_token"}
    second = httpx.post(url, params={**base, "refresh_token": first["refreshToken"]})
    assert second.status_code == 200
    body = second.json()
    assert body["refreshToken"] != first["refreshToken"]
    assert body["accessToken"] != first["accessToken"]
    old = httpx.post(url, data={**base, "refresh_token": first["refreshToken"]})
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
    third = httpx.post(url, data={**base, "refresh_token": body["refreshToken"]})
    assert third.status_code == 200


def test_compatible_endpoint_is_snake_case(sb: Sandbox) -> None:
    m = manifest_of(sb)
    response = httpx.post(f"{m['domain']}/oauth/api/oauth2/compatible/token", params={
        "app_id": m["app_id"], "app_secret": m["app_secret"], "grant_type": "authorization_code",
        "code": get_code(m), "code_verifier": VERIFIER})
    assert response.status_code == 200
    assert {"access_token", "refresh_token", "expires_in", "token_type"} <= set(response.json())


# --- the tenant API -----------------------------------------------------------------------------


def test_missing_token_404_bad_token_401_and_token_forms(sb: Sandbox) -> None:
    m = manifest_of(sb)
    token = tokens(m)["accessToken"]
    user = f"{m['domain']}/api/v1/user"
    assert httpx.get(user).status_code == 404
    assert httpx.get(user, headers=bearer("nope-nope")).status_code == 401
    assert httpx.get(user, headers={"Authorization": f"bearer {token}"}).status_code == 200
    assert httpx.get(user, params={"access_token": token}).status_code == 200
    assert httpx.get(user + "/", headers=bearer(token)).json()["email"]


def test_search_exact_paging_and_shape(sb: Sandbox) -> None:
    m = manifest_of(sb)
    h = bearer(tokens(m)["accessToken"])
    url = f"{m['domain']}/api/v1/search"
    exact = {"keywords": m["keyword"], "exactMatch": "true"}
    count = httpx.get(url, params={**exact, "limit": 0}, headers=h).json()
    assert count["found"] == m["eligible"] and "results" not in count
    one = httpx.get(url + "/", params={**exact, "limit": 1}, headers=h).json()
    assert len(one["results"]) == 1 and one["found"] == m["eligible"]
    ids: list[str] = []
    start = 0
    while start < m["eligible"]:
        page = httpx.get(url, params={**exact, "start": start, "limit": 50}, headers=h).json()
        assert page["start"] == start and page["limit"] == 50
        ids += [r["id"] for r in page["results"]]
        start += 50
    assert len(ids) == len(set(ids)) == m["eligible"]
    item = one["results"][0]
    assert m["keyword"] in item["keyword"] and isinstance(item["tag"], list)
    assert re.fullmatch(r"\d{17}", item["time"]) and re.fullmatch(r"\d{17}", item["created"])
    assert item["size"].isdigit() and item["url"]["download"].startswith(m["domain"] + "/api_binary/v1/")
    assert item["scheme"] in ("image", "document") and item["approvalStatus"] == "Approved"


def test_search_limit_is_clamped_to_1000(fresh_sandbox: Callable[..., Sandbox]) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=1300)
    m = manifest_of(sb)
    page = httpx.get(f"{m['domain']}/api/v1/search", params={"limit": 5000},
                     headers=bearer(tokens(m)["accessToken"])).json()
    assert page["limit"] == 1000 and len(page["results"]) == 1000 and page["found"] == 1300


def test_loose_search_finds_near_misses(sb: Sandbox) -> None:
    m = manifest_of(sb)
    h = bearer(tokens(m)["accessToken"])
    loose = httpx.get(f"{m['domain']}/api/v1/search",
                      params={"keywords": m["keyword"], "limit": 1000}, headers=h).json()
    near = sb.state.catalog("canto").near_misses()
    assert near and loose["found"] == m["eligible"] + sum(near.values())
    spellings = {k for r in loose["results"] for k in r["keyword"]}
    assert set(near) <= spellings


def test_detail_binary_and_signed_file(sb: Sandbox) -> None:
    m = manifest_of(sb)
    h = bearer(tokens(m)["accessToken"])
    catalog = sb.state.catalog("canto")
    asset = catalog.tagged(m["keyword"])[0]
    scheme = "image" if asset.ext in ("png", "jpg") else "document"
    other = "document" if scheme == "image" else "image"
    detail = httpx.get(f"{m['domain']}/api/v1/{scheme}/{asset.key}", headers=h)
    assert detail.status_code == 200 and detail.json()["id"] == asset.key
    assert httpx.get(f"{m['domain']}/api/v1/{other}/{asset.key}", headers=h).status_code == 404
    binary = httpx.get(detail.json()["url"]["download"], headers=h)
    assert binary.status_code == 302
    target = binary.headers["location"]
    assert "/canto/_files/" in target
    data = httpx.get(target)  # a direct URL: no token needed
    assert data.status_code == 200 and data.content == catalog.content(asset)
    assert httpx.get(target.replace("sig=", "sig=0")).status_code == 403
    assert httpx.get(detail.json()["url"]["download"]).status_code == 404  # binary needs a token


def test_revoke_and_expire_hooks(fresh_sandbox: Callable[..., Sandbox]) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=20)  # not the shared one: kills every token
    m = manifest_of(sb)
    body = tokens(m)
    user = f"{m['domain']}/api/v1/user"
    token_url = f"{m['domain']}/oauth/api/oauth2/token"
    refresh = {"app_id": m["app_id"], "app_secret": m["app_secret"],
               "grant_type": "refresh_token", "refresh_token": body["refreshToken"]}
    httpx.post(f"{sb.url}/canto/_expire").raise_for_status()
    assert httpx.get(user, headers=bearer(body["accessToken"])).status_code == 401
    renewed = httpx.post(token_url, data=refresh)
    assert renewed.status_code == 200  # expired access, refresh still good
    httpx.post(f"{sb.url}/canto/_revoke").raise_for_status()
    assert httpx.get(user, headers=bearer(renewed.json()["accessToken"])).status_code == 401
    again = httpx.post(token_url, data={**refresh, "refresh_token": renewed.json()["refreshToken"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_token_ttl_from_config(fresh_sandbox: Callable[..., Sandbox]) -> None:
    sb = fresh_sandbox(providers=("canto",), assets=20, extra={"canto_token_ttl": 1})
    m = manifest_of(sb)
    body = tokens(m)
    assert body["expiresIn"] == 1
    user = f"{m['domain']}/api/v1/user"
    assert httpx.get(user, headers=bearer(body["accessToken"])).status_code == 200
    time.sleep(1.1)
    assert httpx.get(user, headers=bearer(body["accessToken"])).status_code == 401
    assert emulator(sb).token_ttl == 1
