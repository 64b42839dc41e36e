"""The transaction: every mutating method of the index, batched into one commit."""

from __future__ import annotations

from .assets import AssetWrites
from .connections import ConnectionWrites
from .folders import FolderWrites
from .runs import RunWrites


class Transaction(ConnectionWrites, AssetWrites, RunWrites, FolderWrites):
    """A batch of changes committed at once, under one hold of the index lock.

    Obtained from :meth:`LibraryIndex.transaction`; has the index's mutating methods. Changes
    are visible to reads in the same thread at once and to everyone else after the commit.
    """


__all__ = ["Transaction"]
