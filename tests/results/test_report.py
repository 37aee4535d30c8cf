"""The printed report says which model, at which size and from which initial weights, its figures
come from."""

import math

import pandas as pd

from fedcore.results import report, text


def test_the_report_names_the_model_and_its_initial_weights(tiny_run):
    store, run_id = tiny_run
    printed = text.text_report(store.snapshot(run_id))
    assert "Model: cnn at 28 px; initial weights: random initialisation" in printed.splitlines()[1]


def test_the_rounds_table_puts_the_operating_point_beside_the_fixed_threshold():
    frame = pd.DataFrame(
        [
            {
                "round": 1,
                "scope": "global",
                "auroc": 0.8,
                "loss": 0.6,
                "accuracy": 0.55,
                "sensitivity": 0.2,
                "specificity": 1.0,
                "f1": 0.3,
                "op_threshold": 0.48,
                "op_accuracy": 0.75,
                "op_sensitivity": 0.7,
                "op_specificity": 0.8,
            },
            {
                "round": 2,
                "scope": "global",
                "auroc": 0.9,
                "loss": 0.4,
                "accuracy": 0.85,
                "sensitivity": 0.9,
                "specificity": 0.8,
                "f1": 0.88,
                "op_threshold": 0.52,
                "op_accuracy": 0.86,
                "op_sensitivity": 0.88,
                "op_specificity": 0.84,
            },
            {
                "round": 2,
                "scope": "hospital_1",
                "auroc": 0.5,
                "loss": 0.9,
                "accuracy": 0.5,
                "sensitivity": 0.5,
                "specificity": 0.5,
                "f1": 0.5,
                "op_threshold": math.nan,
            },
        ]
    )
    table = report.rounds_table(frame, {1: 3.0, 2: 2.5}, 0.4)
    assert list(table.columns) == [
        "round",
        "model",
        "seconds",
        "AUROC",
        "loss",
        "threshold",
        "accuracy",
        "sensitivity",
        "specificity",
        "accuracy at 0.4",
        "sensitivity at 0.4",
        "specificity at 0.4",
        "F1 at 0.4",
    ]
    assert table["round"].tolist() == [2, 1], "newest first, global rows only"
    assert table.iloc[1][["seconds", "threshold", "accuracy", "accuracy at 0.4"]].tolist() == [
        3.0,
        0.48,
        0.75,
        0.55,
    ]


def test_a_run_without_an_operating_point_shows_only_the_fixed_threshold():
    frame = pd.DataFrame(
        [
            {
                "round": 1,
                "scope": "global",
                "auroc": 0.8,
                "loss": 0.6,
                "accuracy": 0.55,
                "sensitivity": 0.2,
                "specificity": 1.0,
                "f1": 0.3,
            }
        ]
    )
    table = report.rounds_table(frame, {1: 3.0}, 0.5)
    assert "threshold" not in table and table["accuracy at 0.5"].tolist() == [0.55]


def test_the_curves_read_every_scope_at_its_rounds_operating_point_or_none_at_all():
    at_op = {
        f"op_{k}": v
        for k, v in {
            "accuracy": 0.8,
            "sensitivity": 0.7,
            "specificity": 0.9,
            "precision": 0.85,
            "f1": 0.77,
            "f1_avg": 0.78,
            "tp": 7,
            "fp": 1,
            "tn": 9,
            "fn": 3,
        }.items()
    }
    plain = {
        "accuracy": 0.5,
        "sensitivity": 1.0,
        "specificity": 0.0,
        "precision": 0.5,
        "f1": 0.67,
        "f1_avg": 0.33,
        "tp": 10,
        "fp": 10,
        "tn": 0,
        "fn": 0,
        "auroc": 0.9,
    }
    frame = pd.DataFrame(
        [
            {"round": 1, "scope": "global", **plain, **at_op},
            {"round": 1, "scope": "hospital_1", **plain, **at_op},
        ]
    )
    shown, at_point = report.at_operating_points(frame)
    assert at_point and shown["accuracy"].tolist() == [0.8, 0.8] and shown["fn"].tolist() == [3, 3]
    assert shown["auroc"].tolist() == [0.9, 0.9] and frame["accuracy"].tolist() == [0.5, 0.5], (
        "a copy"
    )
    older = pd.concat(
        [frame, pd.DataFrame([{"round": 1, "scope": "hospital_2", **plain}])], ignore_index=True
    )
    shown, at_point = report.at_operating_points(older)
    assert not at_point and shown["accuracy"].tolist() == [0.5, 0.5, 0.5], (
        "never two thresholds in one figure"
    )
