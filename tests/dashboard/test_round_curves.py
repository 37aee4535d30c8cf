"""The Train page's curves: y axes fitted to the values drawn, and steady while rounds land."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import round_curves

# Five rounds of a run that learned: accuracy per scope, and the loss going down.
ACCURACY = {
    "global": [0.62, 0.74, 0.80, 0.83, 0.84],
    "hospital_1": [0.60, 0.71, 0.78, 0.80, 0.82],
    "hospital_2": [0.66, 0.77, 0.82, 0.85, 0.86],
}
LOSS = {"global": [0.69, 0.52, 0.44, 0.40, 0.38]}


def frame_of(values: dict[str, list[float]], metric: str, rounds: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"round": r + 1, "scope": scope, metric: v}
            for scope, series in values.items()
            for r, v in enumerate(series[:rounds])
        ]
    )


def y_axis(frame: pd.DataFrame, metric: str) -> tuple[float, float]:
    scopes = round_curves.shown_scopes(frame)
    return tuple(round_curves.metric_figure(frame, metric, scopes, 10).layout.yaxis.range)


def test_the_axis_is_fitted_to_the_values_not_fixed_at_0_to_1():
    low, high = y_axis(frame_of(ACCURACY, "accuracy", 5), "accuracy")
    assert 0.45 <= low <= 0.6 and 0.9 <= high <= 0.95, (low, high)
    # Hospital 2 and the global model, 0.02 apart in round 5, lie at least twice as far apart as
    # on the fixed 0-1.02 axis, where the global model's thick line covered the hospital's.
    assert (high - low) <= 1.02 / 2


def test_the_loss_axis_is_fitted_too():
    low, high = y_axis(frame_of(LOSS, "loss", 5), "loss")
    assert 0.15 <= low < 0.38 and 0.69 < high <= 0.85, (low, high)


def test_a_round_inside_the_axis_keeps_it_and_the_axis_never_shrinks():
    ranges = [y_axis(frame_of(ACCURACY, "accuracy", r), "accuracy") for r in range(1, 6)]
    for before, after, r in zip(ranges, ranges[1:], range(2, 6)):
        new = [series[r - 1] for series in ACCURACY.values()]
        if all(before[0] < v < before[1] for v in new):
            assert after == before, f"round {r} lies inside {before} but moved it to {after}"
        assert after[0] <= before[0] and after[1] >= before[1], (r, before, after)
    assert len(set(ranges)) <= 3, f"the axis moved at most rounds: {ranges}"


@pytest.mark.parametrize(
    "metric, values",
    [
        ("accuracy", [0.375, 0.9]),
        ("sensitivity", [1.0, 1.0]),
        ("specificity", [0.0, 0.04]),
        ("auroc", [0.5]),
        ("f1", [0.81, 0.83]),
        ("loss", [2.3, 0.4]),
        ("loss", [0.0]),
    ],
)
def test_every_value_lies_inside_the_axis_and_a_rate_inside_0_to_1(metric, values):
    low, high = round_curves.y_range(metric, values)
    assert low < min(values) and max(values) < high
    if metric != "loss":
        assert -0.05 < low and high < 1.05
        assert high - low >= round_curves.MIN_RATE_SPAN, "a few hundredths never fill a panel"


def test_before_any_round_the_axis_spans_0_to_1_and_missing_values_are_skipped():
    low, high = round_curves.y_range("accuracy", [])
    assert low < 0 < 1 < high < 1.05
    assert round_curves.y_range("auroc", [0.8, float("nan"), None]) == round_curves.y_range(
        "auroc", [0.8]
    )


def test_the_axis_follows_the_scopes_drawn_and_the_x_axis_is_titled_round():
    frame = frame_of(ACCURACY | {"hospital_3": [0.1, 0.1, 0.1, 0.1, 0.1]}, "accuracy", 5)
    figure = round_curves.metric_figure(frame, "accuracy", ["hospital_1", "global"], 10)
    assert figure.layout.yaxis.range[0] > 0.4, "a scope not drawn does not stretch the axis"
    assert figure.layout.xaxis.title.text == "round"
