"""Adaptive bound on concurrent downloads (AIMD), and how a run sets up the host budgets.

The host budget (:mod:`damkit.http`) paces every request and holds them all after a 429
(honouring Retry-After); this gate also halves the files in flight on 429s (down to a quarter of
the maximum, so a storm of 429s is still waited out at a useful pace) and creeps back up after
successes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..http import OPENING_RATE, HttpClient
from ..providers.base import Provider


def http_clients(provider: Provider) -> list[HttpClient]:
    """The provider's HttpClient instances (connectors keep them as attributes)."""
    return [v for v in vars(provider).values() if isinstance(v, HttpClient)]


def throttle_counter(provider: Provider) -> Callable[[], int]:
    """A function returning how many 429s the provider's HTTP clients have seen so far."""
    clients = http_clients(provider)
    return lambda: sum(c.stats.get("429", 0) for c in clients)


def tune_budgets(provider: Provider, rate: float | None = None) -> None:
    """Set up the budgets of the provider's hosts for a sync.

    ``rate`` (the user's ``--rate``) fixes the rate; else a documented limit
    (``rate_documented`` on the connector class) is a ceiling backed off from on 429; else the
    connector's ``default_rate`` (or :data:`~damkit.http.OPENING_RATE`) is where an adaptive
    rate opens, rising until the DAM pushes back.
    """
    cls = type(provider)
    burst = cls.default_burst
    for client in http_clients(provider):
        if not client.base_url:
            continue  # file hosts (pre-signed URLs): not paced until they answer 429
        if rate:
            client.budget.configure(rate, burst=burst, fixed=True)
        elif cls.default_rate and getattr(cls, "rate_documented", False):
            client.budget.configure(cls.default_rate, burst=burst, documented=True)
        else:
            client.budget.configure(cls.default_rate or OPENING_RATE, burst=burst)


class AdaptiveGate:
    """A semaphore whose limit moves between 1 and ``maximum``."""

    def __init__(self, maximum: int, seen_429: Callable[[], int] | None = None,
                 grow_after: int = 8) -> None:
        self.maximum = max(1, maximum)
        self.floor = max(1, self.maximum // 4)
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
                self.limit = max(self.floor, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self._streak = 0
            else:
                self._streak += 1
                if self._streak >= self._grow_after and self.limit < self.maximum:
                    self.limit += 1
                    self._streak = 0
            self._last = now
            self._cond.notify_all()


__all__ = ["AdaptiveGate", "http_clients", "throttle_counter", "tune_budgets"]
