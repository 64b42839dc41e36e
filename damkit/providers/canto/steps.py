"""The Canto setup guide as data."""

from ..base import SetupStep

DEFAULT_REDIRECT_PORT = 8976
"""Fixed by default so the Redirect URL on Canto's API key can be registered once, and so
``ssh -L 8976:127.0.0.1:8976`` forwards it. ``port=0`` picks a free port (fine for the sandbox)."""
CALLBACK_PATH = "/canto/callback"
REDIRECT_URL = f"http://127.0.0.1:{DEFAULT_REDIRECT_PORT}{CALLBACK_PATH}"

STEPS: tuple[SetupStep, ...] = (
    SetupStep(
        id="canto.api-key",
        title="Create your API key",
        where="Canto: Settings > Configuration Options > API > API keys > Create API Key",
        what="Fill all the mandatory fields (name it e.g. 'Gelato'), set the Redirect URL to "
        f"{REDIRECT_URL} (damkit's login address on your machine), and click Finish. The new key "
        "shows its App ID and App Secret (Edit the key to copy the full secret).",
        fields=("app_id", "app_secret"),
        warnings=("The Website and Logo URL are generated automatically.",),
    ),
    SetupStep(
        id="canto.keyword",
        title="Set up the keyword",
        where="Canto: Settings > Configuration Options > Keywords",
        what="Pick an existing keyword or create one; add it to every file that should reach the "
        "library.",
        fields=("keyword",),
        warnings=(
            "You can only set up 1 keyword for the integration.",
            "There must be at least one file with the keyword in the Canto library before testing "
            "the integration.",
        ),
    ),
    SetupStep(
        id="canto.integration",
        title="Fill in the integration",
        where="damkit: add a connection (the console's a, the notebook's form, or `damkit connections add`)",
        what="Canto Domain (the first part of your Canto web-link, e.g. acme.canto.com), App ID, "
        "App Secret and Keyword for Import.",
        fields=("domain", "app_id", "app_secret", "keyword"),
    ),
    SetupStep(
        id="canto.save",
        title="Save",
        where="damkit",
        what="Save. damkit needs the saved connection (its App ID and App Secret) before the "
        "login.",
        action="save",
    ),
    SetupStep(
        id="canto.login",
        title="Authenticate Canto",
        where="Canto's log-in page, in your browser",
        what="Sign in with your Canto credentials, select the part of Canto that holds the files "
        "to sync (i.e. Main Library) and click Allow. damkit then receives the login. Over SSH, "
        "paste the address the browser was sent to.",
        action="auth",
    ),
    SetupStep(
        id="canto.check",
        title="Test Connection",
        where="damkit: Test Connection (the console's c, the notebook's button, `damkit check`)",
        what="Test Connection counts the files eligible for syncing: the files in Canto with the "
        "Keyword for Import.",
        action="check",
        warnings=('There must be at least one file with the keyword for "Test Connection" to work.',),
    ),
    SetupStep(
        id="canto.sync",
        title="Synchronize",
        where="damkit: Sync",
        what="All the files imported from Canto appear in the library folder DAM Import.",
        action="sync",
    ),
)
