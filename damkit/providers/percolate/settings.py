"""Percolate connection settings, labelled as the setup guide labels them."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import SecretStr, field_validator

from ...settings import (
    ConnectionSettings,
    clean_base_url,
    clean_digits,
    clean_exact_tag,
    clean_required_text,
    setting,
)

DEFAULT_API_URL = "https://percolate.com"


class PercolateSettings(ConnectionSettings):
    provider: ClassVar[str] = "percolate"
    tag_field: ClassVar[str] = "tag"
    tag_allows_comma: ClassVar[bool] = False  # tag lists are comma-joined (percolate.md)

    scope_id: str = setting(
        "Scope ID",
        "Your Percolate license ID. In Percolate: Settings > Organization > Teams, click the team "
        "name at the top of the tree; the License Id appears in the URL. Type 12345 or "
        "license:12345. Ask Percolate if you cannot see it.",
        placeholder="license:12345",
        step="percolate.scope",
    )
    client_id: str = setting(
        "Client ID",
        "In Percolate: Settings > Developer > API Clients, click the client for the library; the "
        "Client ID is at the top of the page.",
        step="percolate.client",
    )
    client_secret: SecretStr = setting(
        "Client Secret",
        "In Percolate: Settings > Developer > API Clients > your client: Get your API Key "
        "(Show secret), copy it and paste it here.",
        secret=True,
        step="percolate.secret",
    )
    tag: str = setting(
        "Tag for Import",
        "The tag that marks the assets to sync, written exactly as in Percolate (case and spaces "
        "count). At least 1 file must carry it before the first Test Connection.",
        step="percolate.tag",
    )
    extend_scopes: bool = setting(
        "Find tags above the license",
        "On (default): tags defined at a brand or tenant level count too; the tag list is read "
        "with extend_scopes=true, as Percolate's own scripts do. Off: only the license's tags.",
        default=True,
        kind="bool",
        advanced=True,
    )
    api_url: str = setting(
        "API base URL",
        "Percolate's API address. Leave the default unless you use the damkit sandbox.",
        default=DEFAULT_API_URL,
        kind="url",
        advanced=True,
    )

    @field_validator("scope_id", mode="before")
    @classmethod
    def _scope(cls, value: object) -> str:
        text = str(value if value is not None else "")
        if text != text.strip():
            raise ValueError("remove the spaces before or after the license id")
        match = re.fullmatch(r"(?:license:)?([0-9]{1,18})", text, flags=re.IGNORECASE | re.ASCII)
        if not match:
            raise ValueError(f"'{text}' is not a license id: type the number (12345) or "
                             "license:12345, in ASCII digits 0-9")
        return f"license:{clean_digits(match.group(1), what='license id')}"

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        return clean_required_text(value)

    @field_validator("client_secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        clean_required_text(value.get_secret_value())
        return value

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        return clean_exact_tag(value, allow_comma=cls.tag_allows_comma)

    @field_validator("api_url")
    @classmethod
    def _api(cls, value: str) -> str:
        return clean_base_url(value, example="percolate.com")
