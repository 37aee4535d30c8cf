"""The run report the Fairness page offers for download: the same self-contained HTML file as
`python -m fedcore report RUN --html FILE`, written once per run version."""

from __future__ import annotations

import streamlit as st

from dashboard import data


def report_html(run: dict) -> bytes:
    """The report of ``run`` at its last round, as UTF-8 bytes (about 5 MB: Plotly is inside)."""
    return _report(str(data.store().home), run["id"], run["updated"], data.snapshot(run))


@st.cache_data(show_spinner="Writing the report…", max_entries=2)
def _report(home: str, run_id: str, updated: float, _snap: dict) -> bytes:
    # (home, run_id, updated) names the snapshot; _snap is not hashed.
    from fedcore.cli import report_page

    return report_page(_snap).encode("utf-8")
