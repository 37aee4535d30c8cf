"""Each strategy's aggregation on literal arrays against a hand computation (Prepare / Execute /
Assert)."""

import numpy as np
import pytest

from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.strategies import (
    FedAdam,
    FedAvg,
    FedAvgM,
    FedProx,
    FedYogi,
    Krum,
    Median,
    Scaffold,
    TrimmedMean,
    aggregate,
    cosine_learning_rate,
    make_strategy,
)
from fedcore.strategies.drift import CONTROL_KEY, control_update, local_steps

GLOBAL = [np.array([0.0, 0.0], np.float32)]


def _results(*rows, n=10):
    return [([np.array(r, np.float32)], n) for r in rows]


def test_median_and_trimmed_mean_ignore_one_outlier():
    # Prepare: four honest updates near 1 and one attacker at 100 on the first coordinate.
    results = _results([1.0, 2.0], [2.0, 2.0], [3.0, 2.0], [4.0, 2.0], [100.0, -50.0])
    # Execute
    median = Median().aggregate_fit(1, results, GLOBAL)
    trimmed = TrimmedMean(beta=0.2).aggregate_fit(1, results, GLOBAL)
    # Assert: median of (1,2,3,4,100) = 3, of (2,2,2,2,-50) = 2;
    # trimmed (cut 1 at each end): mean(2,3,4) = 3, mean(2,2,2) = 2. FedAvg would give (22, -8).
    np.testing.assert_allclose(median[0], [3.0, 2.0])
    np.testing.assert_allclose(trimmed[0], [3.0, 2.0])
    assert median[0].dtype == np.float32


def test_trimmed_mean_is_relative_to_the_global_weights():
    results = [([np.array([5.0])], 1), ([np.array([7.0])], 1), ([np.array([6.0])], 1)]
    merged = TrimmedMean(beta=0.34).aggregate_fit(1, results, [np.array([1.0])])
    np.testing.assert_allclose(merged[0], [6.0])  # 1 + the middle update 5


