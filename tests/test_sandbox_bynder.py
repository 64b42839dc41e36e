"""The Bynder emulator's wire format over real HTTP, with plain httpx and oauthlib signing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from oauthlib.oauth1 import Client

from damkit.sandbox import Sandbox
from damkit.sandbox.bynder import BynderEmulator

ID_RE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{16}$")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    # no rate limit here (many quick calls); test_rate_limit_* run their own sandboxes
    with Sandbox(providers=("bynder",), assets=300, rate_limit=None) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def m(sb: Sandbox) -> dict[str, Any]:
    return dict(httpx.get(sb.manifest_url).json()["providers"]["bynder"])


def emulator(sandbox: Sandbox) -> BynderEmulator:
    emu = sandbox.state.emulators["bynder"]
    assert isinstance(emu, BynderEmulator)
    return emu


def oauth(m: dict[str, Any], **override: Any) -> Client:
    keys = {"client_key": m["consumer_key"], "client_secret": m["consumer_secret"],
            "resource_owner_key": m["token_key"], "resource_owner_secret": m["token_secret"]}
    keys.update(override)
    return Client(**keys)


def signed(m: dict[str, Any], method: str, path: str, params: dict[str, Any] | None = None,
           form: dict[str, str] | None = None, client: Client | None = None) -> httpx.Response:
    url = m["domain"] + path + (("?" + urlencode(params)) if params else "")
    body = urlencode(form) if form is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
    uri, headers, body = (client or oauth(m)).sign(url, method, body=body, headers=headers)
    return httpx.request(method, uri, headers=headers, content=body)


def bearer(m: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {m['permanent_token']}"}


# --- manifest, shapes, paging -------------------------------------------------------------------

def test_manifest_is_what_a_user_types(m: dict[str, Any], sb: Sandbox) -> None:
    assert set(m) == {"domain", "tag", "auth", "consumer_key", "consumer_secret", "token_key",
                      "token_secret", "permanent_token", "eligible"}
    assert m["domain"] == f"{sb.url}/bynder" and m["auth"] == "oauth1"
    assert ID_RE.match(m["consumer_key"]) and ID_RE.match(m["token_key"])
    assert m["eligible"] == sb.state.catalog("bynder").eligible() > 0


def test_asset_ids_are_bynder_format(sb: Sandbox) -> None:
    keys = list(sb.state.catalog("bynder").assets)
    assert all(ID_RE.match(k) for k in keys) and len(set(keys)) == len(keys)


def test_default_shape_is_an_array_of_50(m: dict[str, Any]) -> None:
    r = signed(m, "GET", "/api/v4/media/")
    assert r.status_code == 200
    media = r.json()
    assert isinstance(media, list) and len(media) == 50
    first = media[0]
    assert ID_RE.match(first["id"]) and isinstance(first["extension"], list)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["dateModified"])
    assert first["archive"] in (0, 1) and isinstance(first["fileSize"], int)


def test_total_count_and_count_only(m: dict[str, Any]) -> None:
    total = signed(m, "GET", "/api/v4/media/", {"tags": m["tag"], "total": 1, "limit": 10}).json()
    assert total["total"] == {"count": m["eligible"]} and len(total["media"]) == 10
    count = signed(m, "GET", "/api/v4/media/", {"tags": m["tag"], "count": 1, "limit": 5}).json()
    assert count["count"]["total"] == m["eligible"] and len(count["media"]) == 5
    only = signed(m, "GET", "/api/v4/media", {"tags": m["tag"], "limit": 0, "total": 1})
    assert only.json() == {"total": {"count": m["eligible"]}, "media": []}


def test_paging_covers_every_tagged_asset_once(m: dict[str, Any]) -> None:
    seen: list[str] = []
    page = 1
    while True:
        batch = signed(m, "GET", "/api/v4/media/",
                       {"tags": m["tag"], "limit": 64, "page": page}).json()
        assert all(m["tag"] in a["tags"] for a in batch)
        seen += [a["id"] for a in batch]
        if len(batch) < 64:
            break
        page += 1
    assert len(seen) == len(set(seen)) == m["eligible"]
    assert page == m["eligible"] // 64 + 1


def test_limit_clamped_and_page_from_one(m: dict[str, Any]) -> None:
    big = signed(m, "GET", "/api/v4/media/", {"limit": 5000})
    assert big.status_code == 200 and len(big.json()) == 300  # clamped to 1000; 300 exist
    assert signed(m, "GET", "/api/v4/media/", {"page": 0}).status_code == 400
    assert signed(m, "GET", "/api/v4/media/", {"limit": "x"}).status_code == 400


def test_tag_filter_is_exact(m: dict[str, Any], sb: Sandbox) -> None:
    lower = signed(m, "GET", "/api/v4/media/", {"tags": m["tag"].lower(), "total": 1,
                                                 "limit": 1000}).json()
    near = sb.state.catalog("bynder").near_misses()
    assert lower["total"]["count"] == near[m["tag"].lower()] < m["eligible"]
    assert all(m["tag"].lower() in a["tags"] and m["tag"] not in a["tags"]
               for a in lower["media"])


def test_single_asset_items_and_404(m: dict[str, Any], sb: Sandbox) -> None:
    asset = sb.state.catalog("bynder").tagged(m["tag"])[0]
    r = signed(m, "GET", f"/api/v4/media/{asset.key}/", {"versions": 1})
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == asset.key and body["mediaItems"][0]["fileName"] == asset.name
    assert body["activeVersion"] == asset.version
    bare = signed(m, "GET", f"/api/v4/media/{asset.key}")  # no trailing slash
    assert bare.status_code == 200 and "mediaItems" not in bare.json()
    missing = signed(m, "GET", "/api/v4/media/00000000-0000-0000-0000000000000000/")
    assert missing.status_code == 404 and missing.json()["statuscode"] == 404


def test_archived_and_deleted(m: dict[str, Any], sb: Sandbox) -> None:
    made = sb.control("POST", "bynder/assets", json={"name": "arch.png", "tags": [m["tag"]]})
    key = made["key"]
    try:
        sb.control("POST", f"bynder/assets/{key}/archive", json={"archived": True})
        # the real API: archive=0 (or none) means no filtering; archive=1 only archived
        for params in ({}, {"archive": 0}):
            listed = signed(m, "GET", "/api/v4/media/",
                            {"tags": m["tag"], "limit": 1000, **params}).json()
            assert {a["id"]: a["archive"] for a in listed}[key] == 1
        one = signed(m, "GET", f"/api/v4/media/{key}/").json()
        assert one["archive"] == 1
        archived = signed(m, "GET", "/api/v4/media/", {"tags": m["tag"], "archive": 1}).json()
        assert [a["id"] for a in archived] == [key]
        sb.set_switches("bynder", "hide_archived")  # the opposite guess
        listed = signed(m, "GET", "/api/v4/media/", {"tags": m["tag"], "limit": 1000}).json()
        assert key not in {a["id"] for a in listed}
    finally:
        sb.set_switches("bynder")
        sb.control("POST", f"bynder/assets/{key}/delete")
    assert signed(m, "GET", f"/api/v4/media/{key}/").status_code == 404


def test_limited_media_are_listed_only_with_limited_1(m: dict[str, Any], sb: Sandbox) -> None:
    made = sb.control("POST", "bynder/assets", json={"name": "limited.png", "tags": [m["tag"]]})
    key = made["key"]
    try:
        sb.control("POST", f"bynder/assets/{key}/limit", json={"limited": True})
        listed = signed(m, "GET", "/api/v4/media/", {"tags": m["tag"], "limit": 1000}).json()
        assert key not in {a["id"] for a in listed}
        only = signed(m, "GET", "/api/v4/media/", {"tags": m["tag"], "limited": 1}).json()
        assert [(a["id"], a["limited"]) for a in only] == [(key, 1)]
        sb.set_switches("bynder", "limited_included")
        listed = signed(m, "GET", "/api/v4/media/", {"tags": m["tag"], "limit": 1000}).json()
        assert key in {a["id"] for a in listed}
    finally:
        sb.set_switches("bynder")
        sb.control("POST", f"bynder/assets/{key}/delete")


def test_switches_ignore_the_tag_filter_and_omit_tags(m: dict[str, Any], sb: Sandbox) -> None:
    try:
        sb.set_switches("bynder", "ignore_tag_filter", "omit_membership")
        body = signed(m, "GET", "/api/v4/media/",
                      {"tags": m["tag"], "limit": 0, "total": 1}).json()
        assert body["total"]["count"] > m["eligible"]
        listed = signed(m, "GET", "/api/v4/media/", {"tags": m["tag"], "limit": 5}).json()
        assert listed and all("tags" not in a for a in listed)
    finally:
        sb.set_switches("bynder")


def test_download_is_an_unauthenticated_signed_s3_url(m: dict[str, Any], sb: Sandbox) -> None:
    asset = sb.state.catalog("bynder").tagged(m["tag"])[3]
    r = signed(m, "GET", f"/api/v4/media/{asset.key}/download/")
    assert r.status_code == 200
    url = r.json()["s3_file"]
    assert urlsplit(url).path.startswith("/bynder/_s3/")
    got = httpx.get(url)
    assert got.status_code == 200
    truth = httpx.get(f"{sb.url}/_sandbox/bynder/assets/{asset.key}/content").content
    assert got.content == truth
    assert len(got.content) == asset.size
    # S3 refuses a second auth mechanism, and a tampered signature
    assert httpx.get(url, headers=bearer(m)).status_code == 400
    assert httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0")).status_code == 403
    partial = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert partial.status_code == 206 and partial.content == got.content[10:20]
    assert signed(m, "GET", "/api/v4/media/00000000-0000-0000-0000000000000000/download/"
                  ).status_code == 404


# --- auth ---------------------------------------------------------------------------------------

def test_oauth1_failures_have_distinct_messages(m: dict[str, Any]) -> None:
    cases = {
        "Unknown consumer key": oauth(m, client_key="AAAAAAAA-AAAA-AAAA-AAAAAAAAAAAAAAAA"),
        "Unknown access token": oauth(m, resource_owner_key="BBBBBBBB-BBBB-BBBB-BBBBBBBBBBBBBBBB"),
        "Invalid signature": oauth(m, client_secret="wrong-consumer-secret"),
    }
    for message, client in cases.items():
        r = signed(m, "GET", "/api/v4/currentUser/", client=client)
        assert r.status_code == 401 and r.json()["message"] == message
    wrong_token_secret = signed(m, "GET", "/api/v4/currentUser/",
                                client=oauth(m, resource_owner_secret="wrong"))
    assert wrong_token_secret.status_code == 401
    assert wrong_token_secret.json()["message"] == "Invalid signature"
    assert httpx.get(m["domain"] + "/api/v4/currentUser/").status_code == 401


def test_oauth1_nonce_reuse_and_stale_timestamp(m: dict[str, Any]) -> None:
    uri, headers, _ = oauth(m).sign(m["domain"] + "/api/v4/currentUser/", "GET")
    assert httpx.get(uri, headers=headers).status_code == 200
    replay = httpx.get(uri, headers=headers)
    assert replay.status_code == 401 and replay.json()["message"] == "Nonce already used"
    stale = oauth(m, timestamp=str(int(time.time()) - 3600))
    r = signed(m, "GET", "/api/v4/currentUser/", client=stale)
    assert r.status_code == 401 and r.json()["message"].startswith("Timestamp out of range")


def test_oauth1_signs_query_and_form_body(m: dict[str, Any], sb: Sandbox) -> None:
    r = signed(m, "GET", "/api/v4/media/", {"keyword": "a b+c", "tags": m["tag"], "limit": 1})
    assert r.status_code == 200
    asset = sb.state.catalog("bynder").tagged(m["tag"])[5]
    mp_id = next(mp["id"] for mp in signed(m, "GET", "/api/v4/metaproperties/").json().values()
                 if mp["name"] == "campaign")
    form = {f"metaproperty.{mp_id}": "Spring & summer = 50%"}
    ok = signed(m, "POST", f"/api/v4/media/{asset.key}/", form=form)
    assert ok.status_code == 202
    # a body changed after signing is refused
    url = f"{m['domain']}/api/v4/media/{asset.key}/"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    uri, headers, _body = oauth(m).sign(url, "POST", body=urlencode(form), headers=headers)
    tampered = httpx.post(uri, headers=headers, content=urlencode({f"metaproperty.{mp_id}": "x"}))
    assert tampered.status_code == 401 and tampered.json()["message"] == "Invalid signature"
    read = signed(m, "GET", f"/api/v4/media/{asset.key}/").json()
    assert read["property_campaign"] == "Spring & summer = 50%"


def test_bearer_and_client_credentials(m: dict[str, Any], sb: Sandbox) -> None:
    assert httpx.get(m["domain"] + "/api/v4/currentUser/", headers=bearer(m)).status_code == 200
    bad = httpx.get(m["domain"] + "/api/v4/currentUser/", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    creds = emulator(sb).creds
    token_url = m["domain"] + "/v6/authentication/oauth2/token"
    body = httpx.post(token_url, data={"grant_type": "client_credentials",
                                       "client_id": creds.client_id,
                                       "client_secret": creds.client_secret})
    basic = httpx.post(token_url, data={"grant_type": "client_credentials"},
                       auth=(creds.client_id, creds.client_secret))
    for r in (body, basic):
        assert r.status_code == 200 and r.json()["token_type"] == "bearer"
        assert 3000 < r.json()["expires_in"] <= 3600
        user = httpx.get(m["domain"] + "/api/v4/currentUser",
                         headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert user.status_code == 200
    wrong = httpx.post(token_url, data={"grant_type": "client_credentials",
                                        "client_id": creds.client_id, "client_secret": "x"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    grant = httpx.post(token_url, data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def test_revoked_credential(m: dict[str, Any]) -> None:
    revoke = m["domain"] + "/_sandbox/revoke"
    assert httpx.post(revoke, json={"credential": "permanent_token"}).status_code == 200
    try:
        r = httpx.get(m["domain"] + "/api/v4/currentUser/", headers=bearer(m))
        assert r.status_code == 401 and r.json()["message"] == "Access token revoked"
    finally:
        httpx.post(revoke, json={"credential": "permanent_token", "revoked": False})
    assert httpx.get(m["domain"] + "/api/v4/currentUser/", headers=bearer(m)).status_code == 200


# --- rate limit ---------------------------------------------------------------------------------

def test_rate_limit_429_with_retry_after() -> None:
    with Sandbox(providers=("bynder",), assets=20, rate_limit=15) as sandbox:
        check_rate_limit(sandbox.manifest()["providers"]["bynder"], sandbox)


def check_rate_limit(m: dict[str, Any], sb: Sandbox) -> None:
    """A burst beyond the bucket draws 429 with Retry-After: 1 in Bynder's error shape.

    Only the shape is asserted here: how many of the 40 pass depends on how fast this machine
    sends them (the bucket refills at 15/s), so the counts are bounds, not figures.
    """
    creds = emulator(sb).creds
    token = httpx.post(m["domain"] + "/v6/authentication/oauth2/token",
                       data={"grant_type": "client_credentials", "client_id": creds.client_id,
                             "client_secret": creds.client_secret}).json()["access_token"]
    url = m["domain"] + "/api/v4/currentUser/"
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client, \
            ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.get(url), range(40)))
    statuses = [a.status_code for a in answers]
    assert set(statuses) == {200, 429} and statuses.count(200) >= 15
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["Retry-After"] == "1" and limited.json()["statuscode"] == 429
    time.sleep(1.1)  # refilled after a second
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_rate_limit_is_per_ip_not_per_credential() -> None:
    """Bynder limits per IP address (shared/providers/bynder.md), so a second credential from the
    same address is limited too, and another address is not. One request a second keeps the
    refill far slower than the three requests below, whatever the machine's load."""
    with Sandbox(providers=("bynder",), assets=5, rate_limit=1) as sandbox:
        m = sandbox.manifest()["providers"]["bynder"]
        creds = emulator(sandbox).creds
        url = m["domain"] + "/api/v4/currentUser/"
        with httpx.Client() as client:
            token = client.post(m["domain"] + "/v6/authentication/oauth2/token",
                                data={"grant_type": "client_credentials",
                                      "client_id": creds.client_id,
                                      "client_secret": creds.client_secret}).json()["access_token"]
            # the token request above spent the address's one token
            assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 429
            assert client.get(url, headers=bearer(m)).status_code == 429
        # 127.0.0.2 is loopback too on Linux: another address has its own bucket
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=other) as client:
            assert client.get(url, headers=bearer(m)).status_code == 200


