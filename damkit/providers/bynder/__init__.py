"""Bynder: settings, setup steps and connector, declared once in :data:`SPEC`."""

from ..spec import Capabilities, ProviderSpec

#: Permissions the backlink needs on the keys' portal user (bynder.md §4).
BACKLINK_PERMISSIONS = (
    "Metaproperty management",
    "Permissions management",
    "Edit media",
    "Download original",
)

SPEC = ProviderSpec(
    name="bynder",
    title="Bynder",
    summary="Bynder Asset Bank: OAuth 1.0a keys, tag for import, backlink and SNS notifications",
    capabilities=Capabilities(
        backlink=True,
        backlink_permissions=BACKLINK_PERMISSIONS,
        change_notifications=True,
        checksum="none",
        rate=15.0,  # 15 requests a second per credential, then 429 (bynder.md)
        rate_documented=True,
        tag_noun="tag",
    ),
    settings="damkit.providers.bynder.settings:BynderSettings",
    steps="damkit.providers.bynder.steps:STEPS",
    connector="damkit.providers.bynder.connector:PROVIDER",
    emulator="damkit.sandbox.bynder:BynderEmulator",
)
