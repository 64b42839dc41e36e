"""Bynder connection settings, labelled as the setup guide labels them."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import SecretStr, field_validator, model_validator

from ...settings import ConnectionSettings, clean_base_url, clean_exact_tag, clean_required_text, setting

AuthMode = Literal["oauth1", "permanent_token", "oauth2_client_credentials"]

AUTH_FIELDS: dict[str, tuple[str, ...]] = {
    "oauth1": ("consumer_key", "consumer_secret", "token_key", "token_secret"),
    "permanent_token": ("permanent_token",),
    "oauth2_client_credentials": ("client_id", "client_secret"),
}


class BynderSettings(ConnectionSettings):
    provider: ClassVar[str] = "bynder"
    tag_field: ClassVar[str] = "tag"
    tag_allows_comma: ClassVar[bool] = False  # tags=a,b is comma-separated, no escape (bynder.md)

    domain: str = setting(
        "Bynder Domain",
        "The web-link of your Bynder portal, e.g. acme.bynder.com (or your custom domain). A "
        "pasted URL is reduced to its domain.",
        placeholder="acme.bynder.com",
        kind="url",
        step="bynder.settings",
    )
    tag: str = setting(
        "Tag",
        "The tag in Bynder that marks the files to sync. Tags are case sensitive: write it exactly "
        "as in Bynder.",
        step="bynder.settings",
    )
    auth: AuthMode = setting(
        "Authentication",
        "Choose permanent_token (new portals, a Permanent token), oauth2_client_credentials (new "
        "portals, an OAuth 2 app with the Client Credentials grant) or oauth1 (the four API token "
        "keys, only for portals that already have them; Bynder no longer creates them by default).",
        default="oauth1",
        kind="choice",
        choices=tuple(AUTH_FIELDS),
        step="bynder.keys",
    )
    consumer_key: SecretStr | None = setting(
        "Consumer key", "From the consumer created in Bynder's API tokens section.",
        default=None, secret=True, step="bynder.keys")
    consumer_secret: SecretStr | None = setting(
        "Consumer secret", "The consumer's secret key.", default=None, secret=True, step="bynder.keys")
    token_key: SecretStr | None = setting(
        "Token key", "The access token pair's key (bound to a portal user and its permissions).",
        default=None, secret=True, step="bynder.keys")
    token_secret: SecretStr | None = setting(
        "Token secret", "The access token pair's secret key.", default=None, secret=True,
        step="bynder.keys")
    permanent_token: SecretStr | None = setting(
        "Permanent token", "When Authentication is permanent_token, the token from Portal settings "
        "> Permanent tokens (shown once; it carries its assigned user's permissions).",
        default=None, secret=True, step="bynder.keys")
    client_id: str | None = setting(
        "OAuth 2 client ID", "When Authentication is oauth2_client_credentials, the OAuth 2 app's "
        "client ID (the app is registered with the Client Credentials grant).",
        default=None, step="bynder.keys")
    client_secret: SecretStr | None = setting(
        "OAuth 2 client secret", "When Authentication is oauth2_client_credentials, the OAuth 2 "
        "app's secret.", default=None, secret=True, step="bynder.keys")
    include_archived: bool = setting(
        "Import archived media",
        "Off (safe): archived media are never imported, and a file archived in Bynder counts as "
        "gone. Bynder lists archived media unless asked otherwise (archive=0 means no filtering).",
        default=False,
        kind="bool",
        advanced=True,
    )
    include_limited: bool = setting(
        "Import limited-use media",
        "Off (safe): media marked limited use in Bynder are not imported (Test Connection counts "
        "them). On: they are listed with limited=1 and imported like the others.",
        default=False,
        kind="bool",
        advanced=True,
    )
    backlink: bool = setting(
        "Enable backlink",
        "Write each synced file's library URL into a text metaproperty on the Bynder asset. Needs "
        "the permissions Metaproperty management, Permissions management, Edit media and Download "
        "original. Tag files only after enabling it.",
        default=False,
        kind="bool",
        step="bynder.backlink",
    )
    backlink_label: str = setting(
        "Backlink metaproperty label",
        "Label of the text metaproperty that receives the URL (created if missing).",
        default="Gelato URL",
        step="bynder.backlink",
    )

    def backlink_property_label(self) -> str | None:
        return self.backlink_label if self.backlink else None

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return clean_base_url(value, example="acme.bynder.com")

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        return clean_exact_tag(value, allow_comma=cls.tag_allows_comma)

    @field_validator("backlink_label")
    @classmethod
    def _label(cls, value: str) -> str:
        return clean_required_text(value)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        return None if value in (None, "") else clean_required_text(value)

    @field_validator("consumer_key", "consumer_secret", "token_key", "token_secret",
                     "permanent_token", "client_secret")
    @classmethod
    def _keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        clean_required_text(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _auth_complete(self) -> BynderSettings:
        missing = [n for n in AUTH_FIELDS[self.auth] if getattr(self, n) in (None, "")]
        if missing:
            labels = ", ".join(type(self).model_fields[n].title or n for n in missing)
            raise ValueError(f"Authentication '{self.auth}' needs: {labels}")
        return self
