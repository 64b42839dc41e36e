"""The knobs of the index's file layout: shard size, delta segments, compaction, event cap.

Read at call time (``tuning.SHARD_MAX_DOCS``), so tests may shrink them to exercise deltas, carries
and compactions on a few dozen assets.
"""

from __future__ import annotations

SHARD_MAX_DOCS = 4000
"""New assets go to the newest shard until it holds this many documents."""
MAX_EVENTS = 5000
"""Only the newest events are kept."""
REWRITE_FRACTION = 4
"""A shard is rewritten when at least 1/REWRITE_FRACTION of it changed, else its changes go to a delta."""
COMPACT_MIN_DOCS = 8000
"""Compaction starts when delta segments hold more than max(this, assets/8) entries..."""
MAX_DELTAS = 16
"""... and at most this many segments are listed: past it, a commit's new segment takes over the
live entries of the segments with the fewest of them (a carry), never every pending entry."""
COMPACT_DOCS_PER_COMMIT = 8000
"""A compacting commit folds pending deltas back into the shards with the most pending entries,
rewriting at most this many documents (at least one shard): no single commit rewrites the whole
library, so the worst commit stays a few shards' worth of work."""

__all__ = [
           "COMPACT_DOCS_PER_COMMIT",
           "COMPACT_MIN_DOCS",
           "MAX_DELTAS",
           "MAX_EVENTS",
           "REWRITE_FRACTION",
           "SHARD_MAX_DOCS",
]
