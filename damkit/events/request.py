"""The Bynder Event consumer URL (derived, never typed) and the request for the account manager.

The URL is ``<public_url>/events/bynder/<portal>``, where ``<portal>`` is :func:`portal_key` of
the connection's Bynder domain: the lower-case host, with ``_`` standing for the port separator.
Every connection to the same portal, in any workspace with the same public URL, gets the same
URL, so the guide's rule "one e-mail request per unique URL" holds by construction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import SettingsError
from ..providers import all as all_providers
from ..providers import find as find_provider
from ..settings import EVENTS_ROUTE, event_consumer_path, instance_key

if TYPE_CHECKING:
    from ..workspace import Workspace

#: The provider whose Amazon SNS messages the consumer verifies (Bynder's, bynder.md §7): the
#: built-in that declares change notifications.
SOURCE = next(s.name for s in all_providers() if s.capabilities.change_notifications)
ROUTE_PREFIX = f"{EVENTS_ROUTE}/{SOURCE}"

#: The events the consumer reacts to (bynder.md §7.1); all of them trigger a re-read of the asset.
EVENTS: tuple[tuple[str, str], ...] = (
    ("asset_bank.media.create", "media uploaded to the Asset Bank (each Mass-Uploader asset too)"),
    ("asset_bank.media.updated", "a new version uploaded, or the active version changed"),
    ("asset_bank.media.meta_updated", "metadata changed: tags, title, description, metaproperties"),
    ("asset_bank.media.archived", "media archived"),
    ("asset_bank.media.deleted", "media deleted"),
)


def portal_key(domain: str) -> str:
    """The path segment naming a Bynder portal: ``acme.bynder.com``, ``127.0.0.1_8765``."""
    return instance_key(domain)


def consumer_path(domain: str) -> str:
    """The route path of a portal's Event consumer: ``/events/bynder/<portal>``."""
    return event_consumer_path(SOURCE, domain)


def consumer_url(public_url: str, domain: str) -> str:
    return f"{public_url.rstrip('/')}{consumer_path(domain)}"


def _notifies(doc: dict[str, Any]) -> bool:
    spec = find_provider(str(doc.get("provider", "")))
    return spec is not None and spec.capabilities.change_notifications


def notifying_connection(ws: Workspace, name: str) -> dict[str, Any]:
    """Connection ``name``, when its provider sends change notifications (else SettingsError)."""
    doc = ws.connection(name)
    if not _notifies(doc):
        raise SettingsError(
            f"'{name}' is a {ws.spec(name).title} connection: it sends no change notifications",
            field="name")
    return doc


def portal_connections(ws: Workspace, portal: str) -> list[str]:
    """Names of the Bynder connections whose domain is ``portal`` (sorted)."""
    out = []
    for doc in ws.connections():
        if not _notifies(doc):
            continue
        try:
            if portal_key(doc["settings"]["domain"]) == portal:
                out.append(doc["name"])
        except (KeyError, SettingsError):
            continue
    return sorted(out)


def event_url_info(ws: Workspace, name: str) -> dict[str, Any]:
    """Everything ``damkit events request NAME`` shows besides the request text.

    Keys: ``connection``, ``domain``, ``portal``, ``path``, ``url`` (None until the public URL is
    set), ``public_url``, ``https`` (whether SNS can deliver to it), ``shared_with`` (other
    connections to the same portal: they share the URL, send one request only), ``topics``
    (allowed SNS topics) and ``notes`` (what is still missing, in words).
    """
    doc = notifying_connection(ws, name)
    domain = doc["settings"]["domain"]
    portal = portal_key(domain)
    config = ws.config()
    public = config.public_url
    url = consumer_url(public, domain) if public else None
    topics = list(getattr(config, "sns_topics", []) or [])
    shared = [n for n in portal_connections(ws, portal) if n != name]
    notes: list[str] = []
    if not public:
        notes.append("set the public HTTPS address of this workspace first: "
                     "`damkit config set public_url https://dam.example.com`")
    elif not public.startswith("https://"):
        notes.append(f"the public URL {public} is not https: Bynder's SNS delivers to https only "
                     "(fine for the sandbox)")
    if shared:
        notes.append(f"the connection(s) {', '.join(shared)} use the same portal and the same URL: "
                     "send the request only once")
    if not topics:
        notes.append("no SNS topic is allowed yet: ask Bynder for the TopicArn and add it with "
                     "`damkit config set sns_topics arn:aws:sns:<region>:<account>:<topic>`; "
                     "until then every message is refused")
    return {"connection": name, "domain": domain, "portal": portal,
            "path": consumer_path(domain), "url": url, "public_url": public,
            "https": bool(url and url.startswith("https://")), "shared_with": shared,
            "topics": topics, "notes": notes}


def request_text(ws: Workspace, name: str) -> str:
    """The ready-to-send e-mail to the Bynder account manager, with the URL filled in.

    Raises :class:`SettingsError` until the workspace has an https public URL (the guide's
    request says "via https protocol"; a URL Bynder cannot reach is not worth sending).
    """
    info = event_url_info(ws, name)
    if info["url"] is None:
        raise SettingsError("the Event consumer URL needs the workspace's public URL",
                            field="public_url", hint=info["notes"][0])
    if not info["https"]:
        raise SettingsError(f"the Event consumer URL {info['url']} is not https; Bynder's SNS "
                            "delivers to https endpoints only", field="public_url",
                            hint="set an https public URL: `damkit config set public_url "
                                 "https://dam.example.com`")
    host = urlsplit(info["domain"]).hostname or info["domain"]
    events = "\n".join(f"  - {event} ({what})" for event, what in EVENTS)
    return (
        f"Subject: Please activate SNS notifications for the Bynder portal {host}\n"
        "\n"
        "Hello,\n"
        "\n"
        f"Please activate all SNS notifications for our Bynder portal {host}, related to the "
        "following events:\n"
        f"{events}\n"
        "\n"
        "The notifications should be sent using the API channel, right after assets are "
        "uploaded or modified.\n"
        "\n"
        f"Please send all notifications to {info['url']} via https protocol\n"
        "(an HTTPS subscription with raw message delivery turned off, so that every message "
        "stays signed by AWS).\n"
        "\n"
        "Please also tell us the ARN of the SNS topic the notifications come from (for example "
        "arn:aws:sns:eu-west-1:123456789012:bynder-acme): our endpoint accepts messages from "
        "that topic only, and confirms the subscription automatically once it is allowed.\n"
        "\n"
        "Thank you!\n"
    )


__all__ = ["EVENTS", "ROUTE_PREFIX", "consumer_path", "consumer_url", "event_url_info",
           "portal_connections", "portal_key", "request_text"]
