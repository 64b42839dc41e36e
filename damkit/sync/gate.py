"""Adaptive bound on concurrent downloads (AIMD): halve on 429s, creep back up after successes.

The HTTP layer's rate limiter already pauses every request after a 429 (honouring Retry-After);
this gate makes sure the engine does not keep a large number of requests in flight against a
provider that is pushing back, so a rate limit never turns into a storm of 429s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..http import HttpClient
from ..providers.base import Provider


def http_clients(provider: Provider) -> list[HttpClient]:
    """The provider's HttpClient instances (connectors keep them as attributes)."""
    return [v for v in vars(provider).values() if isinstance(v, HttpClient)]


def throttle_counter(provider: Provider) -> Callable[[], int]:
    """A function returning how many 429s the provider's HTTP clients have seen so far."""
    clients = http_clients(provider)
    return lambda: sum(c.stats.get("429", 0) for c in clients)


class AdaptiveGate:
    """A semaphore whose limit moves between 1 and ``maximum``."""

    def __init__(self, maximum: int, seen_429: Callable[[], int] | None = None,
                 grow_after: int = 8) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.active = 0
        self.lowest = self.maximum
        self._seen = seen_429 or (lambda: 0)
        self._first = self._last = self._seen()
        self._grow_after = grow_after
        self._streak = 0
        self._cond = asyncio.Condition()

    def throttled(self) -> int:
        """429s seen since the gate was made."""
        return self._seen() - self._first

    async def acquire(self) -> None:
        async with self._cond:
            while self.active >= self.limit:
                await self._cond.wait()
            self.active += 1

    async def release(self, *, throttled: bool = False) -> None:
        async with self._cond:
            self.active -= 1
            now = self._seen()
            if throttled or now > self._last:
                self.limit = max(1, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self._streak = 0
            else:
                self._streak += 1
                if self._streak >= self._grow_after and self.limit < self.maximum:
                    self.limit += 1
                    self._streak = 0
            self._last = now
            self._cond.notify_all()


__all__ = ["AdaptiveGate", "http_clients", "throttle_counter"]
