"""A hospital warmed up before round 1 (the engine and the Flower ClientApp trace and run its steps
once while the run starts) traces nothing more in round 1, and trains and evaluates to the same
bits as one that does all that in round 1."""

import numpy as np
import pytest

from fedcore.data import load_federation
from fedcore.hospital.local_step import local_trainer
from fedcore.hospital.training import Hospital
from fedcore.model.networks import build_model
from fedcore.strategies.drift import CONTROL_KEY
from tests.conftest import tiny_config


def traces(built) -> list[int]:
    """How often each of the model's compiled functions has been traced so far."""
    trainer = local_trainer(built.model)
    functions = [trainer._load, trainer._correct, trainer._plain, trainer._corrected]
    functions.append(built.model.predict_function)
    return [f.experimental_get_tracing_count() if f is not None else 0 for f in functions]


@pytest.mark.parametrize(
    "strategy, normalization", [("fedavg", "none"), ("scaffold", "none"), ("scaffold", "batch")]
)
def test_a_warmed_up_hospital_traces_nothing_in_round_1_and_gives_the_same_bits(
    strategy, normalization
):
    # Batch normalisation's moving statistics move in the warm-up's step: they must come back
    config = tiny_config(strategy=strategy, normalization=normalization, max_per_hospital=60)
    data = load_federation(config).hospitals[0]
    start = None
    runs = []
    for warm in (False, True):
        built = build_model(config)
        start = start or built.initial_weights
        hospital = Hospital(data, built, config, 0)
        if warm:
            hospital.warm_up()
        before = traces(built)
        control = [np.zeros_like(w) for w in start] if strategy == "scaffold" else None
        outcome = hospital.fit(start, 1, {CONTROL_KEY: control} if control else {})
        metrics = hospital.evaluate(outcome.weights)
        hospital.evaluate(outcome.weights, split="val")  # another batch size
        runs.append((outcome.weights, metrics, before, traces(built)))
    (cold_weights, cold_metrics, _, _), (warm_weights, warm_metrics, before, after) = runs
    assert after == before, "round 1 traced again after the warm-up"
    assert all(np.array_equal(a, b) for a, b in zip(cold_weights, warm_weights))
    assert warm_metrics == cold_metrics
