"""Fairness and bias: does the global model serve every hospital equally well, round by round?"""

import math

import pandas as pd
import streamlit as st

from dashboard import charts, contribution_figures, data, run_report, verdict
from dashboard import fairness_figures as fairness_view
from dashboard.first_open import offer_default_run
from dashboard.glossary import GLOSSARY
from dashboard.theme import FAIL_COLOR, PASS_COLOR, scope_label
from fedcore.results import decision, report
from fedcore.server import who_helped

st.title("Fairness and bias")
done = [r for r in data.runs() if r["rounds_done"]]
if not done:
    offer_default_run(
        "Does the global model serve every hospital equally well? Once a run has completed a "
        "round, "
        "this page shows a pass/fail verdict with its bars, each hospital's metrics beside the "
        "global model's, their ROC curves, and where the errors are.",
        key="fairness_first_run",
    )
    st.stop()

left, right = st.columns([3, 1])
with left:
    run = data.pick_run(done, key="fairness_run")
data.warn_if_unhealthy(run)
shown, last = decision.model_round(run), run["rounds_done"]
marks = (
    {shown: " · the run's model", last: " · last"}
    if shown != last
    else {last: " · the run's model, last"}
)
server_round = right.selectbox(
    "Round",
    list(range(last, 0, -1)),
    index=last - shown,
    format_func=lambda r: f"round {r}{marks.get(r, '')}",
    key="fairness_round",
)

attackers = who_helped.attackers(data.snapshot(run))
if attackers:
    st.warning(
        f"{', '.join(scope_label(h) for h in attackers)} sent poisoned updates in this run (a "
        f"simulated {run['config']['attack']} attack, strategy {run['config']['strategy']}): the "
        "figures below are the global model's after it aggregated them.",
        icon=":material/gpp_bad:",
    )
chosen = decision.decision(data.snapshot(run), server_round)
at = "decision"
if chosen.operating_point:
    at = st.segmented_control(
        "Judge at",
        ["decision", "fixed"],
        default="decision",
        required=True,
        key="fairness_threshold",
        format_func=lambda o: (
            f"the federated operating point (threshold {chosen.threshold:.3f})"
            if o == "decision"
            else f"the fixed threshold {chosen.fixed:g}"
        ),
        help=GLOSSARY["operating point"]
        + " Every page reads its figures there. At a fixed 0.5 an uncalibrated model (early "
        "rounds, differential privacy) may call every image one class and look fair.",
    )
view = fairness_view.round_view(run, server_round, at)
threshold_words = view["decision"].words
t1, t2, checks = view["t1"], view["t2"], view["checks"]
outcome = verdict.overall(checks)
headline = {
    True: ("Fair by every measured bar", PASS_COLOR),
    False: ("Not fair by at least one bar", FAIL_COLOR),
    None: ("Cannot be judged: a hospital lacks a class", "#8C8C8C"),
}[outcome]
st.markdown(
    f"### <span style='color:{headline[1]}'>●</span> Verdict, round {server_round}: {headline[0]}",
    unsafe_allow_html=True,
)
st.caption(f"Every hospital's figures {threshold_words} (AUROC does not depend on a threshold).")
for col, check in zip(st.columns(len(checks)), checks):
    with col.container(border=True):
        value = "n/a" if math.isnan(check.value) else f"{check.value:.3f}"
        badge = {
            True: ":green-badge[:material/check: PASS]",
            False: ":red-badge[:material/close: FAIL]",
            None: ":gray-badge[n/a]",
        }[check.passed]
        st.markdown(f"{badge}  \n**{value}** &nbsp; bar {check.rule}")
        st.caption(check.name)

st.subheader("Hospitals × metrics", divider="gray")
st.caption(
    "The global model on each hospital's own test set (the original design's Figure 2), "
    f"{threshold_words}; "
    "the global row is the global test set. Colours show each figure's difference from the global "
    "model's: blue better, "
    "red worse, white the same; the scale is fitted to the largest gap."
)
st.plotly_chart(view["heatmap"], key="heatmap", config=charts.PLOT_CONFIG)

st.subheader("ROC curves", divider="gray")
if view["roc"] is not None:
    st.caption(
        "Every threshold's trade-off between missed pneumonia and false alarms; the dot is where "
        "the "
        f"model works at the fixed threshold {run['config']['threshold']:g}, the diamond at the "
        "federated "
        "operating point (the threshold the server chose from the hospitals' validation counts)."
    )
    st.plotly_chart(view["roc"], key="roc", config=charts.PLOT_CONFIG)
