"""Toydam: a fourth DAM that exists only in the test tree, to prove the provider seam is real.

Its spec, settings, guide, connector and emulator live in this folder and nowhere else; the
test registers it (``damkit.providers.register(SPEC)``) and it appears in every frontend.
See ``docs/adding-a-provider.md``.
"""

from damkit.providers.spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="toy",
    title="Toydam",
    summary="Toydam: API key, label for import",
    capabilities=Capabilities(
        checksum="sha256",
        rate=50.0,  # the limit Toydam documents
        rate_documented=True,
        tag_noun="term",
    ),
    settings="toy_provider.settings:ToySettings",
    steps="toy_provider.steps:STEPS",
    connector="toy_provider.connector:ToyProvider",
    emulator="toy_provider.emulator:ToyEmulator",
    instance_field="url",
)
