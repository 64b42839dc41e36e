"""The notebook frontend: ipywidgets forms and panels, audit DataFrames and plots.

Everything here renders data the core computes; no rule lives here:

* :mod:`.forms`: :class:`ConnectionForm`, the core's setup flow (:mod:`damkit.setup_flow`) as
  widgets: provider dropdown, the guide's steps with their actions, the settings fields with
  labels, help and as-you-type validation, password inputs for secrets, Save, the browser login
  (providers that declare one), Test Connection and its report.
* :mod:`.sync_panel`: :class:`SyncPanel`, a sync from a button, with a progress bar and counts
  drawn from :class:`damkit.progress.ProgressEvent`, and Cancel.
* :mod:`.audit`: :mod:`damkit.audit` as a pandas DataFrame, :func:`breakdown`, and plots.
* :mod:`.sandbox`: a workspace wired to a sandbox, for the example notebooks.

Widgets never block the kernel: their long jobs are tasks on the kernel's running event loop
(never ``asyncio.run`` inside Jupyter). Secrets: password inputs are emptied once saved, a saved
secret is never put back into a widget, and reprs mask them.

This is the only package of damkit that imports ipywidgets, pandas and matplotlib; they come with
``pip install 'damkit[notebook]'``.
"""

from __future__ import annotations

from importlib.util import find_spec

INSTALL = "pip install 'damkit[notebook]'"
_missing = [name for name in ("ipywidgets", "pandas", "matplotlib") if find_spec(name) is None]
if _missing:
    raise ImportError(f"damkit.notebook needs {', '.join(_missing)}: {INSTALL}",
                      name=_missing[0])

from .audit import (  # noqa: E402
    AUDIT_COLUMNS,
    audit,
    audit_async,
    breakdown,
    connections_summary,
    near_misses,
    plot_overview,
    plot_runs,
    plot_sizes,
    plot_status,
    plot_types,
    runs,
    to_frame,
)
from .common import run_blocking, spawn  # noqa: E402
from .forms import (  # noqa: E402
    ConnectionForm,
    SecretInput,
    check_panel,
    check_report_html,
    connection_form,
)
from .sandbox import sandbox_audit_demo, sandbox_workspace  # noqa: E402
from .sync_panel import SyncPanel, sync_panel, sync_report_html  # noqa: E402
from .unlock import PassphraseBox, real_workspace  # noqa: E402

__all__ = ["AUDIT_COLUMNS", "INSTALL", "ConnectionForm", "PassphraseBox", "SecretInput",
           "SyncPanel", "audit",
           "audit_async", "breakdown", "check_panel", "check_report_html", "connection_form",
           "connections_summary", "near_misses", "plot_overview", "plot_runs", "plot_sizes",
           "plot_status", "plot_types", "real_workspace", "run_blocking", "runs", "sandbox_audit_demo",
           "sandbox_workspace", "spawn", "sync_panel", "sync_report_html", "to_frame"]
