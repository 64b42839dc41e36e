"""Canto: settings, setup steps, OAuth login and connector, declared once in :data:`SPEC`."""

from ..spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="canto",
    title="Canto",
    summary="Canto: API key (App ID and Secret), browser login, keyword for import",
    capabilities=Capabilities(
        browser_login=True,
        checksum="md5",
        rate=3.0,  # the 200/min other clients use (canto.md §7); adapts from there
        burst=30,  # the 30-request burst clients use (canto.md §7)
        rate_documented=False,  # no official number (canto.md §7): only where the rate opens
        tag_noun="keyword",
        login_secrets=("access_token", "refresh_token", "expires_at"),
        login_marker="refresh_token",
    ),
    settings="damkit.providers.canto.settings:CantoSettings",
    steps="damkit.providers.canto.steps:STEPS",
    connector="damkit.providers.canto.connector:PROVIDER",
    emulator="damkit.sandbox.canto:CantoEmulator",
    login="damkit.providers.canto.auth:CantoLogin",
    sandbox_login="damkit.sandbox.canto:sandbox_login",
)
