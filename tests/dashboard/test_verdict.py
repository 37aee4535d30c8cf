"""The fairness verdict: each bar passes or fails by its stated number; unmeasurable checks do not
count."""

import math

from dashboard.verdict import (
    MAX_ACCURACY_SPREAD,
    MAX_FNR_GAP,
    WORST_BELOW_GLOBAL,
    fairness_checks,
    overall,
)


def summary(fnr_gap=0.02, spread=0.03, worst=0.88, hospital="hospital_2"):
    return {
        "fnr_gap": fnr_gap,
        "accuracy_spread": spread,
        "worst_accuracy": worst,
        "worst_hospital": hospital,
    }


def test_a_fair_round_passes_every_check():
    checks = fairness_checks(summary(), global_accuracy=0.89)
    assert [c.passed for c in checks] == [True, True, True]
    assert overall(checks) is True
    assert (
        checks[2].name == "Worst hospital (Hospital 2) accuracy"
    )  # display name, not the folder name


def test_each_bar_fails_on_its_own_just_past_its_number():
    global_accuracy = 0.90
    assert [
        c.passed for c in fairness_checks(summary(fnr_gap=MAX_FNR_GAP + 0.001), global_accuracy)
    ] == [False, True, True]
    assert [
        c.passed
        for c in fairness_checks(summary(spread=MAX_ACCURACY_SPREAD + 0.001), global_accuracy)
    ] == [True, False, True]
    worst = global_accuracy - WORST_BELOW_GLOBAL - 0.001
    checks = fairness_checks(summary(worst=worst), global_accuracy)
    assert [c.passed for c in checks] == [True, True, False]
    assert overall(checks) is False


def test_values_exactly_at_the_bar_pass():
    checks = fairness_checks(
        summary(fnr_gap=MAX_FNR_GAP, spread=MAX_ACCURACY_SPREAD, worst=0.87), 0.90
    )
    assert overall(checks) is True


def test_unmeasurable_checks_are_left_out_of_the_overall_verdict():
    checks = fairness_checks(summary(fnr_gap=math.nan), 0.89)
    assert checks[0].passed is None and overall(checks) is True
    none = fairness_checks(summary(fnr_gap=math.nan, spread=math.nan, worst=math.nan), math.nan)
    assert overall(none) is None
