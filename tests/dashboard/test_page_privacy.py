"""The Privacy page renders from the run store alone: empty, with runs with and without DP, its twin
and its audit."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard.privacy_actions import find_twin, twin_config
from fedcore.config.run_config import RunConfig
from fedcore.privacy import audit
from tests.conftest import tiny_config, wait_for

PAGE = Path(__file__).resolve().parents[2] / "views" / "privacy.py"


def render() -> AppTest:
    # Through the router: the page links to the Train page, which only exists there.
    at = AppTest.from_file(str(PAGE.parent.parent / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("views/privacy.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def add_run(
    store,
    dp: str,
    aurocs: list[float],
    audit_auroc: float | None = None,
    global_extra: dict | None = None,
    **overrides,
) -> str:
    """A finished run written as the engine writes one, without training; ``global_extra`` adds
    global figures."""
    config = tiny_config(dp=dp, dp_target_epsilon=8.0 if dp != "off" else None, **overrides)
    run_id = store.create_run(config.to_dict(), len(aurocs), "federated")
    hospitals = ("hospital_1", "hospital_2")
    split = {"NORMAL": 40, "PNEUMONIA": 60}
    summary = {h: {"train": split, "val": split, "test": split} for h in hospitals}
    store.set_data_summary(run_id, {"hospitals": summary, "global_test": split})
    if dp == "patient":
        store.event(
            run_id,
            "privacy",
            "patient-level DP-SGD",
            data={
                "dp": dp,
                "hospitals": {
                    h: {"noise_multiplier": 1.1, "sampling_rate": 0.05, "steps_per_round": 20}
                    for h in hospitals
                },
            },
        )
    for rnd, auroc in enumerate(aurocs, start=1):
        metric = {
            "auroc": auroc,
            "accuracy": 0.8,
            "loss": 0.4,
            "sensitivity": 0.9,
            "specificity": 0.7,
        }
        fit = {
            h: {
                "num_examples": 100,
                "bytes_sent": 4000,
                "arrays": 2,
                "train_loss": 0.3,
                "fit_seconds": 1.0,
            }
            for h in hospitals
        }
        if dp != "off":
            for i, h in enumerate(hospitals):
                fit[h].update(
                    epsilon=2.0 * rnd + i, delta=1e-5, noise_multiplier=1.1, clip_norm=1.0
                )
        fit["_round"] = {
            "participants": list(hospitals),
            "failed": [],
            "bytes_received_each": 4000,
            "payload": {
                "arrays": 2,
                "bytes": 4000,
                "shapes": [[10, 90], [10]],
                "dtypes": ["float32", "float32"],
            },
        }
        glob = {**metric, **(global_extra or {})}
        hospital = metric
        if "op_threshold" in glob:
            # Every scope read at the round's operating point: the page reads one threshold a round.
            glob = _with_every_op_figure(glob)
            hospital = _with_every_op_figure(metric | {"op_threshold": glob["op_threshold"]})
        store.record_round(
            run_id,
            rnd,
            {"global": glob, **{h: hospital for h in hospitals}},
            {},
            fit,
            1.0,
        )
    if audit_auroc is not None:
        audit.record(
            store,
            run_id,
            len(aurocs),
            {
                h: {
                    "auroc": audit_auroc,
                    "advantage": 0.1,
                    "members": 100,
                    "non_members": 20,
                    "member_loss": 0.2,
                    "non_member_loss": 0.3,
                }
                for h in hospitals
            },
            "last",
        )
    store.finish(run_id, "finished")
    return run_id


def _with_every_op_figure(figures: dict) -> dict:
    """``op_`` figures for every figure a threshold decides (the plain ones where not given)."""
    keys = ("accuracy", "sensitivity", "specificity", "precision", "f1", "f1_avg")
    counts = ("tp", "fp", "tn", "fn")
    return {f"op_{k}": figures.get(k, 0.5) for k in keys} | {f"op_{k}": 1 for k in counts} | figures


def pick(at: AppTest, run_id: str) -> AppTest:
    """Pick a run in the page's run picker, as a person would."""
    at.selectbox(key="privacy_run").set_value(run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return " ".join(e.value for kind in ("markdown", "caption", "info") for e in getattr(at, kind))


def test_page_on_an_empty_store_offers_the_default_federation(store):
    at = render()
    assert "what left each hospital" in at.info[0].value
    assert at.button(key="privacy_first_run").label == "Start the default federation"


def test_a_dp_run_explains_its_budget_in_plain_sentences_and_uses_display_names(store):
    add_run(store, "off", [0.8, 0.95], audit_auroc=0.7)
    private = add_run(store, "patient", [0.7, 0.91], audit_auroc=0.52)

    at = render()
    assert at.selectbox(key="privacy_run").value != private, "the best run that learned, not DP"
    pick(at, private)
    assert [m.value for m in at.metric][:3] == ["5.00", "1e-05", "1"]
    assert any(
        "trained with **patient-level DP**, target epsilon 8" in m.value for m in at.markdown
    )
    text = texts(at)
    for needle in (
        "**Epsilon** bounds",
        "**Delta** is the small chance",
        "**The clipping norm C** caps",
    ):
        assert needle in text
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "hospital_1" not in specs.replace('"hospital":', "") or "Hospital 1" in specs
    assert (
        "Hospital 1" in specs and "#0072B2" in specs
    )  # the hospital's own colour, not Plotly's default
    assert "None" not in " ".join(str(df.value.to_dict()) for df in at.dataframe)


def test_a_run_without_dp_shows_no_delta_or_epsilon(store):
    add_run(store, "off", [0.8, 0.95])
    at = render()
    assert any("without differential privacy" in i.value for i in at.info)
    assert not [m for m in at.metric if m.label in ("Delta", "Clipping norm C")]
    assert "**Delta**" not in texts(at)


def test_a_dp_run_without_twin_offers_to_train_it_and_one_click_starts_it(store):
    private = add_run(store, "hospital", [0.6])
    at = render()
    assert any("No audit of this run yet" in i.value for i in at.info)
    at.button(key="privacy_twin").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("the no-DP twin" in s.value for s in at.success), [e.value for e in at.error]
    runs = store.list_runs()
    twin = next(r for r in runs if r["id"] != private)
    assert (
        twin["config"] == twin_config(store.get_run(private)["config"])
        and twin["config"]["dp"] == "off"
    )
    from fedcore.run import launch

    launch.stop(store, twin["id"])
    wait_for(lambda: launch.active_run(store) is None, 60, "the twin to stop")


def test_a_dp_run_beside_its_twin(store):
    plain = add_run(
        store, "off", [0.8, 0.95], audit_auroc=0.7
    )  # recorded without an operating point
    # As a DP model at epsilon 8 comes out: every image PNEUMONIA at 0.5, ranked well, usable at its
    # operating point.
    private = add_run(
        store,
        "patient",
        [0.7, 0.91],
        audit_auroc=0.52,
        global_extra={
            "accuracy": 0.625,
            "sensitivity": 1.0,
            "specificity": 0.0,
            "op_threshold": 0.518,
            "op_accuracy": 0.861,
            "op_sensitivity": 0.908,
            "op_specificity": 0.782,
        },
    )
    at = pick(render(), private)
    rows = [df.value for df in at.dataframe if "global AUROC" in df.value.columns]
    assert rows, "the twin table"
    table = rows[0]
    assert list(table["run"]) == [f"patient-level DP · {private}", f"no DP · {plain}"]
    assert list(table["global AUROC"]) == ["0.910", "0.950"]
    assert list(table["threshold"]) == ["0.518 (operating point)", "0.500 (fixed)"]
    assert list(table["accuracy"]) == ["0.861", "0.800"]
    assert list(table["specificity"]) == ["0.782", "0.700"]
    assert list(table["accuracy at 0.5"]) == ["0.625", "0.800"]
    assert not [
        b for b in at.button if b.key == "privacy_twin"
    ]  # the twin exists: nothing to train


def test_the_audit_button_runs_the_audit_in_a_child_process_and_shows_the_result(
    tiny_run, monkeypatch
):
    run_store, run_id = tiny_run
    monkeypatch.setenv("FEDCORE_HOME", str(run_store.home))
    before = sum(1 for e in run_store.snapshot(run_id)["events"] if e["kind"] == "privacy_audit")
    at = render()
    at.button(key="privacy_audit").click().run()
    assert not at.exception
    assert at.button(key="privacy_audit").disabled  # one audit at a time
    assert any("Auditing" in p.text for p in at.get("progress")), (
        [e.value for e in at.error],
        at.get("progress"),
    )
    wait_for(
        lambda: (
            sum(1 for e in run_store.snapshot(run_id)["events"] if e["kind"] == "privacy_audit")
            > before
        ),
        180,
        "the audit child to record its result",
    )
    at.run()
    assert not at.exception
    assert any("Latest audit of this run" in c.value for c in at.caption)
    assert any("attack AUROC" in c.proto.spec for c in at.get("plotly_chart"))


def test_page_imports_no_tensorflow():
    for path in (PAGE, PAGE.parent.parent / "dashboard" / "privacy_actions.py"):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }
        assert not {m for m in modules if m and m.split(".")[0] in ("tensorflow", "keras")}
        assert "fedcore.model.networks" not in modules and "fedcore.privacy.audit" not in modules
    privacy_report = ast.parse(
        (PAGE.parent.parent / "fedcore" / "privacy" / "tables.py").read_text()
    )
    assert not any(
        isinstance(n, ast.ImportFrom)
        and n.module in ("fedcore.privacy.audit", "fedcore.model.networks")
        for n in ast.walk(privacy_report)
    )


