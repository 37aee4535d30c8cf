"""The Privacy page's price-of-privacy section: the shown run's federation trained without privacy
and at several budgets, drawn against epsilon, trained with one click.

The figures come from fedcore.run.privacy_curve (the same table `python -m fedcore
privacy-curve` prints); the training runs in a child process, one run after another, each of
them live on the Train page like any run.
"""

from __future__ import annotations

import math

import streamlit as st

from dashboard import charts, data, estimate
from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.privacy.curve import EPSILONS, LEVELS, points
from fedcore.run import launch
from fedcore.run.privacy_curve import curve_table
from fedcore.run.serving import public_text

# Seconds between two looks at the store while a curve trains.
REFRESH_SECONDS = 2.0


def show(run: dict, snapshot: dict) -> None:
    """Draw the section for ``run``'s federation (it refreshes itself while its curve trains)."""
    level = _level(run["config"])
    what = "each patient's images" if level == "patient" else "each hospital's whole update"
    st.caption(
        f"The same federation as this run (data split, model, rounds, seed) without privacy and "
        f"with {level}-level differential privacy (protecting {what}) at target epsilon "
        + ", ".join(f"{e:g}" for e in EPSILONS)
        + ". Each point is the run's model: its AUROC, and its accuracy at the run's own decision "
        "threshold (the hover names it); a cross marks a run that did not learn. Smaller epsilon "
        "is more private; the dashed lines are the run without privacy."
    )
    live = launch.curve_training(data.store())
    st.fragment(_curve, run_every=REFRESH_SECONDS if live else None)(run, snapshot, level, live)


def _curve(run: dict, snapshot: dict, level: str, was_live: bool) -> None:
    store = data.store()
    live = launch.curve_training(store)
    if live != was_live:
        st.rerun(scope="app")  # the curve started or ended: the page draws the section again
    found = points(data.runs(), RunConfig.from_dict(run["config"]), level)
    table = _table(str(store.home), tuple((r["id"], r["updated"]) for r in found.values()))
    if table.empty:
        st.info("No point of this curve is trained yet.", icon=":material/query_stats:")
    else:
        st.plotly_chart(charts.privacy_curve(table), key="privacy_curve", config=charts.PLOT_CONFIG)
    missing = [e for e in (math.inf, *EPSILONS) if e not in found]
    if live:
        st.info(
            f"Training the curve: {len(EPSILONS) + 1 - len(missing)} of {len(EPSILONS) + 1} points "
            "done. Each run is live on the Train page; Stop there ends the curve after the "
            "current step, keeping the points done.",
            icon=":material/hourglass_top:",
        )
    elif missing:
        _offer(run, snapshot, missing)


def _offer(run: dict, snapshot: dict, missing: list[float]) -> None:
    minutes = _minutes(run, snapshot, missing)
    label = f"Train the privacy curve ({len(missing)} run{'s' * (len(missing) > 1)}"
    label += f", about {minutes:.0f} min)" if minutes else ")"
    if st.button(label, key="privacy_curve_start", icon=":material/ssid_chart:"):
        try:
            launch.start_curve(data.store(), run["id"], EPSILONS)
        except FedXrayError as exc:
            st.error(f"Not started: {public_text(str(exc))}", icon=":material/block:")
        else:
            st.rerun(scope="app")


@st.cache_data(show_spinner=False, max_entries=8)
def _table(home: str, found: tuple[tuple[str, float], ...]):
    """The curve's table, read again only when a point is added or changed (``found``: each
    point's run id and update stamp)."""
    return curve_table(data.store(), [run_id for run_id, _updated in found])


def _level(config: dict) -> str:
    """The run's own privacy level, else patient-level where the model allows it."""
    if config.get("dp") in LEVELS:
        return config["dp"]
    return "patient" if config.get("backbone") == "cnn" else "hospital"


def _minutes(run: dict, snapshot: dict, missing: list[float]) -> float | None:
    """The missing points' training time, from this run's own rounds (DP at a measured factor)."""
    seconds = sum(r["seconds"] or 0.0 for r in snapshot["rounds"])
    if not seconds or run["rounds_done"] < run["rounds_total"]:
        return None
    private = run["config"].get("dp", "off") != "off"
    plain = seconds / estimate.DP_TRAIN_FACTOR if private else seconds
    dp = plain * estimate.DP_TRAIN_FACTOR + estimate.DP_FIRST_ROUND_SECONDS
    return max(1.0, sum(plain if math.isinf(e) else dp for e in missing) / 60)
