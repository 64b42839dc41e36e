"""Every sandbox switch (a server that is "wrong" where the facts are unknown), for every
registered provider: nothing untagged is ever imported, and Test Connection either reports the
true eligible count or fails with a clear cause. Parametrized in conftest.py (``switches``).
"""

from __future__ import annotations

from pathlib import Path

from suite import Connect, assert_clear_failure, check, sync, synced, truth

from damkit.sandbox import Sandbox


def test_switch_never_imports_untagged(sb: Sandbox, connect: Connect, provider: str,
                                       switches: tuple[str, ...], tmp_path: Path) -> None:
    tag = sb.state.catalog(provider).tag
    for state in ("archive", "limit"):  # give hide_archived / limited_included something to show
        made = sb.control("POST", f"{provider}/assets", json={"name": f"{state}.png",
                                                              "tags": [tag]})
        body = {"archived": True} if state == "archive" else {"limited": True}
        sb.control("POST", f"{provider}/assets/{made['key']}/{state}", json=body)
    ws, name = connect(sb, provider)
    sb.set_switches(provider, *switches)
    want = truth(sb, provider)

    report = check(ws, name)
    if report.ok:
        assert report.eligible == len(want), (switches, report.eligible, len(want))
    else:
        assert_clear_failure(report)

    result = sync(ws, name)
    imported = set(synced(ws, name))
    assert imported <= set(want), sorted(imported - set(want))[:5]  # never anything untagged
    if report.ok:
        assert result.status == "ok" and imported == set(want), result.error
    else:
        assert result.status != "ok" or imported == set(want)
