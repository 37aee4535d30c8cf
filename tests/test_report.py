"""The printed report says which model, at which size and from which initial weights, its figures come from."""

import math

import pandas as pd

from fedcore import report


def test_the_report_names_the_model_and_its_initial_weights(tiny_run):
    store, run_id = tiny_run
    text = report.text_report(store.snapshot(run_id))
    assert "Model: cnn at 28 px; initial weights: random initialisation" in text.splitlines()[1]


def test_the_rounds_table_puts_the_operating_point_beside_the_fixed_threshold():
    frame = pd.DataFrame([
        {"round": 1, "scope": "global", "auroc": 0.8, "loss": 0.6, "accuracy": 0.55, "sensitivity": 0.2,
         "specificity": 1.0, "f1": 0.3, "op_threshold": 0.48, "op_accuracy": 0.75, "op_sensitivity": 0.7,
         "op_specificity": 0.8},
        {"round": 2, "scope": "global", "auroc": 0.9, "loss": 0.4, "accuracy": 0.85, "sensitivity": 0.9,
         "specificity": 0.8, "f1": 0.88, "op_threshold": 0.52, "op_accuracy": 0.86, "op_sensitivity": 0.88,
         "op_specificity": 0.84},
        {"round": 2, "scope": "hospital_1", "auroc": 0.5, "loss": 0.9, "accuracy": 0.5, "sensitivity": 0.5,
         "specificity": 0.5, "f1": 0.5, "op_threshold": math.nan},
    ])
    table = report.rounds_table(frame, {1: 3.0, 2: 2.5}, 0.4)
    assert list(table.columns) == ["round", "model", "seconds", "AUROC", "loss", "threshold", "accuracy",
                                   "sensitivity", "specificity", "accuracy at 0.4", "sensitivity at 0.4",
                                   "specificity at 0.4", "F1 at 0.4"]
    assert table["round"].tolist() == [2, 1], "newest first, global rows only"
    assert table.iloc[1][["seconds", "threshold", "accuracy", "accuracy at 0.4"]].tolist() == [3.0, 0.48, 0.75, 0.55]


def test_a_run_without_an_operating_point_shows_only_the_fixed_threshold():
    frame = pd.DataFrame([{"round": 1, "scope": "global", "auroc": 0.8, "loss": 0.6, "accuracy": 0.55,
                           "sensitivity": 0.2, "specificity": 1.0, "f1": 0.3}])
    table = report.rounds_table(frame, {1: 3.0}, 0.5)
    assert "threshold" not in table and table["accuracy at 0.5"].tolist() == [0.55]
