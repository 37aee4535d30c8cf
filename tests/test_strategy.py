import numpy as np
import pytest

from fedcore.strategies import FedAvg, aggregate, cosine_learning_rate


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
