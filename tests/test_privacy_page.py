"""The Privacy page renders from the run store alone: empty, and with runs with and without DP."""

from __future__ import annotations

import ast
from pathlib import Path

from streamlit.testing.v1 import AppTest

from fedcore.privacy import audit
from tests.conftest import tiny_config

PAGE = Path(__file__).resolve().parent.parent / "pages" / "privacy.py"


def render() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def add_run(store, dp: str, aurocs: list[float], audit_auroc: float | None = None) -> str:
    """A finished run written as the engine writes one, without training."""
    config = tiny_config(dp=dp, dp_target_epsilon=8.0 if dp != "off" else None)
    run_id = store.create_run(config.to_dict(), len(aurocs), "federated")
    hospitals = ("hospital_1", "hospital_2")
    if dp == "patient":
        store.event(run_id, "privacy", "patient-level DP-SGD", data={
            "dp": dp, "hospitals": {h: {"noise_multiplier": 1.1, "sampling_rate": 0.05, "steps_per_round": 20}
                                    for h in hospitals}})
    for rnd, auroc in enumerate(aurocs, start=1):
        metric = {"auroc": auroc, "accuracy": 0.8, "loss": 0.4}
        fit = {h: {"num_examples": 100, "bytes_sent": 4000, "arrays": 2, "train_loss": 0.3, "fit_seconds": 1.0}
               for h in hospitals}
        if dp != "off":
            for i, h in enumerate(hospitals):
                fit[h].update(epsilon=2.0 * rnd + i, delta=1e-5, noise_multiplier=1.1, clip_norm=1.0)
        fit["_round"] = {"participants": list(hospitals), "failed": [], "bytes_received_each": 4000,
                         "payload": {"arrays": 2, "bytes": 4000, "shapes": [[10, 90], [10]],
                                     "dtypes": ["float32", "float32"]}}
        store.record_round(run_id, rnd, {"global": metric, **{h: metric for h in hospitals}}, {}, fit, 1.0)
    if audit_auroc is not None:
        audit.record(store, run_id, len(aurocs), {h: {"auroc": audit_auroc, "advantage": 0.1, "members": 100,
                                                      "non_members": 20, "member_loss": 0.2,
                                                      "non_member_loss": 0.3} for h in hospitals}, "last")
    store.finish(run_id, "finished")
    return run_id


def test_page_on_an_empty_store(store):
    at = render()
    assert "No runs yet" in at.info[0].value


def test_page_with_runs_with_and_without_dp(store):
    plain = add_run(store, "off", [0.8, 0.95], audit_auroc=0.7)
    private = add_run(store, "patient", [0.7, 0.91], audit_auroc=0.52)

    at = render()

    assert at.selectbox(key="privacy_run").value == private  # the newest
    assert [m.value for m in at.metric][:2] == ["patient-level DP", "5.00"]
    assert len(at.get("plotly_chart")) == 4  # epsilon, utility, audits side by side, bytes
    at.selectbox(key="privacy_run").set_value(plain).run()
    assert not at.exception
    assert any("without differential privacy" in i.value for i in at.info)


def test_page_with_a_hospital_level_run_without_audit(store):
    add_run(store, "hospital", [0.6])
    at = render()
    assert any("No audit of this run yet" in i.value for i in at.info)


def test_page_imports_no_tensorflow():
    tree = ast.parse(PAGE.read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in modules if m and m.split(".")[0] in ("tensorflow", "keras")}
    assert "fedcore.model" not in modules and "fedcore.privacy.audit" not in modules
    privacy_report = ast.parse((PAGE.parent.parent / "fedcore" / "privacy" / "report.py").read_text())
    assert not any(isinstance(n, ast.ImportFrom) and n.module in ("fedcore.privacy.audit", "fedcore.model")
                   for n in ast.walk(privacy_report))
