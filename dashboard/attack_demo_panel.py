"""The Train page's attack demo: its one-click start, and its two runs' global AUROC on one chart.

The demo (fedcore.run.attack_demo) trains the attacked federation without the defence, then the
same with it, in one child process: one run trains at a time per store. The chart shows both
curves as they grow, each point naming the hospitals flagged that round; the live view below it
shows the run now training, its legend marking the attackers and their flags round by round.
The panel is a fragment that looks at the store while the demo is under way, and follows it to
the second run when that starts.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from dashboard import charts, data
from dashboard.theme import ATTACKER_COLOR, PASS_COLOR
from fedcore.errors import FedXrayError
from fedcore.results.report import metrics_frame
from fedcore.results.scope import hospital_label
from fedcore.run import attack_demo, launch
from fedcore.run.attack_demo import Pair
from fedcore.run.serving import public_text
from fedcore.server.who_helped import flags_by_hospital

# Seconds between two looks at the store while the demo runs: the live view below already
# refreshes the running run every 1.5 s; this chart needs only each round's end.
REFRESH_SECONDS = 3.0
HALVES = (
    ("undefended", "Without the defence", ATTACKER_COLOR),
    ("defended", "With drop-flagged", PASS_COLOR),
)
HELP = (
    f"Two runs of one attacked federation, one after the other: "
    f"{attack_demo.UNDEFENDED.hospitals} hospitals (non-IID Dirichlet split, seed "
    f"{attack_demo.UNDEFENDED.seed}); {attack_demo.UNDEFENDED.attackers} of them send "
    f"sign-flipped updates and claim {attack_demo.UNDEFENDED.attack_claimed_examples} images "
    f"each. FedAvg, {attack_demo.UNDEFENDED.rounds} rounds × {attack_demo.UNDEFENDED.epochs} "
    "local epoch on every image: first without a defence, then with drop-flagged (the server "
    "leaves flagged updates out). About 45 s a run, 1.5 minutes in all on 2 CPU cores. The "
    "flags appear on the attackers as each round lands."
)


def offer(store, busy: bool) -> None:
    """The Attack demo button: starts the demo; disabled while a run trains (``busy``: one trains
    at a time)."""
    if st.button(
        f"Attack demo: {attack_demo.UNDEFENDED.attackers} attackers, without and with the defence",
        key="attack_demo",
        icon=":material/shield:",
        disabled=busy,
        help=HELP + (" Waits until the run now training ends." if busy else ""),
    ):
        try:
            data.remember(launch.start_attack_demo(store))
        except FedXrayError as exc:
            st.error(f"Not started: {public_text(str(exc))}", icon=":material/block:")
            return
        st.rerun()


def show(run_id: str) -> None:
    """The demo's comparison chart above the live view, when ``run_id`` is one of a demo's runs."""
    pair = _pair(run_id)
    if pair is None:
        return
    busy = _busy(pair)
    if busy:
        # The page stays on the demo's newest run once it ends, instead of the one first picked.
        data.remember(pair.defended or pair.undefended)
    st.fragment(_panel, run_every=REFRESH_SECONDS if busy else None)(run_id, pair, busy)


def _panel(run_id: str, drawn_pair: Pair, was_busy: bool) -> None:
    pair = _pair(run_id, drawn_pair)
    busy = pair is not None and _busy(pair)
    if pair != drawn_pair or busy != was_busy:
        # The second run appeared, the demo ended, or a run was deleted: the page follows.
        data.remember(pair and (pair.defended or pair.undefended))
        st.rerun(scope="app")
    halves = {}
    for attr, words, color in HALVES:
        run = _row(getattr(pair, attr))
        if run is not None:
            home = str(data.store().home)
            half = _half(home, run["id"], run["rounds_done"], run["status"])
            halves[attr] = (words, color, half)
    st.markdown("##### Attack demo: the same attacked federation without and with the defence")
    st.plotly_chart(_figure(halves), key="attack_demo_chart", config=charts.PLOT_CONFIG)
    for words, _color, half in halves.values():
        st.caption(_sentence(words, half))
    if "defended" not in halves:
        st.caption(_missing_second(pair, busy))


def _missing_second(pair: Pair, busy: bool) -> str:
    if busy:
        return "With drop-flagged: starts when the run without the defence ends."
    if pair.refused:
        return f"With drop-flagged: {public_text(pair.refused)}."
    return (
        "With drop-flagged: not trained, the demo ended before its second run (the first was "
        "stopped or failed). Start the demo again to see both."
    )


def _row(run_id: str | None) -> dict | None:
    """A run's row; None for no id or a run deleted meanwhile."""
    if run_id is None:
        return None
    try:
        return data.store().get_run(run_id)
    except FedXrayError:
        return None


