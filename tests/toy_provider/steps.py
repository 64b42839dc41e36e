"""Toydam's setup guide as data."""

from damkit.providers.base import SetupStep

STEPS: tuple[SetupStep, ...] = (
    SetupStep(id="toy.key", title="Create an API key", where="Toydam: Settings > API",
              what="Click New key and copy it.", fields=("api_key",)),
    SetupStep(id="toy.settings", title="Address and term", where="damkit: add a connection",
              what="The Toydam address and the term that marks the files to import.",
              fields=("url", "term"), warnings=("Terms are case sensitive.",)),
    SetupStep(id="toy.save", title="Save", where="damkit", what="Save the connection.",
              action="save"),
    SetupStep(id="toy.check", title="Test Connection", where="damkit",
              what="Counts the files that carry the term.", action="check"),
    SetupStep(id="toy.sync", title="Sync", where="damkit",
              what="Every file with the term reaches DAM Import.", action="sync"),
)
