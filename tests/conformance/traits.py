"""What one provider does differently, as documented facts the conformance suite allows for.

Looked up by provider name with neutral defaults: a provider without an entry runs the whole
suite on the defaults. Every entry names its source.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Traits:
    #: limited-use media are left out by default (Bynder: listed only with limited=1, Java SDK
    #: MediaQuery.java:42-46; damkit's include_limited setting is off by default)
    excludes_limited: bool = False
    #: the sandbox route that expires every issued login (None: the login does not expire)
    expire_route: str | None = "_expire"


TRAITS: dict[str, Traits] = {
    "bynder": Traits(excludes_limited=True, expire_route=None),  # OAuth 1 tokens do not expire
}


def traits(provider: str) -> Traits:
    return TRAITS.get(provider, Traits())