def test_the_privacy_help_is_written_for_users_without_paths_or_code_names(store):
    add_run(store, "off", [0.8])
    at = render()
    at.button(key="privacy_doc").click().run()
    assert not at.exception
    (shown,) = [m.value for m in at.markdown if "What leaves a hospital" in m.value]
    assert "Patient level" in shown and "epsilon" in shown.lower()
    for developer_words in (".py", ".md", "fedcore", "tests/", "dp_accounting", "`"):
        assert developer_words not in shown


def test_the_twin_of_a_patient_dp_run_trains_with_the_default_batch_and_learning_rate(store):
    plain = add_run(store, "off", [0.8, 0.95])  # the default batch size and learning rate
    private = add_run(store, "patient", [0.7, 0.91], batch_size=1024, learning_rate=0.5)
    twin = twin_config(store.get_run(private)["config"])
    assert (twin["batch_size"], twin["learning_rate"], twin["dp"]) == (None, None, "off")
    assert RunConfig.from_dict(twin).batch == 32, "unset: the plain default, not DP's 1024"
    assert twin == store.get_run(plain)["config"]
    runs = store.list_runs()
    assert find_twin(store.get_run(private), runs)["id"] == plain
    assert find_twin(store.get_run(plain), runs)["id"] == private


def test_a_run_without_privacy_offers_its_private_twin_in_one_click(store):
    plain = add_run(store, "off", [0.8, 0.95])
    at = render()
    assert at.selectbox(key="privacy_run").value == plain
    at.button(key="privacy_dp_twin").click().run()
    assert not at.exception, [e.value for e in at.exception]
    from fedcore.run import launch

    try:
        (started,) = [r for r in store.list_runs() if r["id"] != plain]
        config = RunConfig.from_dict(started["config"])
        assert (config.dp, config.dp_target_epsilon, config.batch, config.lr) == (
            "patient",
            8.0,
            1024,
            0.5,
        )
        assert find_twin(started, store.list_runs())["id"] == plain
    finally:
        for run in store.list_runs():
            launch.stop(store, run["id"])
        wait_for(lambda: launch.active_run(store) is None, what="the child to stop")


