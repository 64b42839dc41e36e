"""``--record FILE`` and ``damkit sandbox compare FILE``: real CLI subprocesses, a real sandbox.

A HAR of a check and a sync holds none of the sandbox's secrets or tokens (searched raw,
URL-encoded and base64), compare on it reports no difference, and compare on a HAR edited to
change a key names the endpoint and the key. The reference facts from the public SDKs' fixtures
are in tests/test_sandbox_reference.py.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import pytest

from damkit.redact import MASK
from damkit.sandbox import Sandbox

PROVIDERS = ("bynder", "canto", "percolate")
ASSETS = 30  # compare runs with --assets 30 too: a sync at the providers' polite rates stays short


def damkit(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAMKIT_HOME": str(home), "DAMKIT_SECRET_STORE": "plaintext"}
    return subprocess.run([sys.executable, "-m", "damkit", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def forms(value: str) -> set[str]:
    raw = value.encode()
    return {value, quote(value, safe=""), quote_plus(value),
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("=")}


def issued_tokens(sb: Sandbox) -> set[str]:
    """Every token the emulators issued during the runs (read from their state)."""
    out: set[str] = set()
    for emu in sb.state.emulators.values():
        for attr in ("tokens", "oauth2_tokens", "access_tokens", "refresh_tokens", "codes"):
            value = getattr(emu, attr, None)
            if isinstance(value, dict):
                out |= {str(k) for k in value}
    return {t for t in out if len(t) >= 8}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One default sandbox (as ``compare`` starts), each provider checked and synced with
    ``--record``; yields (sandbox, {provider: [har paths]})."""
    home = tmp_path_factory.mktemp("home")
    with Sandbox(assets=ASSETS, seed=7) as sb:
        added = damkit(home, "connections", "add-sandbox", sb.manifest_url)
        assert added.returncode == 0, added.stderr
        hars: dict[str, list[Path]] = {}
        for provider in PROVIDERS:
            name = f"sandbox-{provider}"
            check, sync = home / f"{provider}-check.har", home / f"{provider}-sync.har"
            r = damkit(home, "check", name, "--record", str(check))
            assert r.returncode == 0 and "recorded" in r.stderr, r.stdout + r.stderr
            r = damkit(home, "sync", name, "--record", str(sync))
            assert r.returncode == 0, r.stdout + r.stderr
            hars[provider] = [check, sync]
        yield sb, hars, issued_tokens(sb)


def test_har_is_1_2_and_holds_no_secret_or_token(recorded: Any) -> None:
    sb, hars, tokens = recorded
    manifest = sb.manifest()["providers"]
    secret_fields = ("consumer_key", "consumer_secret", "token_key", "token_secret",
                     "permanent_token", "app_secret", "client_secret")
    secrets = {str(fields[k]) for fields in manifest.values() for k in secret_fields
               if isinstance(fields.get(k), str)}
    assert len(secrets) >= 7 and tokens, (secrets, tokens)
    for paths in hars.values():
        for path in paths:
            text = path.read_text(encoding="utf-8")
            har = json.loads(text)
            assert har["log"]["version"] == "1.2" and har["log"]["entries"]
            for value in secrets | tokens:
                for form in forms(value):
                    assert form not in text, (path.name, "a secret or token survived")
            for entry in har["log"]["entries"]:
                for header in entry["request"]["headers"] + entry["response"]["headers"]:
                    if header["name"].lower() in ("authorization", "cookie", "set-cookie"):
                        assert header["value"] == MASK
                query = dict(parse_qsl(urlsplit(entry["request"]["url"]).query))
                for key in ("sig", "X-Amz-Signature", "access_token", "X-Amz-Credential"):
                    assert query.get(key, MASK) == MASK, (entry["request"]["url"])
                content = entry["response"]["content"]
                assert len(content.get("text", "")) <= 64 * 1024
                assert "text" not in content or "image/" not in content["mimeType"]


def test_compare_reports_no_difference(recorded: Any, tmp_path: Path) -> None:
    _, hars, _ = recorded
    for provider, paths in hars.items():
        for path in paths:
            r = damkit(tmp_path, "sandbox", "compare", str(path), "--json",
                       "--assets", str(ASSETS))
            assert r.returncode == 0, (provider, path.name, r.stdout[-2000:], r.stderr[-2000:])
            result = json.loads(r.stdout)
            assert result["provider"] == provider and result["replayed"] > 0
            assert result["differences"] == []


def test_compare_names_the_endpoint_and_key_of_an_edit(recorded: Any, tmp_path: Path) -> None:
    _, hars, _ = recorded
    path = hars["percolate"][0]
    har = json.loads(path.read_text(encoding="utf-8"))
    edited = 0
    for entry in har["log"]["entries"]:
        content = entry["response"]["content"]
        url = entry["request"]["url"]
        if urlsplit(url).path.endswith("/api/v5/me") and entry["response"]["status"] == 200:
            body = json.loads(content["text"])
            body["data"]["display_name"] = body["data"].pop("name")
            content["text"] = json.dumps(body)
            edited += 1
    assert edited
    changed = tmp_path / "edited.har"
    changed.write_text(json.dumps(har), encoding="utf-8")
    r = damkit(tmp_path, "sandbox", "compare", str(changed), "--assets", str(ASSETS))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "GET /api/v5/me: key data.display_name" in r.stdout
    assert "GET /api/v5/me: key data.name" in r.stdout
