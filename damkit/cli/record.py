"""``--record FILE`` on ``damkit check`` and ``damkit sync``: a redacted HAR of the exchanges."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from .common import err

RecordOption = typer.Option(None, "--record", metavar="FILE",
                            help="Write the HTTP exchanges as a redacted HAR 1.2 file (attach it "
                            "to a bug report; compare it with: damkit sandbox compare FILE)")


@contextmanager
def recorded(ws: Any, name: str, path: Path | None) -> Iterator[None]:
    """Record every exchange of the block into ``path`` (written even when the block fails: a
    failure is what a bug report needs)."""
    if path is None:
        yield
        return
    from ..record import Recorder, recording

    settings = ws.load_settings(name)
    fields = type(settings).model_fields
    secrets = [v.get_secret_value() for n in fields
               if hasattr(v := getattr(settings, n), "get_secret_value")]
    base = next((getattr(settings, n) for n, f in fields.items()
                 if (f.json_schema_extra or {}).get("kind") == "url"), "")  # type: ignore[union-attr,unused-ignore]
    recorder = Recorder(secrets=secrets, meta={"provider": ws.connection(name)["provider"],
                                               "base_url": base, "connection": name})
    try:
        with recording(recorder):
            yield
    finally:
        recorder.save(path)
        err(f"recorded {len(recorder.entries)} exchanges (redacted) to {path}")
