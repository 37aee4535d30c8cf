"""Leave-one-out contributions against a brute-force recomputation on a small federation."""

import copy
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fedcore.results.operating_point import pooled_counts, threshold_counts
from fedcore.server.contribution import (
    auroc_from_counts,
    contribution_sentence,
    leave_one_out,
)
from fedcore.strategies import FedAdam, FedAvg, Median, aggregate

GLOBAL = [np.zeros(3, np.float32)]


def _federation(seed=0):
    """Three hospitals' validation sets and a linear 'model': p = sigmoid(x . w)."""
    rng = np.random.default_rng(seed)
    val = []
    for n in (40, 25, 30):
        y = rng.integers(0, 2, n)
        x = rng.normal(size=(n, 3)) + np.outer(2 * y - 1, [1.0, 0.5, 0.0])
        val.append((x, y))
    results = [
        ([np.array([1.0, 0.4, 0.1], np.float32)], 50),
        ([np.array([0.6, 0.9, -0.2], np.float32)], 20),
        ([np.array([-1.5, 0.2, 0.3], np.float32)], 30),
    ]
    return val, results


def _counts_of(val):
    def counts_of(weights):
        return [threshold_counts(y, 1 / (1 + np.exp(-x @ weights[0]))) for x, y in val]

    return counts_of


def test_auroc_from_grid_counts_matches_scikit_learn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    p = 1 / (1 + np.exp(-(rng.normal(size=300) + 1.5 * y)))
    assert auroc_from_counts(pooled_counts([threshold_counts(y, p)])) == pytest.approx(
        roc_auc_score(y, p), abs=0.005
    )


def test_auroc_is_nan_without_both_classes():
    counts = threshold_counts(np.ones(5), np.linspace(0.1, 0.9, 5))
    assert math.isnan(auroc_from_counts(pooled_counts([counts])))


FACTORIES = {
    "fedavg": FedAvg,
    "median": Median,
    "fedadam": lambda: FedAdam(server_learning_rate=0.1),
}


def _auroc_pooled(val, weights):
    """The brute force: every validation image in one place, scored and counted at once."""
    x = np.concatenate([v[0] for v in val])
    y = np.concatenate([v[1] for v in val])
    p = 1 / (1 + np.exp(-x @ weights[0]))
    return auroc_from_counts(pooled_counts([threshold_counts(y, p)]))


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_leave_one_out_equals_brute_force(kind):
    # Prepare: the strategy has aggregated a round already (FedAdam carries moments).
    val, results = _federation()
    strategy = FACTORIES[kind]()
    strategy.aggregate_fit(1, results[:2], GLOBAL)
    snapshot = copy.deepcopy(strategy)
    full_weights = strategy.aggregate_fit(2, results, GLOBAL)
    # Execute
    full, contributions = leave_one_out(snapshot, 2, results, GLOBAL, full_weights, _counts_of(val))
    # Assert: each leave-one-out aggregate remade by its own copy of the round-1 strategy.
    assert full == pytest.approx(_auroc_pooled(val, full_weights), abs=1e-12)
    for k in range(3):
        others = [r for i, r in enumerate(results) if i != k]
        without = copy.deepcopy(snapshot).aggregate_fit(2, others, GLOBAL)
        expected = _auroc_pooled(val, full_weights) - _auroc_pooled(val, without)
        assert contributions[k] == pytest.approx(expected, abs=1e-12)


def test_leave_one_out_leaves_the_strategy_untouched_and_finds_who_hurt():
    val, results = _federation()
    strategy = FedAdam(server_learning_rate=0.1)
    strategy.aggregate_fit(1, results, GLOBAL)
    before = copy.deepcopy(strategy.state())
    _, contributions = leave_one_out(
        strategy, 2, results, GLOBAL, aggregate(results), _counts_of(val)
    )
    for key, arrays in strategy.state().items():
        for a, b in zip(before[key], arrays):
            np.testing.assert_array_equal(a, b)
    # The hospital whose model points the wrong way (index 2) lowers the AUROC: it hurts.
    assert contributions[2] < 0 < contributions[0]


def test_no_contributions_past_ten_hospitals():
    val, results = _federation()
    many = results * 4
    full, contributions = leave_one_out(FedAvg(), 1, many, GLOBAL, aggregate(many), _counts_of(val))
    assert contributions == [] and 0 <= full <= 1


def test_a_contribution_in_plain_words():
    assert contribution_sentence("hospital_2", 0.031) == (
        "without hospital_2 this round, the global model's validation AUROC would have been "
        "0.031 lower"
    )
    assert contribution_sentence("hospital_1", -0.02, rounds=10).startswith(
        "over 10 round(s), hospital_1's updates took 0.020 from the global model's validation AUROC"
    )
