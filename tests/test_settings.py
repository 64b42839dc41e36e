"""Settings validation: every field of every provider, good and bad values, with the message."""

from __future__ import annotations

import pytest

from damkit.errors import SettingsError
from damkit.providers import names as provider_names
from damkit.providers import settings_model, setup_steps
from damkit.providers.bynder.settings import BynderSettings
from damkit.providers.canto.settings import CantoSettings
from damkit.providers.percolate.settings import PercolateSettings
from damkit.settings import clean_connection_name, parse_settings

PERCOLATE = {"scope_id": "12345", "client_id": "cid", "client_secret": "s3cr3t-value",
             "tag": "Gelato"}
CANTO = {"domain": "acme.canto.com", "app_id": "app", "app_secret": "s3cr3t-value",
         "keyword": "Gelato"}
BYNDER = {"domain": "acme.bynder.com", "tag": "Gelato", "consumer_key": "ck-1234",
          "consumer_secret": "cs-1234", "token_key": "tk-1234", "token_secret": "ts-1234"}


def good(model, base, **changes):
    return parse_settings(model, {**base, **changes})


def bad(model, base, **changes) -> str:
    with pytest.raises(SettingsError) as info:
        parse_settings(model, {**base, **changes})
    return info.value.message


# --- Percolate --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["12345", "license:12345", "LICENSE:12345"])
def test_percolate_scope_id_accepts_number_or_typed_id(raw):
    assert good(PercolateSettings, PERCOLATE, scope_id=raw).scope_id == "license:12345"


@pytest.mark.parametrize("raw,needle", [("brand:12", "not a license id"), ("abc", "not a license id"),
                                        (" 12345", "spaces"), ("", "not a license id")])
def test_percolate_scope_id_refused(raw, needle):
    msg = bad(PercolateSettings, PERCOLATE, scope_id=raw)
    assert msg.startswith("Scope ID:") and needle in msg


def test_percolate_client_fields_required_and_trimmed():
    assert bad(PercolateSettings, PERCOLATE, client_id="").startswith("Client ID: is required")
    assert "spaces" in bad(PercolateSettings, PERCOLATE, client_id=" cid")
    msg = bad(PercolateSettings, PERCOLATE, client_secret="  pasted  ")
    assert msg.startswith("Client Secret:") and "pasted" not in msg.split(":", 1)[1].replace("(pasted?)", "")


def test_percolate_missing_field_named():
    values = dict(PERCOLATE)
    del values["client_secret"]
    assert bad(PercolateSettings, values) == "Client Secret: is required"


def test_percolate_api_url_default_and_http_refused():
    assert good(PercolateSettings, PERCOLATE).api_url == "https://percolate.com"
    assert "plain http is refused" in bad(PercolateSettings, PERCOLATE, api_url="http://percolate.com")
    assert good(PercolateSettings, PERCOLATE, api_url="http://127.0.0.1:9/percolate/").api_url == \
        "http://127.0.0.1:9/percolate"


# --- tags (all three) ---------------------------------------------------------------------------

@pytest.mark.parametrize("model,base,field,label", [
    (PercolateSettings, PERCOLATE, "tag", "Tag for Import"),
    (CantoSettings, CANTO, "keyword", "Keyword for Import"),
    (BynderSettings, BYNDER, "tag", "Tag"),
])
def test_tags_keep_case_and_inner_spaces_refuse_outer(model, base, field, label):
    assert getattr(good(model, base, **{field: "Summer Sale 2024"}), field) == "Summer Sale 2024"
    assert getattr(good(model, base, **{field: "gElAtO"}), field) == "gElAtO"
    msg = bad(model, base, **{field: "Gelato "})
    assert msg.startswith(f"{label}:") and "did you mean 'Gelato'" in msg
    assert bad(model, base, **{field: "   "}) == f"{label}: is required"
    assert model.check_field(field, " Gelato").startswith(f"{label}:")
    assert model.check_field(field, "Gelato") is None


def test_canto_exactly_one_keyword():
    assert "exactly one keyword" in bad(CantoSettings, CANTO, keyword="Gelato,Print")


# --- Canto domain ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ("acme.canto.com", "https://acme.canto.com"),
    ("https://acme.canto.global/library/foo?x=1", "https://acme.canto.global"),
    ("ACME.canto.de", "https://acme.canto.de"),
    ("acme.ca.canto.com", "https://acme.ca.canto.com"),
    ("https://acme.au.canto.com/", "https://acme.au.canto.com"),
    ("http://127.0.0.1:8000/canto", "http://127.0.0.1:8000/canto"),
])
def test_canto_domain_reduced(raw, expected):
    assert good(CantoSettings, CANTO, domain=raw).domain == expected


@pytest.mark.parametrize("raw,needle", [
    ("acme.example.com", "not on a known region"),
    ("acme", "not a full domain"),
    ("http://acme.canto.com", "plain http is refused"),
    ("ftp://acme.canto.com", "https://"),
    ("https://user:pw@acme.canto.com", "user name or password"),
    (" acme.canto.com", "spaces"),
])
def test_canto_domain_refused(raw, needle):
    msg = bad(CantoSettings, CANTO, domain=raw)
    assert msg.startswith("Canto Domain:") and needle in msg


