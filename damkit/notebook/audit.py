"""The audit as pandas DataFrames, and its plots (matplotlib, imported when drawing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .. import audit as core_audit
from .common import STATUS_COLORS, run_blocking

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..workspace import Workspace



# --- the audit as DataFrames --------------------------------------------------------------------

AUDIT_COLUMNS = ["connection", "provider", "asset_id", "name", "type", "status", "detail",
                 "in_dam", "in_library", "file_present", "size", "dam_size", "library_size",
                 "dam_modified", "dam_version", "library_status", "library_path",
                 "last_synced", "gone_since", "error"]


def to_frame(report: core_audit.AuditReport) -> pd.DataFrame:
    """One row per asset; ``status`` is an ordered category. ``df.attrs`` holds ``live``,
    ``near_misses`` and ``connections`` (per connection: tag, eligible, library, error)."""
    records = [{**row.model_dump(), "size": row.size} for row in report.rows]
    df = pd.DataFrame.from_records(records, columns=AUDIT_COLUMNS)
    df["status"] = pd.Categorical(df["status"], categories=list(core_audit.STATUSES),
                                  ordered=True)
    for col in ("size", "dam_size", "library_size"):
        df[col] = df[col].astype("Int64")
    df.attrs["live"] = report.live
    df.attrs["near_misses"] = report.near_misses()
    df.attrs["connections"] = [c.model_dump(exclude={"rows"}, mode="json")
                               for c in report.connections]
    return df


async def audit_async(ws: Workspace, connection: str | None = None, *,
                      live: bool = True) -> pd.DataFrame:
    """:func:`audit` for ``await`` (in a cell, or from another task)."""
    return to_frame(await core_audit.audit(ws, connection, live=live))


def audit(ws: Workspace, connection: str | None = None, *, live: bool = True) -> pd.DataFrame:
    """The audit of one connection (or all) as a DataFrame: one row per asset, DAM side and
    library side. ``live=True`` lists the DAM through the provider (and its near misses);
    ``live=False`` reads the index only. See :mod:`damkit.audit` for the statuses."""
    return run_blocking(audit_async(ws, connection, live=live))


def breakdown(df: pd.DataFrame) -> pd.DataFrame:
    """Files (and bytes) per status, every status shown, then one line per near-miss spelling."""
    rows = []
    for status in core_audit.STATUSES:
        part = df[df["status"] == status]
        rows.append({"status": status, "meaning": core_audit.STATUS_LABELS[status],
                     "files": len(part), "bytes": int(part["size"].fillna(0).sum())})
    for miss in df.attrs.get("near_misses", []):
        rows.append({"status": "near miss",
                     "meaning": f"{miss['connection']}: carry {miss['spelling']!r}, "
                                f"not {miss['tag']!r} (other case or stray spaces)",
                     "files": int(miss["count"]), "bytes": None})
    out = pd.DataFrame(rows, columns=["status", "meaning", "files", "bytes"])
    out["bytes"] = out["bytes"].astype("Int64")
    return out


def near_misses(df: pd.DataFrame) -> pd.DataFrame:
    """Near-miss tag spellings with their file counts (live audits only)."""
    return pd.DataFrame(df.attrs.get("near_misses", []),
                        columns=["connection", "tag", "spelling", "count"])


def connections_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per connection: tag, files eligible in the DAM, library records, statuses, listing error."""
    base = pd.DataFrame(df.attrs.get("connections", []),
                        columns=["connection", "provider", "tag", "eligible", "library", "error"])
    counts = (df.groupby("connection", observed=False)["status"].value_counts().unstack(
        fill_value=0) if len(df) else pd.DataFrame())
    if len(counts):
        counts = counts.reindex(columns=list(core_audit.STATUSES), fill_value=0)
        base = base.merge(counts, left_on="connection", right_index=True, how="left")
    return base.set_index("connection")


#: the columns of :func:`runs` every run has (plus one per count and plan category)
RUN_COLUMNS = ("id", "connection", "provider", "status", "started", "finished", "seconds", "bytes",
               "trigger", "error", "downloaded", "failed", "unchanged", "gone", "file_errors")


