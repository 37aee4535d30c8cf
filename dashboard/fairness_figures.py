"""The Fairness page's tables, verdict and figures of one round, built once per run version and
shared by every session (building the Plotly figures took longer than sending the page)."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, verdict
from fedcore.results import decision, report
from fedcore.results.calibration_report import round_calibration
from fedcore.results.report_figures import reliability_diagram


def round_view(run: dict, server_round: int, at: str) -> dict:
    """decision, t1, t2 (Tables 1 and 2), checks (the verdict's), heatmap, roc (None for a run
    without ROC points), confusion (the matrices' HTML), errors, calibration (each scope's ECE
    and bins) and reliability / reliability_mapped (None without bins or a map) of one round of
    ``run``, every threshold figure read at the round's decision threshold (``at='decision'``)
    or at the fixed one."""
    return _round_view(
        str(data.store().home), run["id"], run["updated"], server_round, at, data.snapshot(run)
    )


@st.cache_resource(show_spinner=False, max_entries=16)
def _round_view(
    home: str, run_id: str, updated: float, server_round: int, at: str, _snap: dict
) -> dict:
    # (home, run_id, updated) names the snapshot; _snap is not hashed.
    snap = _snap
    chosen = report.threshold_for(snap, server_round, at)
    t1, t2 = report.table1(snap, server_round, at), report.table2(snap, server_round, at)
    raw = decision.round_rows(snap, server_round)
    rows = {s.text: decision.at_decision(m, chosen) for s, m in raw.items()}
    hospitals = {s.text: rows[s.text] for s in raw if not s.on_global_test}
    with_global = {"global": rows["global"]} if "global" in rows else {}
    has_roc = any(k.startswith("roc_") for m in rows.values() for k in m)
    fairness = report.fairness_at(snap, server_round, at)
    scopes = round_calibration(snap, server_round)
    return {
        "calibration": scopes,
        "reliability": reliability_diagram(scopes) if scopes else None,
        "reliability_mapped": (
            reliability_diagram(scopes, calibrated=True)
            if any(c.mapped is not None for c in scopes)
            else None
        ),
        "decision": chosen,
        "t1": t1,
        "t2": t2,
        "checks": verdict.fairness_checks(fairness, float(t1["Accuracy"].mean())),
        "heatmap": charts.fairness_difference_heatmap(hospitals | with_global),
        "roc": (
            charts.roc_curves(with_global | hospitals, snap["run"]["config"]["threshold"])
            if has_roc
            else None
        ),
        "confusion": charts.confusion_matrices_html(with_global | hospitals),
        "errors": charts.errors_by_hospital(hospitals),
    }
