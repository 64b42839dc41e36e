"""Bynder change notifications: the Event consumer URL and a verified AWS SNS consumer.

- :mod:`damkit.events.request`: the derived URL (:func:`event_url_info`) and the ready-to-send
  request for the Bynder account manager (:func:`request_text`);
- :mod:`damkit.events.verify`: the SNS message verifier;
- :mod:`damkit.events.store`: seen MessageIds and pending work, kept across restarts;
- :mod:`damkit.events.consumer`: the ASGI app (:func:`build_consumer_app`), the background worker
  and :func:`serve_events`;
- :mod:`damkit.events.server`: :class:`ConsumerServer`, the consumer on a loopback port in a
  background thread (tests, benchmarks, notebooks).

Names are loaded lazily so importing the package (e.g. from the workspace) stays cheap.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "request_text": "request", "event_url_info": "request", "portal_key": "request",
    "consumer_path": "request", "consumer_url": "request",
    "SnsVerifier": "verify", "VerificationError": "verify", "SnsMessage": "verify",
    "EventStore": "store", "ConsumerBusyError": "store",
    "EventConsumer": "consumer", "build_consumer_app": "consumer", "serve_events": "consumer",
    "ConsumerServer": "server",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'damkit.events' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)


__all__ = sorted(_EXPORTS)