def _pair(run_id: str, known: Pair | None = None) -> Pair | None:
    """The demo pair of ``run_id`` from its events. Read once the first run no longer trains (its
    events then change only when the second starts); once complete the pair never changes."""
    if known is not None and known.defended is not None:
        return known
    run = _row(run_id)
    if run is None:
        return None
    if known is not None and run["status"] == "running":
        return known
    return attack_demo.pair_of(data.snapshot(run)["events"]) or known


def _busy(pair: Pair) -> bool:
    """A run of the pair trains, or the second is about to start (two rows read, no listing)."""
    store = data.store()
    rows = [r for r in map(_row, (pair.undefended, pair.defended)) if r is not None]
    if any(r["status"] == "running" or launch.starting(store, r) for r in rows):
        return True
    first = rows[0] if rows and rows[0]["id"] == pair.undefended else None
    return first is not None and attack_demo.defended_run_coming(first, pair)


@st.cache_data(show_spinner=False, max_entries=16)
def _half(home: str, run_id: str, rounds_done: int, status: str) -> dict:
    """One run's global AUROC and flagged hospitals per round, read once per completed round."""
    snapshot = data.store().snapshot(run_id)
    frame = metrics_frame(snapshot)
    frame = frame[frame["scope"] == "global"].sort_values("round")
    flags = flags_by_hospital(snapshot["rounds"])
    by_round = {
        r: [n for n, f in flags.items() if any(x == r for x, _ in f)] for r in frame["round"]
    }
    return {
        "rounds": [int(r) for r in frame["round"]],
        "auroc": [float(v) for v in frame["auroc"]],
        "flagged": [sorted(by_round[r]) for r in frame["round"]],
        "outcome": attack_demo.outcome(snapshot),
        "rounds_total": snapshot["run"]["rounds_total"],
    }


def _figure(halves: dict) -> go.Figure:
    fig = go.Figure()
    for words, color, half in halves.values():
        fig.add_scatter(
            x=half["rounds"],
            y=half["auroc"],
            name=words,
            mode="lines+markers",
            line=dict(color=color, width=3),
            text=[
                "flagged: " + ", ".join(hospital_label(n) for n in names)
                if names
                else "none flagged"
                for names in half["flagged"]
            ],
            hovertemplate="round %{x}: AUROC %{y:.3f}<br>%{text}<extra>" + words + "</extra>",
        )
    total = max([h["rounds_total"] for _, _, h in halves.values()] or [10])
    fig.update_xaxes(title="round", range=[0.5, total + 0.5], dtick=1)
    fig.update_yaxes(title="global AUROC", range=[0.4, 1.0])
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h"))
    return fig


def _sentence(words: str, half: dict) -> str:
    seen = half["outcome"]
    if not seen.rounds_done:
        return f"**{words}** (run `{seen.run_id}`): no round yet."
    attackers = ", ".join(
        f":red[{hospital_label(name)}] flagged in {n} of {seen.rounds_done} rounds"
        for name, n in seen.attackers_flagged.items()
    )
    auroc = "n/a" if math.isnan(seen.auroc) else f"{seen.auroc:.3f}"
    return (
        f"**{words}** (run `{seen.run_id}`, {seen.status}): global AUROC **{auroc}** after round "
        f"{seen.rounds_done}; {attackers}; honest updates flagged: {seen.honest_flagged}."
    )
