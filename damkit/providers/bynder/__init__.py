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
        # "at most 15 requests a second per IP; after 15 requests every other request within
        # the same second is rejected" (bynder.md §6.1): 15 in any second, the first 15 at once
        rate=15.0,
        rate_documented=True,
        rate_window=1.0,
        tag_noun="tag",
    ),
    settings="damkit.providers.bynder.settings:BynderSettings",
    steps="damkit.providers.bynder.steps:STEPS",
    connector="damkit.providers.bynder.connector:PROVIDER",
    emulator="damkit.sandbox.bynder:BynderEmulator",
)
