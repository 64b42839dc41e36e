"""Canto connection settings, labelled as the setup guide labels them."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr, field_validator

from ...settings import ConnectionSettings, clean_base_url, clean_exact_tag, clean_required_text, setting

REGIONS = ("canto.com", "canto.global", "canto.de", "ca.canto.com", "au.canto.com")


class CantoSettings(ConnectionSettings):
    provider: ClassVar[str] = "canto"
    tag_field: ClassVar[str] = "keyword"

    domain: str = setting(
        "Canto Domain",
        "The first part of the web-link of your Canto account: tenant and region, e.g. "
        "acme.canto.com (regions: canto.com, canto.global, canto.de, ca.canto.com, au.canto.com). "
        "A pasted URL is reduced to its domain.",
        placeholder="acme.canto.com",
        kind="url",
        step="canto.integration",
    )
    app_id: str = setting(
        "App ID",
        "Canto: Settings > Configuration Options > API > API keys: the App ID of the key created "
        "for the library.",
        step="canto.api-key",
    )
    app_secret: SecretStr = setting(
        "App Secret",
        "Also in Canto's API keys settings. To get the full value, click Edit on the key and copy "
        "it from there.",
        secret=True,
        step="canto.api-key",
    )
    keyword: str = setting(
        "Keyword for Import",
        "The one Canto keyword that marks the files to sync, written exactly as in Canto. Only one "
        "keyword per integration; at least one file must carry it before Test Connection.",
        step="canto.keyword",
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return clean_base_url(value, allowed_suffixes=REGIONS, example="acme.canto.com")

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str) -> str:
        return clean_required_text(value)

    @field_validator("app_secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        clean_required_text(value.get_secret_value())
        return value

    schemes: str = setting(
        "Asset types searched",
        "The Canto schemes the keyword search covers, sent explicitly (Canto's own Universal "
        "Connector sends image|presentation|document|audio|video|other to mean everything).",
        default="image|presentation|document|audio|video|other",
        advanced=True,
    )

    @field_validator("schemes")
    @classmethod
    def _schemes(cls, value: str) -> str:
        known = ("image", "presentation", "document", "audio", "video", "other")
        parts = [p.strip() for p in value.replace(",", "|").split("|") if p.strip()]
        wrong = [p for p in parts if p not in known]
        if not parts or wrong:
            raise ValueError("give one or more of " + "|".join(known)
                             + (f" (not {', '.join(wrong)})" if wrong else ""))
        return "|".join(dict.fromkeys(parts))

    @field_validator("keyword")
    @classmethod
    def _keyword(cls, value: str) -> str:
        text = clean_exact_tag(value)
        if "," in text or ";" in text:
            raise ValueError("give exactly one keyword (Canto allows one keyword per integration)")
        return text