def runs(ws: Workspace, connection: str | None = None) -> pd.DataFrame:
    """Sync runs, oldest first, with their counts; ``started``/``finished`` as timestamps.
    With no run yet, the frame is empty but has the columns (so selecting them works)."""
    df = pd.DataFrame(core_audit.run_history(ws, connection))
    if df.empty:
        df = pd.DataFrame(columns=list(RUN_COLUMNS))
    for col in ("started", "finished"):
        if col in df:
            df[col] = pd.to_datetime(df[col], utc=True, errors="coerce")
    return df


# --- plots --------------------------------------------------------------------------------------


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 3.5))[1]


def plot_status(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Assets per status, one stacked bar per connection."""
    ax = _axes(ax)
    table = pd.crosstab(df["connection"], df["status"]).reindex(
        columns=list(core_audit.STATUSES), fill_value=0) if len(df) else pd.DataFrame()
    if table.empty:
        ax.set_title("no assets")
        return ax
    table.plot.barh(stacked=True, ax=ax, color=[STATUS_COLORS[s] for s in table.columns])
    ax.set_xlabel("assets")
    ax.set_ylabel("")
    ax.set_title("Assets by status")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax


def plot_types(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Assets per file type, stacked by status."""
    ax = _axes(ax)
    if not len(df):
        ax.set_title("no assets")
        return ax
    table = pd.crosstab(df["type"].replace("", "(none)"), df["status"]).reindex(
        columns=list(core_audit.STATUSES), fill_value=0)
    table.plot.bar(stacked=True, ax=ax, color=[STATUS_COLORS[s] for s in table.columns],
                   legend=False)
    ax.set_xlabel("type")
    ax.set_ylabel("assets")
    ax.set_title("Assets by type")
    return ax


def plot_sizes(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """File sizes (kB, log scale), one histogram layer per status present."""
    import numpy as np

    ax = _axes(ax)
    sizes = df.dropna(subset=["size"])
    sizes = sizes[sizes["size"] > 0]
    if sizes.empty:
        ax.set_title("no sizes known")
        return ax
    kb = sizes["size"].astype(float) / 1000
    bins = np.logspace(np.log10(max(kb.min(), 0.1)), np.log10(kb.max() * 1.01), 20)
    layers = [(s, kb[sizes["status"] == s]) for s in core_audit.STATUSES]
    layers = [(s, v) for s, v in layers if len(v)]
    ax.hist([v for _, v in layers], bins=list(bins), stacked=True,
            color=[STATUS_COLORS[s] for s, _ in layers], label=[s for s, _ in layers])
    ax.set_xscale("log")
    ax.set_xlabel("size (kB)")
    ax.set_ylabel("assets")
    ax.set_title("File sizes")
    ax.legend(fontsize="small")
    return ax


def plot_runs(history: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Sync runs over time: files downloaded and failed per run (from :func:`runs`)."""
    ax = _axes(ax)
    if history.empty or "started" not in history:
        ax.set_title("no sync runs yet")
        return ax
    h = history.sort_values("started").reset_index(drop=True)
    labels = [f"{t:%m-%d %H:%M:%S}\n{c}" for t, c in zip(h["started"], h["connection"], strict=True)]
    x = range(len(h))
    downloaded = h.get("downloaded", pd.Series([0] * len(h))).fillna(0)
    failed = h.get("failed", pd.Series([0] * len(h))).fillna(0)
    ax.bar(x, downloaded, color=STATUS_COLORS["current"], label="downloaded")
    ax.bar(x, failed, bottom=downloaded, color=STATUS_COLORS["failed"], label="failed")
    ax.set_xticks(list(x), labels, rotation=30, ha="right", fontsize="x-small")
    ax.set_ylabel("files")
    ax.set_title("Sync runs")
    ax.legend(fontsize="small")
    return ax


def plot_overview(df: pd.DataFrame, history: pd.DataFrame | None = None) -> Figure:
    """One figure: status per connection, types, sizes, and (given :func:`runs`) sync runs."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    plot_status(df, axes[0][0])
    plot_types(df, axes[0][1])
    plot_sizes(df, axes[1][0])
    plot_runs(history if history is not None else pd.DataFrame(), axes[1][1])
    fig.tight_layout()
    return fig