def test_rate_limit_off() -> None:
    with Sandbox(providers=("bynder",), assets=20, rate_limit=None) as sandbox:
        mm = sandbox.manifest()["providers"]["bynder"]
        with httpx.Client(headers=bearer(mm)) as client, ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: client.get(mm["domain"] + "/api/v4/brands/"),
                                    range(40)))
        assert {a.status_code for a in answers} == {200}


# --- metaproperties, users, permissions, tags --------------------------------------------------

def test_metaproperty_create_set_read(m: dict[str, Any], sb: Sandbox) -> None:
    data = json.dumps({"name": "emu_backlink", "label": "Emu backlink", "type": "text"})
    created = signed(m, "POST", "/api/v4/metaproperties/", form={"data": data})
    assert created.status_code == 201 and created.json()["statuscode"] == 201
    mp_id = created.json()["id"]
    listed = signed(m, "GET", "/api/v4/metaproperties").json()
    assert listed["emu_backlink"]["id"] == mp_id and listed["emu_backlink"]["type"] == "text"
    again = signed(m, "POST", "/api/v4/metaproperties/", form={"data": data})
    assert again.status_code == 400
    assert signed(m, "POST", "/api/v4/metaproperties/", form={"name": "x"}).status_code == 400
    bad_name = json.dumps({"name": "Has Spaces", "type": "text"})
    assert signed(m, "POST", "/api/v4/metaproperties/",
                  form={"data": bad_name}).status_code == 400
    asset = sb.state.catalog("bynder").tagged(m["tag"])[7]
    url = "https://library.example/assets/7?x=1&y=2"
    assert signed(m, "POST", f"/api/v4/media/{asset.key}",
                  form={f"metaproperty.{mp_id}": url}).status_code == 202
    assert signed(m, "GET", f"/api/v4/media/{asset.key}/").json()["property_emu_backlink"] == url
    assert signed(m, "GET", f"/api/v4/metaproperties/{mp_id}/").json()["name"] == "emu_backlink"
    assert signed(m, "POST", f"/api/v4/media/{asset.key}/",
                  form={"metaproperty.NOPE": "x"}).status_code == 400


