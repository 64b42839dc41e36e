"""Pieces shared by the connector tests."""

from __future__ import annotations


class MemorySecrets:
    """A connection's secrets in memory: what a provider sees as ``ctx.secrets``.

    The connector tests build providers directly, without a workspace; the real secret store has
    its own tests (test_secrets.py) and is used by the workspace and multi-process tests.
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, field: str) -> str | None:
        return self.values.get(field)

    def set(self, field: str, value: str) -> None:
        self.values[field] = value

    def delete(self, field: str) -> None:
        self.values.pop(field, None)
