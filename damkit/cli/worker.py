"""``damkit worker``: run syncs and change notifications from the task queue."""

from __future__ import annotations

import typer

from .common import app, err, guarded, workspace


@app.command("worker")
def worker(
    concurrency: int = typer.Option(4, "--concurrency", min=1,
                                    help="Jobs at once in this process (each a whole sync)"),
    stalled_after: float = typer.Option(
        30.0, "--stalled-after", min=1.0,
        help="Seconds without a worker's heartbeat before its jobs are queued again"),
    grace: float = typer.Option(
        60.0, "--grace", min=0.0,
        help="On SIGTERM/SIGINT: seconds running jobs get to finish before they are stopped "
             "and queued again"),
) -> None:
    """Run queued syncs and change notifications (needs a queue: DAMKIT_QUEUE_URL or
    `config set queue_url`). Stops cleanly on SIGTERM or Ctrl-C; start as many as you like,
    on any machine that shares the workspace's index and library."""
    import logging

    from ..jobs import require_url, run_worker, schedules, shown_url
    from ..redact import install_log_redaction

    # one line per job and per recovery on standard error; the queue library's own INFO stays out
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("damkit.jobs").setLevel(logging.INFO)
    install_log_redaction()  # again: the handler above is new
    with guarded():
        ws = workspace()
        url = require_url(ws)
        planned = schedules(ws)
        # the library's store now, not at the first job: a bucket library whose settings or
        # extra are wrong stops the worker here, instead of failing every job it takes
        library = ws.library_store()
        err(f"worker: {concurrency} job(s) at once from {shown_url(url)}; "
            f"{len(planned)} connection(s) on a schedule; library {library.url}")
        run_worker(ws, concurrency=concurrency, stalled_after=stalled_after, grace=grace)
    err("worker: stopped")
