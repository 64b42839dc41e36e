"""The Bynder setup guide as data."""

from ..base import SetupStep
from . import BACKLINK_PERMISSIONS

STEPS: tuple[SetupStep, ...] = (
    SetupStep(
        id="bynder.api",
        title="Request to activate the API",
        where="Bynder: ask your Bynder account manager",
        what="Ask your Bynder account manager to enable the API for your account. Once done, an "
        '"API tokens" section appears (Settings > Advanced settings > Portal settings > API '
        "tokens).",
    ),
    SetupStep(
        id="bynder.settings",
        title="Bynder Domain and tag",
        where="damkit: add a connection (the console's a, the notebook's form, or `damkit connections add`)",
        what="Bynder Domain: the web-link of your portal. Tag: the tag that marks files for "
        "import; any combination of symbols works.",
        fields=("domain", "tag"),
        warnings=("Tags are case sensitive.",),
    ),
    SetupStep(
        id="bynder.events-url",
        title="Event consumer URL",
        where="damkit: shown on the connection",
        what="Generated automatically from the workspace's public URL and the Bynder portal; never "
        "typed. The SNS step below sends it to Bynder.",
    ),
    SetupStep(
        id="bynder.backlink",
        title="Enable backlink (optional)",
        where="damkit: the connection's settings",
        what="When on, each migrated file's library URL is saved in a new text metaproperty "
        "(label 'Gelato URL') on the Bynder asset. To make the URL clickable, Bynder must enable "
        "the 'external-options-link' feature.",
        fields=("backlink", "backlink_label"),
        warnings=(
            "Tag the file(s) only after this feature is enabled.",
            "The keys need the permissions: " + ", ".join(BACKLINK_PERMISSIONS) + ".",
        ),
    ),
    SetupStep(
        id="bynder.keys",
        title="Bynder API credentials",
        where="Bynder: Settings > Advanced settings > Portal settings (as administrator)",
        what="Pick one way in Authentication. New portals: a Permanent token (Permanent tokens > "
        "Add new token: pick the integration, an assigned user and the scopes; copy the token, "
        "it is shown once), or an OAuth 2 app with the Client Credentials grant and an assigned "
        "user (OAuth apps: copy its client ID and secret). Portals that already have OAuth 1 API "
        "tokens (the guide's way): API tokens > create a consumer, then an access token pair for "
        "it; copy Consumer key, Consumer secret, Token key and Token secret.",
        fields=("auth", "permanent_token", "client_id", "client_secret",
                "consumer_key", "consumer_secret", "token_key", "token_secret"),
        warnings=("You need administrator access to the Bynder portal to create credentials.",
                  "Bynder no longer creates OAuth 1 API tokens by default: only portals that "
                  "already use them can add more; new portals use a Permanent token or OAuth 2."),
    ),
    SetupStep(
        id="bynder.save",
        title="Save and test",
        where="damkit",
        what="Save the settings and run Test Connection. After a successful test the DAM is "
        "connected and file synchronization can start.",
        action="check",
    ),
    SetupStep(
        id="bynder.sns",
        title="SNS notifications",
        where="Bynder: e-mail to your Bynder account manager",
        what="Ask Bynder to activate all SNS notifications, sent through the API channel right "
        "after assets are uploaded or modified, to the Event consumer URL, over https. damkit "
        "writes the request text for you.",
        action="events-request",
        warnings=(
            "Send only one request per unique Event consumer URL: two accounts that connect the "
            "same Bynder portal share one URL.",
        ),
    ),
    SetupStep(
        id="bynder.tagging",
        title="Tag the files",
        where="Bynder: the files to migrate",
        what='Assign the tag to every file that should reach the library; they are migrated to the '
        'library folder "DAM Import".',
        warnings=("Tags are case sensitive.",),
        action="sync",
    ),
)
