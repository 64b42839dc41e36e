"""Membership proven per asset: what a listing saw, and the one error for "cannot prove it".

A file is imported only when the asset, as the DAM returns it, carries the exact tag; a
server-side filter only makes the listing cheaper. Each connector tallies what it listed and why
assets were left out, so that Test Connection reports the same eligible count the sync would
import, and both fail closed (:class:`MembershipUnproven`) when the DAM's answers do not let
membership be proven.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BadAnswer


class MembershipUnproven(BadAnswer):
    """The DAM answered, but its answers prove neither per asset nor by filter which assets
    carry the tag: nothing is imported."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, kind="protocol", hint=hint)


@dataclass
class Tally:
    """What one listing saw: ``eligible`` assets carry the tag exactly (and pass the settings),
    the others were left out for the reason counted."""

    listed: int = 0
    eligible: int = 0
    untagged: int = 0  # membership read, tag absent (a server filter that let them through)
    unproven: int = 0  # no membership field on the asset
    excluded: dict[str, int] = field(default_factory=dict)  # reason ("archived") -> count

    def exclude(self, reason: str) -> None:
        self.excluded[reason] = self.excluded.get(reason, 0) + 1

    def summary(self) -> str:
        """What was left out, in a sentence ("" when nothing was)."""
        if not self.untagged and not self.excluded:
            return ""
        parts = [f"{self.eligible} of {self.listed} listed carry the tag"]
        if self.untagged:
            parts.append(f"{self.untagged} listed without it (the server filter was not "
                         "applied; they are not imported)")
        parts += [f"{n} {reason} (not imported)" for reason, n in sorted(self.excluded.items())]
        return "; ".join(parts)
