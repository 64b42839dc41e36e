"""Percolate: settings, setup steps and connector, declared once in :data:`SPEC`."""

from ..spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="percolate",
    title="Percolate",
    summary="Percolate: scope, API client ID and secret, tag for import",
    capabilities=Capabilities(
        checksum="none",
        rate=10.0,  # no published limit: where the adaptive rate opens
        burst=10,  # a second's worth at once after a quiet spell; 429s teach the rest
        rate_documented=False,
        tag_noun="tag",
    ),
    settings="damkit.providers.percolate.settings:PercolateSettings",
    steps="damkit.providers.percolate.steps:STEPS",
    connector="damkit.providers.percolate.connector:PROVIDER",
    emulator="damkit.sandbox.percolate:PercolateEmulator",
    instance_field="api_url",
)
