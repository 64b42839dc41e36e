"""``damkit events ...``: the Event consumer URL, the request text, and the SNS consumer."""

from __future__ import annotations

import sys

import typer

from .common import JsonOption, group, guarded, out, workspace

app = group("Change notifications: the Event consumer URL and the SNS consumer.")


@app.command("request")
def events_request(name: str, as_json: bool = JsonOption) -> None:
    """The Event consumer URL and the ready-to-send request for the Bynder account manager."""
    from ..events import event_url_info, request_text

    with guarded(as_json):
        ws = workspace()
        info = event_url_info(ws, name)
        text = request_text(ws, name)
    if as_json:
        out({**info, "request": text})
        return
    # The e-mail is printed raw, never wrapped to the terminal's width: a pasted e-mail must
    # carry the lines as written (a wrapped URL or sentence breaks in the mail client).
    sys.stdout.write(f"Event consumer URL: {info['url']}\n\n{text.rstrip()}\n\n")
    for note in info.get("notes") or []:
        sys.stdout.write(f"note: {note}\n")
    sys.stdout.flush()


@app.command("serve")
def events_serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback by default; put HTTPS in front"),
    port: int = typer.Option(8787, "--port"),
) -> None:
    """Run the SNS consumer: verify, confirm, and sync each changed asset."""
    from ..events import serve_events

    with guarded():
        serve_events(workspace(), host=host, port=port)
