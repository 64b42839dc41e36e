"""The Percolate emulator's wire format, over real HTTP with plain httpx (percolate.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from damkit.sandbox import Sandbox
from damkit.sandbox.percolate import PercolateEmulator

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture(scope="module")
def sb(sandbox: Sandbox) -> Sandbox:
    """The session's shared sandbox (all providers); tests that change it use fresh_sandbox."""
    return sandbox


@pytest.fixture(scope="module")
def m(sb: Sandbox) -> dict[str, Any]:
    return httpx.get(sb.manifest_url).json()["providers"]["percolate"]


def emulator(sandbox: Sandbox) -> PercolateEmulator:
    emu = sandbox.state.emulators["percolate"]
    assert isinstance(emu, PercolateEmulator)
    return emu


def token_for(base: str, client_id: str, secret: str) -> str:
    r = httpx.post(f"{base}/auth/v5/token/", data=GRANT, auth=(client_id, secret))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.fixture(scope="module")
def api(m: dict[str, Any]) -> Iterator[httpx.Client]:
    token = token_for(m["api_url"], m["client_id"], m["client_secret"])
    with httpx.Client(base_url=m["api_url"], headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def term_id(api: httpx.Client, m: dict[str, Any], name: str) -> str:
    r = api.get("/api/v5/term/", params={"scope_ids": m["scope_id"], "search": name,
                                         "namespace": "tag"})
    return next(t["id"] for t in r.json()["data"] if t["name"] == name)


# --- auth ---------------------------------------------------------------------------------------

def test_manifest_has_exactly_the_settings(m: dict[str, Any], sb: Sandbox) -> None:
    assert set(m) == {"scope_id", "client_id", "client_secret", "tag", "api_url", "eligible"}
    assert m["scope_id"].startswith("license:") and m["client_id"].startswith("client:")
    assert m["api_url"] == f"{sb.url}/percolate"
    assert m["eligible"] == emulator(sb).catalog.eligible() > 0


def test_token_with_basic_client_prefixed_and_bare(m: dict[str, Any]) -> None:
    base = m["api_url"]
    r = httpx.post(f"{base}/auth/v5/token/", data=GRANT, auth=(m["client_id"], m["client_secret"]))
    body = r.json()
    assert r.status_code == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 2_592_000
    assert body["id"].startswith("token:") and body["user_id"].startswith("user:")
    assert datetime.fromisoformat(body["updated_at"]).utcoffset() is not None
    bare = m["client_id"].removeprefix("client:")
    r2 = httpx.post(f"{base}/auth/v5/token", data=GRANT, auth=(bare, m["client_secret"]))
    assert r2.status_code == 200 and r2.json()["access_token"] != body["access_token"]


def test_token_accepts_json_body(m: dict[str, Any]) -> None:
    r = httpx.post(f"{m['api_url']}/auth/v5/token/", json=GRANT,
                   auth=(m["client_id"], m["client_secret"]))
    assert r.status_code == 200 and r.json()["access_token"]


@pytest.mark.parametrize("case, code", [
    ("secret", "auth.invalid_secret"), ("client", "auth.invalid_client"), ("none", "auth.invalid_client"),
])
def test_token_refusals_use_the_v5_error_shape(m: dict[str, Any], case: str, code: str) -> None:
    auth: Any = {"secret": (m["client_id"], m["client_secret"] + "x"),
                 "client": ("client:1", m["client_secret"]), "none": None}[case]
    r = httpx.post(f"{m['api_url']}/auth/v5/token/", data=GRANT, auth=auth)
    assert r.status_code == 401
    errors = r.json()["errors"]
    assert errors[0]["code"] == code and errors[0]["message"]
    assert m["client_secret"] not in r.text


def test_token_needs_client_credentials_grant(m: dict[str, Any]) -> None:
    r = httpx.post(f"{m['api_url']}/auth/v5/token/", data={"grant_type": "password"},
                   auth=(m["client_id"], m["client_secret"]))
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "auth.unsupported_grant_type"


def test_me_needs_a_bearer_token(m: dict[str, Any], api: httpx.Client) -> None:
    r = httpx.get(f"{m['api_url']}/api/v5/me")
    assert r.status_code == 401 and r.headers["content-type"] == "application/json"
    assert r.json()["errors"][0]["code"] == "unauthorized"
    bad = httpx.get(f"{m['api_url']}/api/v5/me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    me = api.get("/api/v5/me")
    assert me.status_code == 200 and me.json()["data"]["id"].startswith("user:")


def test_expired_tokens_are_refused(fresh_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=20)
    m = sandbox.manifest()["providers"]["percolate"]
    token = token_for(m["api_url"], m["client_id"], m["client_secret"])
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{m['api_url']}/api/v5/me", headers=headers).status_code == 200
    expired = httpx.post(f"{sandbox.url}/percolate/_expire")
    assert expired.status_code == 200 and expired.json() == {"expired": 1}
    r = httpx.get(f"{m['api_url']}/api/v5/me", headers=headers)
    assert r.status_code == 401 and "expired" in r.json()["errors"][0]["message"]


# --- terms ---------------------------------------------------------------------------------------

def test_term_search_is_case_insensitive_prefix(api: httpx.Client, m: dict[str, Any],
                                                sb: Sandbox) -> None:
    # the SDK fixture: search=test matched test, test2, "test 1", test21 (all prefixes)
    r = api.get("/api/v5/term/", params={"scope_ids": m["scope_id"], "search": "gElAt",
                                         "namespace": "tag"})
    body = r.json()
    names = {t["name"] for t in body["data"]}
    assert m["tag"] in names
    near = set(emulator(sb).catalog.near_misses())
    assert {n for n in near if not n.startswith(" ")} <= names and " Gelato" not in names
    try:
        sb.set_switches("percolate", "term_search_substring")
        body = api.get("/api/v5/term/", params={"scope_ids": m["scope_id"], "search": "gElAt",
                                                "namespace": "tag"}).json()
        assert near <= {t["name"] for t in body["data"]}
    finally:
        sb.set_switches("percolate")
    names = {t["name"] for t in body["data"]}
    assert all(n.strip().casefold() == m["tag"].casefold() for n in names)
    assert body["meta"]["total"] == len(body["data"])
    for t in body["data"]:
        assert t["id"].startswith("term:") and t["namespace"] == "tag"
        assert t["scope_id"] == m["scope_id"]
    one = term_id(api, m, m["tag"])
    by_id = api.get("/api/v5/term", params={"ids": one}).json()["data"]
    assert [t["name"] for t in by_id] == [m["tag"]]


def test_terms_of_another_license_are_refused(api: httpx.Client) -> None:
    r = api.get("/api/v5/term/", params={"scope_ids": "license:1", "search": "x"})
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "scope.forbidden"


# --- assets ---------------------------------------------------------------------------------------

def test_asset_list_requires_an_accessible_scope(api: httpx.Client, sb: Sandbox) -> None:
    r = api.get("/api/v5/asset/")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "validation.required"
    for scope in ("license:1", emulator(sb).other_license):  # unknown, and another client's
        r = api.get("/api/v5/asset/", params={"scope_ids": scope})
        assert r.status_code == 403, scope
        assert r.json()["errors"][0]["code"] == "scope.forbidden"


def test_a_token_reads_only_its_own_scope(m: dict[str, Any], sb: Sandbox) -> None:
    other = emulator(sb).other_client
    token = token_for(m["api_url"], other.client_id, other.secret)
    headers = {"Authorization": f"Bearer {token}"}
    mine = httpx.get(f"{m['api_url']}/api/v5/asset/", headers=headers,
                     params={"scope_ids": emulator(sb).other_license, "limit": 0})
    assert mine.status_code == 200 and mine.json()["meta"]["total"] == 0
    theirs = httpx.get(f"{m['api_url']}/api/v5/asset/", headers=headers,
                       params={"scope_ids": m["scope_id"], "limit": 0})
    assert theirs.status_code == 403
    single = httpx.get(f"{m['api_url']}/api/v5/asset/asset:1", headers=headers)
    assert single.status_code == 404


def test_paging_by_term_returns_exactly_the_eligible(api: httpx.Client, m: dict[str, Any]) -> None:
    tid = term_id(api, m, m["tag"])
    seen: list[str] = []
    offset = 0
    while True:
        body = api.get("/api/v5/asset", params={"scope_ids": m["scope_id"], "term_ids": tid,
                                                "offset": offset, "limit": 64}).json()
        assert body["meta"]["total"] == m["eligible"]
        assert body["meta"]["query"]["offset"] == offset and body["meta"]["query"]["limit"] == 64
        seen += [a["id"] for a in body["data"]]
        offset += len(body["data"])
        if not body["data"]:
            break
    assert len(seen) == len(set(seen)) == m["eligible"]
    listed = api.get("/api/v5/asset/", params={"scope_ids": m["scope_id"], "term_ids": tid,
                                              "limit": 1000}).json()["data"]
    meta = api.get("/api/v5/metadata/", params={
        "object_ids": ",".join(a["id"] for a in listed)}).json()["data"]
    assert len(meta) == len(listed) and all(tid in md["ext"]["1"] for md in meta)


def test_limit_zero_counts_and_limit_is_clamped(api: httpx.Client, m: dict[str, Any]) -> None:
    tid = term_id(api, m, m["tag"])
    zero = api.get("/api/v5/asset/", params={"scope_ids": m["scope_id"], "term_ids": tid,
                                             "limit": 0}).json()
    assert zero["data"] == [] and zero["meta"]["total"] == m["eligible"]
    big = api.get("/api/v5/asset/", params={"scope_ids": m["scope_id"], "limit": 5000}).json()
    assert big["meta"]["query"]["limit"] == 1000
    assert len(big["data"]) == big["meta"]["total"] == 300
    assert api.get("/api/v5/asset/", params={"scope_ids": m["scope_id"],
                                            "limit": "x"}).status_code == 400


def test_asset_objects_follow_the_v5_shape(api: httpx.Client, m: dict[str, Any]) -> None:
    body = api.get("/api/v5/asset/", params={"scope_ids": m["scope_id"], "limit": 30}).json()
    assert body["include"] == {}
    for a in body["data"]:
        assert a["id"].startswith("asset:") and a["id"].split(":")[1].isdigit()
        assert {"filename", "content_type", "size", "scope_id", "created_at", "updated_at",
                "type", "status", "deleted", "ext"} <= set(a)
        assert "term_ids" not in a  # the SDK's v5 asset fixture carries none
        assert "name" not in a and "mimetype" not in a and "url" not in a
        assert not any("md5" in k or "checksum" in k or "hash" in k for k in a)
        assert a["scope_id"] == m["scope_id"] and a["deleted"] is False and a["status"] == "ready"
        assert datetime.fromisoformat(a["updated_at"]).utcoffset() is not None
        assert a["type"] in {"image", "pdf", "document"}
        if a["type"] == "image":
            assert a["ext"]["dimensions"]["unit"] == "pixels"
    assert any(a["filename"] == "../../etc/passwd" for a in body["data"])  # hostile names kept


def test_single_asset_and_missing(api: httpx.Client) -> None:
    r = api.get("/api/v5/asset/asset:3")
    assert r.status_code == 200 and r.json()["data"]["id"] == "asset:3"
    encoded = api.get("/api/v5/asset/asset%3A3/")
    assert encoded.status_code == 200 and encoded.json()["data"]["id"] == "asset:3"
    missing = api.get("/api/v5/asset/asset:999999")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"


def test_deleted_assets_leave_the_list(fresh_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=30)
    m = sandbox.manifest()["providers"]["percolate"]
    token = token_for(m["api_url"], m["client_id"], m["client_secret"])
    with httpx.Client(base_url=m["api_url"], headers={"Authorization": f"Bearer {token}"}) as c:
        tid = term_id(c, m, m["tag"])
        before = c.get("/api/v5/asset/", params={"scope_ids": m["scope_id"], "term_ids": tid,
                                                 "limit": 0}).json()["meta"]["total"]
        gone = c.get("/api/v5/asset/", params={"scope_ids": m["scope_id"], "term_ids": tid,
                                               "limit": 1}).json()["data"][0]["id"]
        emulator(sandbox).catalog.delete(gone)
        after = c.get("/api/v5/asset/", params={"scope_ids": m["scope_id"], "term_ids": tid,
                                                "limit": 1000}).json()
        assert after["meta"]["total"] == before - 1
        assert gone not in {a["id"] for a in after["data"]}
        assert c.get(f"/api/v5/asset/{gone}").status_code == 404
        shown = c.get(f"/api/v5/asset/{gone}", params={"deleted": "true"}).json()["data"]
        assert shown["deleted"] is True


def test_served_assets_follow_every_change(fresh_sandbox: Callable[..., Sandbox]) -> None:
    """Asset answers are kept as JSON between requests: a change through the control API, a
    switch and a reset must each show in the very next answer, in the list and alone."""
    sandbox = fresh_sandbox(providers=("percolate",), assets=30)
    m = sandbox.manifest()["providers"]["percolate"]
    token = token_for(m["api_url"], m["client_id"], m["client_secret"])
    page = {"scope_ids": m["scope_id"], "limit": 3}
    with httpx.Client(base_url=m["api_url"], headers={"Authorization": f"Bearer {token}"}) as c:
        def both() -> tuple[dict[str, Any], dict[str, Any]]:
            alone = c.get("/api/v5/asset/asset:2").json()["data"]
            listed = next(a for a in c.get("/api/v5/asset/", params=page).json()["data"]
                          if a["id"] == "asset:2")
            assert alone == listed
            return alone, listed

        first, _ = both()
        assert both()[0] == first  # served twice unchanged
        sandbox.control("POST", "percolate/assets/asset:2/modify",
                        json={"size": first["size"] + 7, "name": "renamed.txt"})
        changed, _ = both()
        assert changed["size"] == first["size"] + 7 and changed["filename"] == "renamed.txt"
        assert changed["updated_at"] >= first["updated_at"]
        sandbox.set_switches("percolate", "asset_term_ids")
        with_terms, _ = both()
        tag_terms = set(with_terms["term_ids"])
        sandbox.control("POST", "percolate/assets/asset:2/tag", json={"tag": "Fresh tag"})
        assert set(both()[0]["term_ids"]) == tag_terms | {term_id(c, m, "Fresh tag")}
        sandbox.set_switches("percolate")
        assert "term_ids" not in both()[0]
        sandbox.control("POST", "percolate/assets/asset:2/archive", json={"archived": True})
        assert c.get("/api/v5/asset/asset:2").json()["data"]["status"] == "archived"
        sandbox.reset()  # new emulator objects, catalogs generated again: the first answer
        assert c.get("/api/v5/asset/asset:2", headers={
            "Authorization": f"Bearer {token_for(m['api_url'], m['client_id'], m['client_secret'])}"}
        ).json()["data"] == first


# --- download -------------------------------------------------------------------------------------

def png_asset(sb: Sandbox) -> Any:
    return next(a for a in emulator(sb).catalog.live() if a.ext == "png" and a.number > 25)


def test_download_redirects_to_an_unauthenticated_cdn(api: httpx.Client, sb: Sandbox) -> None:
    asset = png_asset(sb)
    r = api.get(f"/api/v5/asset/{asset.key}/download")
    assert r.status_code == 302
    location = r.headers["location"]
    assert location.startswith(f"{sb.url}/percolate/cdn/")
    cdn = httpx.get(location)  # no credentials at all
    assert cdn.status_code == 200
    assert cdn.content.startswith(b"\x89PNG\r\n\x1a\n") and cdn.content.endswith(b"IEND\xaeB`\x82")
    assert int(cdn.headers["content-length"]) == asset.size == len(cdn.content)
    assert cdn.headers["content-type"] == "image/png"
    assert cdn.content == emulator(sb).catalog.content(asset)


def test_cdn_refuses_tampered_links_and_download_needs_a_token(api: httpx.Client, sb: Sandbox,
                                                               m: dict[str, Any]) -> None:
    asset = png_asset(sb)
    location = api.get(f"/api/v5/asset/{asset.key}/download").headers["location"]
    assert httpx.get(location.replace("sig=", "sig=0")).status_code == 403
    assert httpx.get(f"{m['api_url']}/api/v5/asset/{asset.key}/download").status_code == 401
    assert api.get("/api/v5/asset/asset:999999/download").status_code == 404


def test_direct_download_mode(fresh_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=30,
                            extra={"percolate": {"download": "direct"}})
    m = sandbox.manifest()["providers"]["percolate"]
    token = token_for(m["api_url"], m["client_id"], m["client_secret"])
    r = httpx.get(f"{m['api_url']}/api/v5/asset/asset:1/download",
                  headers={"Authorization": f"Bearer {token}"})
    asset = emulator(sandbox).catalog.get("asset:1")
    assert asset is not None
    assert r.status_code == 200 and r.content == emulator(sandbox).catalog.content(asset)


def test_pages_stay_fast_at_100k(fresh_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = fresh_sandbox(providers=("percolate",), assets=100_000)
    m = sandbox.manifest()["providers"]["percolate"]
    token = token_for(m["api_url"], m["client_id"], m["client_secret"])
    with httpx.Client(base_url=m["api_url"], headers={"Authorization": f"Bearer {token}"}) as c:
        tid = term_id(c, m, m["tag"])
        c.get("/api/v5/asset/", params={"scope_ids": m["scope_id"], "term_ids": tid, "limit": 0})
        for offset in (0, 50_000, 69_000):  # page times: benchmarks/catalog_bench.py
            body = c.get("/api/v5/asset/", params={"scope_ids": m["scope_id"], "term_ids": tid,
                                                   "offset": offset, "limit": 1000}).json()
            assert len(body["data"]) == 1000 and body["meta"]["total"] == m["eligible"]
