"""FedBN: each hospital keeps its own batch normalisation between rounds, the global model holds
the average, SCAFFOLD corrects no moving statistic, and the settings refuse what cannot run."""

import numpy as np
import pytest

from fedcore.config.run_config import RunConfig
from fedcore.data import load_federation
from fedcore.errors import FedXrayError
from fedcore.hospital.training import Hospital
from fedcore.model.networks import build_model
from fedcore.run import engine
from tests.conftest import tiny_config

QUIET = {"log": lambda line: None}


@pytest.fixture(scope="module")
def fedbn():
    """(config, built model, the first tiny hospital) under --normalization fedbn."""
    config = tiny_config(normalization="fedbn", max_per_hospital=64)
    built = build_model(config)
    return config, built, load_federation(config).hospitals[0]


def shifted_statistics(built, weights):
    """``weights`` with every moving mean of the normalisation layers moved to 50."""
    return [
        np.full_like(w, 50.0) if i in built.statistic_slots and "mean" in path else w
        for i, (w, path) in enumerate(zip(weights, (v.path for v in built.model.weights)))
    ]


def test_a_fedbn_hospital_trains_and_evaluates_with_its_own_statistics(fedbn):
    # Prepare: a hospital that trained once, then a global model whose moving means are 50.
    config, built, data = fedbn
    hospital = Hospital(data, built, config, 0)
    first = hospital.fit(built.initial_weights, 1).weights
    far = shifted_statistics(built, first)
    # Execute: round 2 from that global model.
    second = hospital.fit(far, 2).weights
    # Assert: it started from its own means (two steps at momentum 0.9 keep 0.81 of a start at 50),
    # took the rest of the global weights, and evaluates with its own normalisation.
    for i in built.statistic_slots:
        assert np.abs(second[i]).max() < 10, built.model.weights[i].path
    assert hospital.own(far)[0] is far[0]
    own_loss = hospital.evaluate(far)["loss"]
    assert own_loss == hospital.evaluate(hospital.own(far))["loss"]
    # The same with --normalization batch starts from the global means.
    plain = Hospital(data, built, RunConfig(**{**config.to_dict(), "normalization": "batch"}), 0)
    plain.fit(built.initial_weights, 1)
    means = [i for i in built.statistic_slots if "mean" in built.model.weights[i].path]
    assert min(np.abs(plain.fit(far, 2).weights[i]).min() for i in means) > 10
    assert plain.evaluate(far)["loss"] != own_loss


def test_scaffold_corrects_no_moving_statistic_and_no_fedbn_entry(fedbn):
    config, built, data = fedbn
    control = [np.ones_like(w) for w in built.initial_weights]
    for normalization, uncorrected in (
        ("batch", built.statistic_slots),
        ("fedbn", built.norm_slots),
    ):
        settings = RunConfig(**{**config.to_dict(), "normalization": normalization})
        hospital = Hospital(data, built, settings, 0)
        hospital.control = [np.zeros_like(w) for w in control]
        shift = hospital._control_shift(built.initial_weights, control, 0.1)
        for i, s in enumerate(shift):
            assert np.all(s == 0) if i in uncorrected else np.allclose(s, 0.1), (normalization, i)


def test_after_round_two_each_hospital_keeps_its_statistics_and_the_global_model_averages(store):
    # Prepare / Execute: a 2-round FedBN federation (FedAvg: the global model is the mean).
    config = tiny_config(normalization="fedbn", strategy="fedavg", max_per_hospital=80)
    result = engine.run(config, store, **QUIET)
    assert result.status == "finished", result.error
    # Assert: every hospital's kept statistics differ from the global ones, and the global ones are
    # the example-weighted mean of the hospitals'.
    built = build_model(config)
    global_weights = store.load_checkpoint(result.run_id, "last")[1]["global"]
    kept = store.load_checkpoint(result.run_id, "server")[1]
    counts = {h.name: len(h.train) for h in load_federation(config).hospitals}
    assert set(kept) == {f"local/{name}" for name in counts}
    for i in built.statistic_slots:
        own = {name: kept[f"local/{name}"][i] for name in counts}
        for name, values in own.items():
            assert not np.allclose(values, global_weights[i]), (name, i)
        mean = sum(counts[n] * own[n].astype(np.float64) for n in counts) / sum(counts.values())
        np.testing.assert_allclose(global_weights[i], mean, rtol=1e-5, atol=1e-6)


def test_normalisation_is_refused_where_it_cannot_run():
    with pytest.raises(FedXrayError, match="patient-level DP needs --normalization group or none"):
        RunConfig(dp="patient", normalization="batch").validate()
    with pytest.raises(FedXrayError, match="for the cnn backbone"):
        RunConfig(backbone="mobilenetv3small", normalization="fedbn").validate()
    flower = RunConfig(normalization="fedbn")
    flower.extra["runtime"] = "flower"
    with pytest.raises(FedXrayError, match="in-process engine only"):
        flower.validate()
    RunConfig(dp="patient").validate()
