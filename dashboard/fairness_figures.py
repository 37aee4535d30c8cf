"""The Fairness page's tables, verdict and figures of one round, built once and shared by every
session."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, verdict
from fedcore.results import report
from fedcore.results.operating_point import at_chosen_threshold


def operating_threshold(run: dict, server_round: int) -> float | None:
    """:func:`fedcore.results.report.operating_threshold` of ``run``'s round: None when it cannot be
    judged there."""
    return report.operating_threshold(data.snapshot(run), server_round)


def round_view(run: dict, server_round: int, at_operating_point: bool) -> dict:
    """t1, t2 (Tables 1 and 2), checks (the verdict's), heatmap, roc (None for a run without ROC
    points),
    confusion (the matrices' HTML) and errors, of one round of ``run``.

    With ``at_operating_point`` the verdict, heatmap, confusion matrices and error bars read
    every scope at the threshold the server chose that round (see :func:`operating_threshold`);
    otherwise at the run's fixed threshold. Tables 1 and 2 keep the fixed threshold (the
    original layout) and the ROC curves mark both.

    Building the Plotly figures in Python took longer than sending the page: cached under
    the run's update stamp, a second visit (or a second viewer) reuses them, which keeps a
    switch to the page under a second.
    """
    return _round_view(
        str(data.store().home),
        run["id"],
        run["updated"],
        server_round,
        at_operating_point,
        data.snapshot(run),
    )


@st.cache_resource(show_spinner=False, max_entries=16)
def _round_view(
    home: str, run_id: str, updated: float, server_round: int, at_operating_point: bool, _snap: dict
) -> dict:
    # (home, run_id, updated) names the snapshot; _snap is not hashed.
    snap = _snap
    t1, t2 = report.table1(snap, server_round), report.table2(snap, server_round)
    rows = {m["scope"]: m for m in snap["metrics"] if m["round"] == server_round}
    hospitals = {s: m for s, m in rows.items() if not s.startswith("global")}
    with_global = {"global": rows["global"]} if "global" in rows else {}
    roc_rows = with_global | hospitals
    has_roc = any(k.startswith("roc_") for m in roc_rows.values() for k in m)
    if (
        at_operating_point
    ):  # the caller checked operating_threshold: the global row and every hospital have one
        hospitals = {s: at_chosen_threshold(m) for s, m in hospitals.items()}
        with_global = {"global": at_chosen_threshold(rows["global"])}
        checks = verdict.fairness_checks(
            report.fairness_at_operating_point(snap, server_round),
            with_global["global"]["accuracy"],
        )
    else:
        checks = verdict.fairness_checks(
            report.fairness_row(snap, server_round), float(t1["Accuracy"].mean())
        )
    return {
        "t1": t1,
        "t2": t2,
        "checks": checks,
        "heatmap": charts.fairness_difference_heatmap(hospitals | with_global),
        "roc": charts.roc_curves(roc_rows, snap["run"]["config"]["threshold"]) if has_roc else None,
        "confusion": charts.confusion_matrices_html(with_global | hospitals),
        "errors": charts.errors_by_hospital(hospitals),
    }
