"""Workspace: connections saved without secrets in the index, secrets in the store, edits, removal."""

from __future__ import annotations

from pathlib import Path

import pytest

from damkit import open_workspace
from damkit.errors import NotFoundError, SettingsError

SECRET = "pc-secret-Zq81-very-private"


def env_for(tmp_path: Path) -> dict[str, str]:
    # No OS keyring daemon exists here (headless): the encrypted file store is the one in use.
    return {"DAMKIT_SECRETS_PASSPHRASE": "test-passphrase-123", "DAMKIT_SECRET_STORE": "encrypted"}


@pytest.fixture
def ws(tmp_path: Path):
    with open_workspace(tmp_path / "ws", env=env_for(tmp_path)) as w:
        yield w


def add_percolate(ws, name="acme", secret=SECRET):
    return ws.add_connection("percolate", name, {"Scope ID": "12345", "client_id": "cid-1",
                                                 "client_secret": secret, "tag": "Gelato"})


def all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_layout(ws):
    assert (ws.root / "DAM Import").is_dir() and (ws.root / "index").is_dir()
    assert (ws.root / "logs").is_dir()


def test_open_workspace_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DAMKIT_HOME", str(tmp_path / "home"))
    with open_workspace() as w:
        assert w.root == (tmp_path / "home").resolve()


def test_secret_goes_to_store_never_the_index(ws):
    doc = add_percolate(ws)
    assert doc["settings"]["scope_id"] == "license:12345"
    assert "client_secret" not in doc["settings"]
    assert doc["secrets"]["client_secret"].startswith("secret:encrypted:")
    assert SECRET.encode() not in all_bytes(ws.root)  # encrypted store, index, everything
    assert ws.load_settings("acme").client_secret.get_secret_value() == SECRET


def test_duplicate_name_refused_and_nothing_changed(ws):
    add_percolate(ws)
    before = ws.connection("acme")
    with pytest.raises(SettingsError, match="already exists"):
        add_percolate(ws, secret="another-secret-value")
    assert ws.connection("acme") == before
    assert ws.load_settings("acme").client_secret.get_secret_value() == SECRET


def test_bad_settings_change_nothing(ws):
    with pytest.raises(SettingsError) as info:
        ws.add_connection("percolate", "acme", {"scope_id": "x", "client_id": "c",
                                                 "client_secret": SECRET, "tag": "T"})
    assert info.value.field == "scope_id" and "Scope ID" in info.value.message
    assert ws.connections() == []
    with pytest.raises(SettingsError, match="slug"):
        add_percolate(ws, name="Bad Name")
    with pytest.raises(SettingsError, match="unknown provider"):
        ws.add_connection("dropbox", "x", {})


def test_edit_keeps_unchanged_secrets(ws):
    add_percolate(ws)
    ws.edit_connection("acme", {"tag": "Summer"})
    s = ws.load_settings("acme")
    assert s.tag == "Summer" and s.client_secret.get_secret_value() == SECRET
    ws.edit_connection("acme", {"client_secret": "new-secret-value-42"})
    assert ws.load_settings("acme").client_secret.get_secret_value() == "new-secret-value-42"
    with pytest.raises(SettingsError):
        ws.edit_connection("acme", {"tag": " Summer"})
    assert ws.load_settings("acme").tag == "Summer"


def test_env_overrides_secret(tmp_path):
    env = {**env_for(tmp_path), "DAMKIT_ACME_CLIENT_SECRET": "from-env-secret"}
    with open_workspace(tmp_path / "ws", env=env) as w:
        add_percolate(w)
        assert w.load_settings("acme").client_secret.get_secret_value() == "from-env-secret"


def test_missing_secret_is_named(tmp_path):
    root = tmp_path / "ws"
    with open_workspace(root, env=env_for(tmp_path)) as w:
        add_percolate(w)
    (root / "secrets.enc").unlink()
    with open_workspace(root, env=env_for(tmp_path)) as w, pytest.raises(SettingsError) as info:
        w.load_settings("acme")
    assert "Client Secret" in info.value.message and "DAMKIT_ACME_CLIENT_SECRET" in info.value.hint


def test_remove_connection_forgets_secrets_keeps_files(ws):
    add_percolate(ws)
    folder = ws.library_dir / "acme"
    folder.mkdir()
    (folder / "keep.png").write_bytes(b"x")
    ws.remove_connection("acme")
    assert ws.connections() == [] and (folder / "keep.png").exists()
    assert ws.secrets.get("acme", "client_secret") is None
    with pytest.raises(NotFoundError):
        ws.connection("acme")


def test_workspace_config_validated(ws):
    ws.set_config(public_url="dam.example.com",
                  library_url_template="https://lib.example.com/a/{id}")
    assert ws.config().public_url == "https://dam.example.com"
    with pytest.raises(SettingsError, match="plain http"):
        ws.set_config(public_url="http://dam.example.com")
    assert ws.config().public_url == "https://dam.example.com"


def test_event_consumer_url_same_for_same_portal(tmp_path):
    bynder = {"domain": "acme.bynder.com", "tag": "T", "consumer_key": "ck-1234",
              "consumer_secret": "cs-1234", "token_key": "tk-1234", "token_secret": "ts-1234"}
    urls = []
    for n in ("one", "two"):
        with open_workspace(tmp_path / n, env=env_for(tmp_path)) as w:
            w.set_config(public_url="https://dam.example.com")
            w.add_connection("bynder", f"c-{n}", bynder)
            urls.append(w.event_consumer_url(f"c-{n}"))
    assert urls[0] == urls[1] and urls[0].startswith("https://dam.example.com/")



def test_the_workspace_environment_names_the_bucket(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace opened with ``env=`` (a server's settings handed over, not exported) gets its
    bucket from there, as its index gets DAMKIT_INDEX_URL; the process environment is untouched."""
    import os

    pytest.importorskip("s3fs", reason="the bucket store needs damkit[server] (in the test extra)")
    monkeypatch.delenv("DAMKIT_LIBRARY_URL", raising=False)
    monkeypatch.delenv("DAMKIT_S3_ENDPOINT_URL", raising=False)
    env = {"DAMKIT_LIBRARY_URL": "s3://handed-over/lib",
           "DAMKIT_S3_ENDPOINT_URL": "http://127.0.0.1:9/"}
    with open_workspace(tmp_path / "ws", env=env) as ws:
        store = ws.library_store()
        assert (store.kind, store.url) == ("s3", "s3://handed-over/lib")
    with open_workspace(tmp_path / "plain") as ws:
        assert ws.library_store().kind == "local"
    assert "DAMKIT_LIBRARY_URL" not in os.environ