else:
    st.info(
        "This run was recorded before ROC curves were kept: train a new run to see them.",
        icon=":material/info:",
    )

st.subheader("Calibration", divider="gray")
if view["reliability"] is None:
    st.info(
        "This run was recorded before calibration was measured: train a new run to see it.",
        icon=":material/info:",
    )
else:
    mapped = view["reliability_mapped"] is not None and st.toggle(
        "After the federated calibration map",
        value=True,
        key="fairness_calibrated",
        help="The server fits one map from the hospitals' pooled validation counts (temperature "
        "scaling, moved to the test sets' pneumonia share); off shows the model's own scores.",
    )
    st.caption(
        "Each point is a bin of 15: the mean predicted P(pneumonia) of its X-rays against the "
        "share that had pneumonia (hover for the counts); on the diagonal the scores mean what "
        "they say. ECE is the image-weighted mean gap. A hospital's bins are its own counts; "
        "after the map they are read from its test counts over the threshold grid."
    )
    st.plotly_chart(
        view["reliability_mapped" if mapped else "reliability"],
        key="reliability",
        config=charts.PLOT_CONFIG,
    )
    st.dataframe(
        pd.DataFrame(
            {
                "ECE uncalibrated": [c.ece for c in view["calibration"]],
                "ECE after the map": [c.ece_calibrated for c in view["calibration"]],
            },
            index=[c.scope.label for c in view["calibration"]],
        ),
        column_config={
            c: st.column_config.NumberColumn(format="%.3f")
            for c in ("ECE uncalibrated", "ECE after the map")
        },
    )

st.subheader("Where the errors are", divider="gray")
st.caption(f"Confusion counts and errors {threshold_words}.")
st.markdown(view["confusion"], unsafe_allow_html=True)
st.plotly_chart(view["errors"], key="errors", config=charts.PLOT_CONFIG)

contribution = contribution_figures.contribution_bars(data.snapshot(run)["rounds"])
if contribution is not None:
    st.subheader("Who helped", divider="gray")
    st.caption(
        "Each hospital's contribution over the whole run: every round, the global model's "
        "validation AUROC with its update minus without it (leave-one-out), from the "
        "validation counts the hospitals report; summed over the rounds."
    )
    st.plotly_chart(contribution, key="contribution", config=charts.PLOT_CONFIG)
    sentences = who_helped.contribution_sentences(data.snapshot(run)["rounds"])
    st.markdown("\n".join(f"- {s[0].upper()}{s[1:]}." for s in sentences))

st.subheader("Tables", divider="gray")
st.markdown(
    f"**Table 1.** Global model on the global test set (PNEUMONIA positive), round {server_round}, "
    f"{threshold_words}"
)
st.dataframe(
    t1, column_config={c: st.column_config.NumberColumn(format="%.4f") for c in t1.columns[:9]}
)
st.caption(
    f"Original design, published: loss {report.PUBLISHED_GLOBAL['loss']}, accuracy "
    f"{report.PUBLISHED_GLOBAL['accuracy']} (its precision and recall averaged both classes)."
)
st.markdown(
    f"**Table 2.** Per hospital, on each hospital's own test set, round {server_round}, "
    f"{threshold_words}"
)
t2_shown = t2.rename(index=scope_label).assign(
    **{"Published accuracy": [report.PUBLISHED_HOSPITAL_ACCURACY.get(h) for h in t2.index]}
)
st.dataframe(
    t2_shown,
    column_config={
        c: st.column_config.NumberColumn(format="%.4f")
        for c in [*t2.columns[:9], "Published accuracy"]
    },
)
downloads = st.container(horizontal=True)
downloads.download_button(
    "Table 1 (CSV)",
    t1.to_csv().encode(),
    f"{run['id']}_round{server_round}_{at}_table1.csv",
    "text/csv",
    icon=":material/download:",
)
downloads.download_button(
    "Table 2 (CSV)",
    t2.to_csv().encode(),
    f"{run['id']}_round{server_round}_{at}_table2.csv",
    "text/csv",
    icon=":material/download:",
)
if st.toggle("Prepare the run report (HTML)", key="fairness_report"):
    downloads.download_button(
        "Download report",
        run_report.report_html(run),
        f"{run['id']}_report.html",
        "text/html",
        icon=":material/download:",
        help="One HTML file with the run's settings, data, curves, both tables, this verdict, ROC "
        "and reliability, privacy and health at its last round; it opens offline.",
    )