def test_the_price_of_privacy_draws_the_points_in_the_store_and_trains_the_rest(store):
    add_run(store, "off", [0.8, 0.9])
    add_run(store, "patient", [0.7, 0.85])
    add_run(store, "patient", [0.6, 0.75], seed=8)  # another federation: not on this curve
    at = render()
    chart = next(c for c in at.get("plotly_chart") if "target epsilon" in c.proto.spec)
    spec = json.loads(chart.proto.spec)
    hovers = [w for trace in spec["data"] for w in trace["hovertext"]]
    assert hovers == ["AUROC 0.850 at ε 8", "accuracy 0.800 at ε 8 (at 0.5)"], hovers
    lines = [a["text"] for a in spec["layout"]["annotations"]]
    assert lines == ["AUROC without privacy 0.900", "accuracy without privacy 0.800"], lines
    start = at.button(key="privacy_curve_start")
    assert start.label.startswith("Train the privacy curve (3 runs"), start.label
    start.click().run()
    assert not at.exception, [e.value for e in at.exception]
    from fedcore.run import launch

    assert launch.curve_training(store), [e.value for e in at.error]
    assert any("Training the curve: 2 of 5 points" in i.value for i in at.info)
    # The curve's first run trains like any run: Stop on Train ends the curve after its step.
    first = wait_for(lambda: launch.active_run(store), 120, "the curve's first run")
    assert first["config"]["dp_target_epsilon"] == 1.0
    launch.stop(store, first["id"])
    wait_for(lambda: not launch.curve_training(store), 120, "the curve to stop")
    assert store.get_run(first["id"])["status"] == "stopped"


def test_train_draws_the_privacy_spent_by_round_for_a_dp_run_only(store):
    plain = add_run(store, "off", [0.8, 0.9])
    private = add_run(store, "patient", [0.7, 0.85])
    at = AppTest.from_file(str(PAGE.parent.parent / "app.py"), default_timeout=60)
    at.run()
    spent = {}
    for run_id in (private, plain):
        at.session_state["run_id"] = run_id  # the run last picked on any page
        at.switch_page("views/train.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        spent[run_id] = [s for s in specs if "epsilon spent" in json.dumps(s["layout"])]
    assert not spent[plain]
    (chart,) = spent[private]
    assert [t["name"] for t in chart["data"]] == ["Hospital 1", "Hospital 2"]
    assert [a["text"] for a in chart["layout"]["annotations"]] == ["target 8"]
