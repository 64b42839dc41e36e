"""Reference facts from the public SDKs' fixtures and clients (as quoted in shared/providers/):
the sandbox must agree with each. Each fact names its source; a sandbox change that drifts from
one fails here.

The shapes are compared with the same tool ``damkit sandbox compare`` uses (key paths and value
types), so "agrees" means: every key of the reference is there with the reference's type.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from damkit.record import shape_of
from damkit.sandbox import Sandbox


def agrees(reference: Any, answer: Any, *, allowed_extra: bool = True,
           absent: tuple[str, ...] = ()) -> None:
    """Every key path of ``reference`` is in ``answer`` with a compatible type; ``absent`` key
    paths must not be there."""
    want, got = shape_of(reference), shape_of(answer)
    for key, kind in want.items():
        assert key in got, f"missing {key}"
        a, b = set(kind.split("|")) - {"null"}, set(got[key].split("|")) - {"null"}
        assert not a or not b or a & b, f"{key}: reference {kind}, sandbox {got[key]}"
    for key in absent:
        assert key not in got, f"{key} should be absent"


@pytest.fixture(scope="module")
def sb(sandbox: Sandbox) -> Sandbox:
    return sandbox


# --- Percolate: patrikfigura/percolate-java-sdk (fork of Percolate's SDK), api/src/test/fixtures

PERCOLATE_ASSET_LIST = {  # api/v5/asset/GET.json (percolate.md §2.1)
    "include": {},
    "meta": {"total": 320, "query": {"limit": 3, "offset": 0, "order_by": "created_at",
                                     "order_direction": "desc", "scope_ids": ["license:11111"]}},
    "data": [{"id": "asset:1", "content_type": "image/jpeg", "size": 2348342,
              "scope_id": "license:11111", "created_at": "2016-12-09T15:57:14+00:00",
              "updated_at": "2016-12-09T15:57:32+00:00", "status": "ready", "type": "image",
              "created_through": "Android Percolate", "filename": "IMG_20161209_155659_917.jpg",
              "creator_id": "user:111", "folder_id": "folder:1", "deleted": False,
              "ext": {"dimensions": {"width": 2448, "height": 3264, "unit": "pixels"},
                      "orientation": "portrait"}}],
}
PERCOLATE_TERMS = {  # api/v5/term/GET.json (percolate.md §3)
    "meta": {"query": {"search": "test", "limit": 1000, "scope_ids": "license:12345",
                       "offset": 0}, "total": 5},
    "data": [{"id": "term:1", "name": "test", "namespace": "tag", "scope_id": "license:12345",
              "updated_at": "2016-01-26T13:42:40+00:00"}],
}
PERCOLATE_TOKEN = {"access_token": "x", "token_type": "bearer", "expires_in": 2592000}  # auth/.../token.json


def percolate_token(sb: Sandbox) -> tuple[dict[str, Any], str]:
    m = sb.manifest()["providers"]["percolate"]
    r = httpx.post(f"{m['api_url']}/auth/v5/token/", data={"grant_type": "client_credentials"},
                   auth=(m["client_id"], m["client_secret"]))
    return m, r.json()


def test_percolate_token_fixture(sb: Sandbox) -> None:
    _, token = percolate_token(sb)
    agrees(PERCOLATE_TOKEN, token)
    assert token["token_type"] == "bearer" and token["expires_in"] == 2592000


def test_percolate_asset_list_fixture(sb: Sandbox) -> None:
    m, token = percolate_token(sb)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    body = httpx.get(f"{m['api_url']}/api/v5/asset/", headers=headers, params={
        "scope_ids": m["scope_id"], "limit": 3, "order_by": "created_at",
        "order_direction": "desc"}).json()
    # the fixture's asset carries no term_ids and no name (SDK AssetsListParams has no term filter)
    agrees({**PERCOLATE_ASSET_LIST, "data": [{k: v for k, v in PERCOLATE_ASSET_LIST["data"][0].items()
                                              if k != "ext"}]}, body,
           absent=("data[].term_ids", "data[].name", "data[].mimetype"))
    one = httpx.get(f"{m['api_url']}/api/v5/asset/{body['data'][0]['id']}", headers=headers).json()
    assert set(one) == {"include", "data"}  # AssetsService.java:20-21, asset:123/GET.json


def test_percolate_term_fixture_and_prefix_search(sb: Sandbox) -> None:
    m, token = percolate_token(sb)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    tag = m["tag"]
    body = httpx.get(f"{m['api_url']}/api/v5/term/", headers=headers, params={
        "scope_ids": m["scope_id"], "search": tag[:3], "limit": 1000}).json()
    agrees(PERCOLATE_TERMS, body)
    # search=test matched test, test2, "test 1", test21: every match starts with the search
    assert body["data"] and all(t["name"].casefold().startswith(tag[:3].casefold())
                                for t in body["data"])


# --- Bynder: bynder.md §2.5 (media JSON of the SDKs' samples), §2.3 ------------------------------

BYNDER_MEDIA = {  # bynder.md §2.5, from the SDK samples (0/1 flags as ints: Java BooleanTypeAdapter)
    "id": "00000000-0000-0000-0000000000000000", "name": "x", "type": "image",
    "extension": ["jpg"], "fileSize": 240161, "brandId": "B", "tags": ["tags"],
    "propertyOptions": [], "dateCreated": "2017-05-30T16:47:44Z",
    "dateModified": "2017-05-31T13:10:21Z", "datePublished": "2017-05-30T16:44:58Z",
    "userCreated": "User", "archive": 0, "isPublic": 1, "limited": 0, "watermarked": 0,
    "views": 9, "downloads": 0, "activeVersion": 1, "ecsArchiveFiles": [],
}


def bynder_get(sb: Sandbox, path: str, **params: Any) -> Any:
    m = sb.manifest()["providers"]["bynder"]
    r = httpx.get(f"{m['domain']}{path}", params=params,
                  headers={"Authorization": f"Bearer {m['permanent_token']}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_bynder_media_sample_and_count(sb: Sandbox) -> None:
    tag = sb.manifest()["providers"]["bynder"]["tag"]
    body = bynder_get(sb, "/api/v4/media/", tags=tag, limit=2, total=1)
    # jweiland-net/bynder2 BynderService.php:123-134: total=1 → {"total":{"count"},"media"}
    agrees({"total": {"count": 1}, "media": [BYNDER_MEDIA]}, body)
    count = bynder_get(sb, "/api/v4/media/", tags=tag, limit=0, total=1)
    assert count["media"] == [] and count["total"]["count"] >= 1


def test_bynder_download_and_metaproperties(sb: Sandbox) -> None:
    tag = sb.manifest()["providers"]["bynder"]["tag"]
    first = bynder_get(sb, "/api/v4/media/", tags=tag, limit=1)[0]
    # python SDK asset_bank_client.py:40-46: {"s3_file": url}
    agrees({"s3_file": "https://x"}, bynder_get(sb, f"/api/v4/media/{first['id']}/download/"))
    # Java Map<String, Metaproperty>: an object keyed by name
    props = bynder_get(sb, "/api/v4/metaproperties/")
    assert isinstance(props, dict) and all(v["name"] == k for k, v in props.items())


# --- Canto: canto.md §1-§3 ---------------------------------------------------------------------

def test_canto_search_response_and_keyword_list(sb: Sandbox) -> None:
    """fairway SearchResponse.php:42-44 (results/found may be absent, limit/start/sort echoed);
    lsst CantoDamAssetInterface.php:132 (keyword is a list), :102,209 (size a string)."""
    from urllib.parse import parse_qs, urlencode, urlsplit

    from damkit.sandbox.canto import consent

    m = sb.manifest()["providers"]["canto"]
    oauth = f"{m['domain']}/oauth/api/oauth2"
    redirect = "http://127.0.0.1:9/cb"
    location = consent(f"{oauth}/authorize?" + urlencode({
        "response_type": "code", "app_id": m["app_id"], "redirect_uri": redirect, "state": "s"}))
    code = parse_qs(urlsplit(location).query)["code"][0]
    answer = httpx.post(f"{oauth}/token", data={
        "app_id": m["app_id"], "app_secret": m["app_secret"], "grant_type": "authorization_code",
        "code": code, "redirect_uri": redirect}).json()
    # WP plugin class-canto.php:484-486, fairway OAuth2ResponseTest.php:29: camelCase
    agrees({"accessToken": "a", "refreshToken": "r", "tokenType": "Bearer"}, answer)
    assert isinstance(answer["expiresIn"], (int, str))
    token = answer["accessToken"]
    r = httpx.get(f"{m['domain']}/api/v1/search", params={"keywords": m["keyword"],
                  "exactMatch": "true", "limit": 2},
                  headers={"Authorization": f"Bearer {token}"})
    body = r.json()
    agrees({"results": [{"id": "x", "name": "n", "scheme": "image", "size": "1",
                         "keyword": ["k"], "url": {"download": "https://x"}}],
            "found": 1, "limit": 2, "sortBy": "time", "sortDirection": "descending"}, body)
