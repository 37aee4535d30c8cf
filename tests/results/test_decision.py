"""One rule for every page: the run's model, its decision threshold and its figures there, on
literal runs."""

import math

import pytest

from fedcore.results import decision, report
from fedcore.results.scope import Scope
from tests.results.literal_runs import figures, learning_round, snapshot


@pytest.mark.parametrize(
    "text,mode,scope,label",
    [
        ("global", "federated", Scope("global"), "Global model"),
        ("hospital_2", "federated", Scope("hospital_2"), "Hospital 2"),
        ("hospital_2", "local", Scope("hospital_2", "hospital_2"), "Hospital 2"),
        ("global:hospital_2", "local", Scope("global", "hospital_2"), "Hospital 2 model"),
    ],
)
def test_a_stored_scope_text_reads_as_a_typed_scope_and_back(text, mode, scope, label):
    parsed = Scope.parse(text, mode)
    assert parsed == scope and parsed.text == text and parsed.label == label
    assert parsed.on_global_test == text.startswith("global")


def test_a_round_with_every_operating_point_is_read_there():
    snap = snapshot([learning_round()])
    chosen, rows = decision.figures(snap, 1)
    assert chosen == decision.Decision(0.3, True, 0.5)
    assert rows[Scope("global")]["accuracy"] == pytest.approx(564 / 624)
    assert rows[Scope("global")]["fn"] == 30
    assert chosen.words == "at the federated operating point (threshold 0.300)"
    assert chosen.short == "at t = 0.300"


def test_a_round_where_one_hospital_lacks_its_operating_point_is_read_at_the_fixed_threshold():
    # A run recorded before hospitals reported their test counts: only the global row has one.
    old = learning_round()
    old["hospital_2"] = figures(0.9, 0.4, (100, 20, 50, 30))
    chosen, rows = decision.figures(snapshot([old]), 1)
    assert not chosen.operating_point and chosen.threshold == 0.5
    assert rows[Scope("global")]["fn"] == 90, "every scope at 0.5, never two thresholds mixed"
    assert chosen.words == "at the fixed threshold 0.5"


def test_the_runs_model_is_its_best_round():
    snap = snapshot([learning_round(0.9), learning_round(0.96), learning_round(0.94)], best_round=2)
    assert decision.model_round(snap["run"]) == 2
    assert decision.pick_round(snap, "best") == 2 and decision.pick_round(snap, "last") == 3


def test_local_mode_reads_the_mean_of_the_hospitals_own_models_on_the_global_test_set():
    rounds = [
        {
            "global:hospital_1": figures(0.9, 0.4, (300, 40, 194, 90)),
            "global:hospital_2": figures(0.8, 0.6, (200, 40, 194, 190)),
            "hospital_1": figures(0.9, 0.4, (100, 10, 60, 30)),
        }
    ]
    chosen, mean = decision.global_figures(snapshot(rounds, mode="local"), 1)
    assert not chosen.operating_point
    assert mean["auroc"] == pytest.approx(0.85) and mean["loss"] == pytest.approx(0.5)


def test_tables_say_their_threshold_and_the_fixed_one_is_one_argument_away():
    snap = snapshot([learning_round()])
    t1 = report.table1(snap)
    assert t1.attrs["decision"].operating_point and t1["Threshold"].tolist() == [0.3]
    assert t1["FN"].tolist() == [30]
    fixed = report.table1(snap, at="fixed")
    assert fixed["Threshold"].tolist() == [0.5] and fixed["FN"].tolist() == [90]
    assert report.table2(snap)["FN"].tolist() == [10, 12]


def test_the_rounds_table_reads_each_round_at_its_decision_and_labels_the_fixed_columns():
    old = learning_round(0.8, 0.6)
    old["hospital_1"] = figures(0.8, 0.6, (100, 10, 60, 30))
    snap = snapshot([old, learning_round()])
    table = report.rounds_table(snap, {1: 3.0, 2: 2.5})
    assert table["round"].tolist() == [2, 1], "newest first, global rows only"
    assert table["threshold"].tolist() == [0.3, 0.5], "round 1 lacks a hospital's point"
    assert table["accuracy"].iloc[0] == pytest.approx(564 / 624)
    assert table["accuracy at 0.5"].iloc[0] == pytest.approx(494 / 624)
    assert table["seconds"].tolist() == [2.5, 3.0]


def test_every_figure_names_its_threshold_and_rule_on_every_row():
    snap = snapshot([learning_round(), learning_round()])
    rows = report.every_figure(snap)
    assert len(rows) == 6 and set(rows["threshold_rule"]) == {"operating point"}
    glob = rows[(rows["model"] == "global") & (rows["test_set"] == "global")]
    assert glob["fn"].tolist() == [30, 30] and glob["fn at 0.5"].tolist() == [90, 90]


def test_the_curves_read_every_scope_at_its_rounds_operating_point_or_none_at_all():
    frame = report.metrics_frame(snapshot([learning_round()]))
    shown, at_point = decision.curves_at_decision(frame)
    assert at_point and shown["fn"].tolist() == [30, 10, 12]
    assert frame["fn"].tolist() == [90, 30, 30], "a copy"
    old = learning_round()
    old["hospital_2"] = figures(0.9, 0.4, (100, 20, 50, 30))
    frame = report.metrics_frame(snapshot([old]))
    shown, at_point = decision.curves_at_decision(frame)
    assert not at_point and shown["fn"].tolist() == [90, 30, 30]


def test_fairness_is_judged_at_the_decision_and_at_the_fixed_threshold_on_request():
    snap = snapshot([learning_round()])
    at_point = report.fairness_at(snap)
    assert at_point["fnr_gap"] == pytest.approx(abs(10 / 130 - 12 / 130))
    snap["rounds"][0]["fairness"] = {"fnr_gap": 0.25}
    assert report.fairness_at(snap, at="fixed") == {"fnr_gap": 0.25}
    assert not math.isnan(at_point["worst_accuracy"])
