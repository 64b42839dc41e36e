"""The Percolate setup guide as data."""

from ..base import SetupStep

ADMIN = "You need Admin rights in Percolate to create the API client damkit uses."

STEPS: tuple[SetupStep, ...] = (
    SetupStep(
        id="percolate.add",
        title="Add the DAM provider",
        where="damkit: add a connection (the console's a, the notebook's form, or `damkit connections add`)",
        what="Pick Percolate and give the connection a name.",
        warnings=(ADMIN,),
    ),
    SetupStep(
        id="percolate.scope",
        title="Scope ID (license ID)",
        where="Percolate: Settings > Organization > Teams",
        what="Click the team name at the top of your tree; the License Id appears in the URL. "
        "Ask Percolate for it if you cannot access this detail.",
        fields=("scope_id",),
    ),
    SetupStep(
        id="percolate.client",
        title="Client ID",
        where="Percolate: Settings (top left) > Developer > API Clients",
        what="Click the client for the library; the Client ID is at the top of the page. Ask "
        "Percolate for it if you cannot access this detail.",
        fields=("client_id",),
    ),
    SetupStep(
        id="percolate.secret",
        title="Client Secret",
        where="Percolate: Settings > Developer > API Clients > your client",
        what="Get your API Key (Show secret), copy it and paste it into Client Secret.",
        fields=("client_secret",),
    ),
    SetupStep(
        id="percolate.tag",
        title="Tag for Import",
        where="Percolate: the assets to sync",
        what="Type the tag you use in Percolate to mark the assets to sync.",
        fields=("tag",),
        warnings=(
            "Write the tag exactly the same way in both places (case and spaces count).",
            "At least 1 file must carry the tag before you sync for the first time.",
        ),
    ),
    SetupStep(
        id="percolate.save",
        title="Save",
        where="damkit",
        what="Save the settings once every field is filled: damkit stores them (secrets in the "
        "secret store) and Test Connection becomes available.",
        action="save",
    ),
    SetupStep(
        id="percolate.check",
        title="Test Connection",
        where="damkit: Test Connection (the console's c, the notebook's button, `damkit check`)",
        what="Run Test Connection: it reports how many files are eligible. If it fails, follow "
        "its hint or contact your implementation specialist.",
        action="check",
        warnings=("At least 1 file should be tagged in Percolate before Testing Connection.",),
    ),
    SetupStep(
        id="percolate.sync",
        title="Library synchronization",
        where="damkit: Sync",
        what="Sync: every file carrying the tag appears in the library folder DAM Import.",
        action="sync",
    ),
)