def test_canto_app_fields():
    assert bad(CantoSettings, CANTO, app_id="") == "App ID: is required"
    assert bad(CantoSettings, CANTO, app_secret="") == "App Secret: is required"


# --- Bynder -------------------------------------------------------------------------------------------

def test_bynder_defaults():
    s = good(BynderSettings, BYNDER)
    assert s.auth == "oauth1" and s.backlink is False and s.backlink_label == "Gelato URL"
    assert s.domain == "https://acme.bynder.com"


def test_bynder_domain_custom_and_pasted_url():
    assert good(BynderSettings, BYNDER, domain="https://dam.acme.com/media/x").domain == "https://dam.acme.com"
    assert "plain http" in bad(BynderSettings, BYNDER, domain="http://acme.bynder.com")


def test_bynder_oauth1_needs_the_four_keys_named():
    values = dict(BYNDER)
    del values["token_secret"]
    assert bad(BynderSettings, values) == "Authentication 'oauth1' needs: Token secret"


def test_bynder_alternative_auth():
    s = good(BynderSettings, {"domain": "acme.bynder.com", "tag": "T", "auth": "permanent_token",
                              "permanent_token": "perm-abcdef"})
    assert s.permanent_token.get_secret_value() == "perm-abcdef"
    msg = bad(BynderSettings, {"domain": "acme.bynder.com", "tag": "T",
                               "auth": "oauth2_client_credentials", "client_id": "x"})
    assert msg == "Authentication 'oauth2_client_credentials' needs: OAuth 2 client secret"
    assert "Authentication" in bad(BynderSettings, BYNDER, auth="basic")


def test_bynder_backlink_label_and_bool():
    assert good(BynderSettings, BYNDER, backlink="true", backlink_label="Library link").backlink is True
    assert bad(BynderSettings, BYNDER, backlink_label=" ").startswith("Backlink metaproperty label:")
    assert bad(BynderSettings, BYNDER, backlink="maybe").startswith("Enable backlink:")


def test_unknown_field_refused_with_its_name():
    msg = bad(BynderSettings, BYNDER, colour="red")
    assert "colour" in msg and "not a field" in msg


# --- secrets never in repr, str, JSON, errors ---------------------------------------------------------

@pytest.mark.parametrize("model,base", [(PercolateSettings, PERCOLATE), (CantoSettings, CANTO),
                                        (BynderSettings, BYNDER)])
def test_secrets_masked_everywhere(model, base):
    s = good(model, base)
    secrets = s.secret_values()
    assert secrets, "every provider has at least one secret"
    texts = [repr(s), str(s), s.model_dump_json(), str(s.public_dict()), str(s.plain_dict())]
    for value in secrets.values():
        for text in texts:
            assert value not in text


def test_secret_value_not_in_validation_error():
    secret = "  my-very-secret-value"
    with pytest.raises(SettingsError) as info:
        parse_settings(PercolateSettings, {**PERCOLATE, "client_secret": secret})
    assert secret.strip() not in str(info.value) and secret.strip() not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --- schema the frontends render ------------------------------------------------------------------------

def test_every_provider_has_labels_help_and_steps():
    for name in provider_names():
        model = settings_model(name)
        specs = model.fields()
        assert all(s.label and s.help for s in specs)
        step_fields = {f for step in setup_steps(name) for f in step.fields}
        required = {s.name for s in specs if s.required}
        assert required <= step_fields, f"{name}: a required field is in no guide step"
        assert any(step.action == "check" for step in setup_steps(name))


def test_guide_labels():
    labels = {s.name: s.label for s in PercolateSettings.fields()}
    assert labels == {"scope_id": "Scope ID", "client_id": "Client ID", "client_secret": "Client Secret",
                      "tag": "Tag for Import", "extend_scopes": "Find tags above the license",
                      "api_url": "API base URL"}
    assert [s.label for s in CantoSettings.fields()] == ["Canto Domain", "App ID", "App Secret",
                                                          "Keyword for Import",
                                                          "Asset types searched"]
    b = {s.name: s for s in BynderSettings.fields()}
    assert b["consumer_key"].label == "Consumer key" and b["token_secret"].secret
    assert b["backlink"].default is False and b["backlink_label"].default == "Gelato URL"
    # safe defaults: archived and limited-use media are not imported unless asked
    assert b["include_archived"].default is False and b["include_limited"].default is False


def test_resolve_field_name_by_label():
    assert CantoSettings.resolve_field_name("App Secret") == "app_secret"
    assert CantoSettings.resolve_field_name("app-secret") == "app_secret"
    with pytest.raises(SettingsError):
        CantoSettings.resolve_field_name("password")


@pytest.mark.parametrize("name", ["acme", "acme-bynder", "a1_b2", "x" * 63])
def test_connection_names_ok(name):
    assert clean_connection_name(name) == name


@pytest.mark.parametrize("name", ["", "Acme", "-acme", "acme bynder", "../x", "x" * 64, "é"])
def test_connection_names_refused(name):
    with pytest.raises(SettingsError, match="slug"):
        clean_connection_name(name)


def test_canto_guide_step_shows_the_redirect_url_the_login_uses():
    from damkit.providers.canto.auth import CALLBACK_PATH, DEFAULT_REDIRECT_PORT

    url = f"http://127.0.0.1:{DEFAULT_REDIRECT_PORT}{CALLBACK_PATH}"
    assert url in setup_steps("canto")[0].what