def test_current_user_profile_and_missing_permission(m: dict[str, Any]) -> None:
    user = signed(m, "GET", "/api/v4/currentuser/").json()  # lower-case path too
    profile_url = f"/api/v4/profiles/{user['profileId']}/"
    roles = set(signed(m, "GET", profile_url).json()["roles"])
    assert {"METAPROPERTY_MANAGEMENT", "PERMISSIONS_MANAGEMENT", "EDIT_MEDIA",
            "DOWNLOAD_ORIGINAL"} <= roles
    control = m["domain"] + "/_sandbox/permissions"
    changed = httpx.post(control, json={"missing": ["Edit media"], "credential": "oauth1"})
    assert changed.json()["oauth1"] == ["EDIT_MEDIA"] and changed.json()["permanent_token"] == []
    try:
        roles = set(signed(m, "GET", profile_url).json()["roles"])
        assert "EDIT_MEDIA" not in roles and "DOWNLOAD_ORIGINAL" in roles
        first = signed(m, "GET", "/api/v4/media/", {"limit": 1}).json()[0]
        denied = signed(m, "POST", f"/api/v4/media/{first['id']}/", form={"name": "x"})
        assert denied.status_code == 403
    finally:
        httpx.post(control, json={"missing": []})


def test_missing_permissions_from_config() -> None:
    extra = {"bynder_missing_permissions": ["Permissions management", "Download original"]}
    with Sandbox(providers=("bynder",), assets=20, extra=extra) as sandbox:
        mm = sandbox.manifest()["providers"]["bynder"]
        user = signed(mm, "GET", "/api/v4/currentUser/").json()
        assert signed(mm, "GET", f"/api/v4/profiles/{user['profileId']}/").status_code == 403
        first = signed(mm, "GET", "/api/v4/media/", {"limit": 1}).json()[0]
        assert signed(mm, "GET", f"/api/v4/media/{first['id']}/download/").status_code == 403


def test_tags_endpoint_counts(m: dict[str, Any], sb: Sandbox) -> None:
    rows = signed(m, "GET", "/api/v4/tags/", {"keyword": m["tag"], "limit": 1000}).json()
    counts = {r["tag"]: r["mediaCount"] for r in rows}
    assert counts[m["tag"]] == m["eligible"]
    near = sb.state.catalog("bynder").near_misses()
    assert {t: c for t, c in counts.items() if t != m["tag"]} == near
