"""Toydam's connection settings: each field declared once, with the guide's label and help."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr, field_validator

from damkit.settings import (
    ConnectionSettings,
    clean_base_url,
    clean_exact_tag,
    clean_required_text,
    setting,
)


class ToySettings(ConnectionSettings):
    provider: ClassVar[str] = "toy"
    tag_field: ClassVar[str] = "term"

    url: str = setting("Toydam URL", "The address of your Toydam, e.g. acme.toydam.example.",
                       placeholder="acme.toydam.example", kind="url", step="toy.settings")
    api_key: SecretStr = setting("API key", "Toydam: Settings > API > New key.", secret=True,
                                 step="toy.key")
    term: str = setting("Term for Import", "The term that marks the files to sync, exactly.",
                        step="toy.settings")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return clean_base_url(value, example="acme.toydam.example")

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        clean_required_text(value.get_secret_value())
        return value

    @field_validator("term")
    @classmethod
    def _term(cls, value: str) -> str:
        return clean_exact_tag(value)