def test_krum_chooses_the_update_closest_to_the_others():
    # Prepare: updates 0, 1, 2, 3 on a line and an outlier at 50; f = 1, so n - f - 2 = 2
    # neighbours.
    results = _results([0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [50.0, 0.0])
    krum = Krum(byzantine=1, select=1)
    # Execute
    merged = krum.aggregate_fit(1, results, GLOBAL)
    # Assert: scores (two nearest squared distances): 0 -> 1+4 = 5, 1 -> 1+1 = 2, 2 -> 1+1 = 2,
    # 3 -> 1+4 = 5, 50 -> 47^2+48^2; the first lowest (index 1) wins.
    np.testing.assert_allclose(
        krum.scores(np.array([[0.0, 0], [1, 0], [2, 0], [3, 0], [50, 0]])),
        [5, 2, 2, 5, 47**2 + 48**2],
    )
    np.testing.assert_allclose(merged[0], [1.0, 0.0])
    multi = Krum(byzantine=1, select=3)
    np.testing.assert_allclose(multi.aggregate_fit(1, results, GLOBAL)[0], [(1 + 2 + 0) / 3, 0.0])
    assert multi.last_selected == [0, 1, 2]


def test_krum_refuses_too_few_hospitals():
    with pytest.raises(FedXrayError, match="krum-byzantine"):
        Krum(byzantine=1).aggregate_fit(1, _results([0.0, 0.0], [1.0, 1.0], [2.0, 2.0]), GLOBAL)


def test_one_fedadam_step_by_hand():
    # Prepare: mean update Delta = (1*2 + 3*(-2)) / 4 = -1 on coordinate 0; 0.5 on coordinate 1.
    strategy = FedAdam(server_learning_rate=0.1, beta1=0.9, beta2=0.99, tau=0.01)
    results = [([np.array([2.0, 0.5], np.float32)], 1), ([np.array([-2.0, 0.5], np.float32)], 3)]
    # Execute
    merged = strategy.aggregate_fit(1, results, GLOBAL)
    # Assert: m = 0.1 Delta, v = 0.01 Delta^2; w = 0.1 m / (sqrt v + tau).
    m = np.array([-0.1, 0.05])
    v = np.array([0.01, 0.0025])
    np.testing.assert_allclose(merged[0], 0.1 * m / (np.sqrt(v) + 0.01), rtol=1e-6)
    np.testing.assert_allclose(strategy.state()["v"][0], v)


def test_fedyogi_second_moment_grows_additively():
    strategy = FedYogi(server_learning_rate=0.1, beta2=0.99, tau=0.01)
    strategy.aggregate_fit(1, _results([2.0, 0.0]), GLOBAL)
    # v0 = 0 < Delta^2 = 4: v = 0 - 0.01 * 4 * sign(0 - 4) = 0.04
    np.testing.assert_allclose(strategy.v[0], [0.04, 0.0])


def test_fedavgm_accumulates_momentum():
    strategy = FedAvgM(server_learning_rate=1.0, momentum=0.5)
    first = strategy.aggregate_fit(1, _results([1.0, 0.0]), GLOBAL)
    second = strategy.aggregate_fit(2, _results([2.0, 0.0]), first)
    # m1 = 1, w1 = 1; Delta2 = 2 - 1 = 1, m2 = 0.5 + 1 = 1.5, w2 = 2.5
    np.testing.assert_allclose(second[0], [2.5, 0.0])


def test_fedprox_sends_mu_as_a_scalar():
    assert FedProx(1e-3, 10, mu=0.1).configure_fit(1, GLOBAL) == {
        "learning_rate": pytest.approx(1e-3),
        "proximal_mu": 0.1,
    }


def test_one_scaffold_step_by_hand():
    # Prepare: two of four hospitals, 64 and 32 images, batch 32, one epoch: K = 2 and 1; lr 0.5.
    strategy = Scaffold(0.5, rounds=1, hospitals=4, local_epochs=1, batch_size=32, cosine=False)
    x = [np.array([1.0, 1.0])]
    assert np.all(strategy.configure_fit(1, x)[CONTROL_KEY][0] == 0)
    results = [([np.array([0.0, 1.0])], 64), ([np.array([1.0, 4.0])], 32)]
    # Execute
    merged = strategy.aggregate_fit(1, results, x)
    # Assert: x+ = (64 y_1 + 32 y_2) / 96 = (1/3, 2); Delta c_1 = (x - y_1) / (2 * 0.5) = (1, 0),
    # Delta c_2 = (x - y_2) / (1 * 0.5) = (0, -6); c = 2/4 * mean = 0.5 * (0.5, -3) = (0.25, -1.5).
    np.testing.assert_allclose(merged[0], [1 / 3, 2.0])
    np.testing.assert_allclose(strategy.state()["c"][0], [0.25, -1.5])
    assert strategy.state()["c"][0].dtype == np.float32
    # The hospital's own c_i follows the same rule: c_i+ = c_i - c + (x - y_i) / (K lr).
    own = control_update(
        [np.array([0.1, 0.1])], [np.array([0.25, -1.5])], x, [np.array([0.0, 1.0])], 2, 0.5
    )
    np.testing.assert_allclose(own[0], [0.1 - 0.25 + 1.0, 0.1 + 1.5 + 0.0], rtol=1e-6)
    assert own[0].dtype == np.float32
    assert local_steps(65, 2, 32) == 6


@pytest.mark.parametrize(
    "name",
    [
        "fedavg",
        "fedprox",
        "fedavgm",
        "fedadam",
        "fedyogi",
        "scaffold",
        "median",
        "trimmed-mean",
        "krum",
    ],
)
def test_every_strategy_the_config_names_round_trips_its_state(name):
    strategy = make_strategy(RunConfig(strategy=name, hospitals=5, krum_byzantine=1), 5)
    assert strategy.name == name
    results = _results([1.0, 2.0], [2.0, 1.0], [0.0, 1.0], [1.0, 1.0], [3.0, 3.0])
    strategy.configure_fit(1, GLOBAL)
    first = strategy.aggregate_fit(1, results, GLOBAL)
    again = make_strategy(RunConfig(strategy=name, hospitals=5, krum_byzantine=1), 5)
    again.load_state(strategy.state())
    np.testing.assert_allclose(
        again.aggregate_fit(2, results, first)[0], strategy.aggregate_fit(2, results, first)[0]
    )


def test_fedavg_weights_by_example_count():
    # Prepare: two hospitals, 1 and 3 examples.
    a = [np.array([0.0, 4.0], np.float32), np.array([[1.0]], np.float32)]
    b = [np.array([4.0, 8.0], np.float32), np.array([[5.0]], np.float32)]
    # Execute
    merged = aggregate([(a, 1), (b, 3)])
    # Assert: W = 1/4 a + 3/4 b
    np.testing.assert_allclose(merged[0], [3.0, 7.0])
    np.testing.assert_allclose(merged[1], [[4.0]])
    assert merged[0].dtype == np.float32


def test_fedavg_of_one_result_is_that_result():
    w = [np.arange(6, dtype=np.float32).reshape(2, 3)]
    np.testing.assert_array_equal(aggregate([(w, 17)])[0], w[0])


def test_fedavg_equal_counts_is_plain_mean():
    results = [([np.full(3, v, np.float32)], 10) for v in (1.0, 2.0, 6.0)]
    np.testing.assert_allclose(aggregate(results)[0], np.full(3, 3.0))


def test_fedavg_rejects_mismatched_shapes_and_empty_input():
    with pytest.raises(ValueError, match="different shapes"):
        aggregate([([np.zeros(2)], 1), ([np.zeros(3)], 1)])
    with pytest.raises(ValueError, match="no hospital"):
        aggregate([])
    with pytest.raises(ValueError, match="positive total"):
        aggregate([([np.zeros(2)], 0)])


def test_fedavg_does_not_modify_inputs():
    a = [np.ones(4, np.float32)]
    b = [np.zeros(4, np.float32)]
    aggregate([(a, 1), (b, 1)])
    np.testing.assert_array_equal(a[0], np.ones(4))


def test_cosine_schedule_starts_at_rate_and_ends_at_a_tenth():
    assert cosine_learning_rate(1, 10, 1e-3) == pytest.approx(1e-3)
    assert cosine_learning_rate(10, 10, 1e-3) == pytest.approx(1e-4)
    rates = [cosine_learning_rate(r, 10, 1e-3) for r in range(1, 11)]
    assert all(x > y for x, y in zip(rates, rates[1:]))
    assert cosine_learning_rate(1, 1, 1e-3) == 1e-3


def test_fedavg_strategy_sends_the_round_learning_rate():
    strategy = FedAvg(learning_rate=1e-3, rounds=10)
    assert strategy.configure_fit(1, [])["learning_rate"] == pytest.approx(1e-3)
    assert FedAvg().configure_fit(1, []) == {}


def test_krum_and_trimmed_mean_report_what_they_did_with_each_update():
    # Prepare: the Krum example above; for the trimmed mean, three updates of one coordinate.
    krum = Krum(byzantine=1, select=3)
    trimmed = TrimmedMean(beta=0.34)
    # Execute
    krum.aggregate_fit(
        1, _results([0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [50.0, 0.0]), GLOBAL
    )
    trimmed.aggregate_fit(1, [([np.array([v])], 1) for v in (5.0, 7.0, 6.0)], [np.zeros(1)])
    # Assert: scores 5, 2, 2, 5, 47^2 + 48^2; kept the three lowest (stable order).
    assert [r["krum_kept"] for r in krum.last_report] == [1, 1, 1, 0, 0]
    assert [r["krum_score"] for r in krum.last_report][:4] == [5.0, 2.0, 2.0, 5.0]
    assert [r["trimmed_share"] for r in trimmed.last_report] == [1.0, 1.0, 0.0]
