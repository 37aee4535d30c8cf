"""Model construction: the original design's parameter counts, offline fallback, local weights."""

import os
from pathlib import Path

import numpy as np
import pytest

from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.hospital.local_step import local_trainer
from fedcore.model.networks import build_model


@pytest.fixture(scope="module")
def efficientnet():
    return build_model(RunConfig(backbone="efficientnetv2s"))


def test_efficientnetv2s_matches_the_original_design(efficientnet):
    assert efficientnet.model.input_shape == (None, 100, 100, 1)
    assert efficientnet.backbone.input_shape == (None, 100, 100, 3)
    assert efficientnet.backbone.count_params() == 20_331_360
    assert efficientnet.head.get_layer("dense_32").count_params() == 40_992
    assert efficientnet.head.get_layer("probs").count_params() == 66
    assert efficientnet.head.get_layer("dropout").rate == 0.3
    out = efficientnet.model(np.zeros((2, 100, 100, 1), np.float32))
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)


def test_imagenet_offline_falls_back_to_random_with_a_notice(monkeypatch):
    # Prepare: offline for real, wherever the test runs: every download goes to a proxy
    # port that refuses connections.
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    if list(cache.glob("*mobilenet_v3_small*")):
        pytest.skip("the MobileNetV3 ImageNet weights are cached here: nothing is downloaded")
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)

    # Execute
    built = build_model(RunConfig(backbone="mobilenetv3small", weights="imagenet"))

    # Assert: the run goes on from random initialisation, and says so
    assert "ImageNet weights could not be downloaded" in built.notice
    assert "random initialisation" in built.notice
    assert built.model.count_params() > 0


def test_local_backbone_weights_file_is_loaded(tmp_path):
    config = RunConfig(backbone="mobilenetv3small", seed=1)
    source = build_model(config)
    path = tmp_path / "backbone.weights.h5"
    source.backbone.save_weights(path)
    loaded = build_model(RunConfig(backbone="mobilenetv3small", weights=str(path), seed=2))
    assert "backbone weights from" in loaded.notice
    for a, b in zip(source.backbone.get_weights(), loaded.backbone.get_weights()):
        np.testing.assert_array_equal(a, b)
    (tmp_path / "broken.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(FedXrayError, match="cannot load backbone weights"):
        build_model(
            RunConfig(backbone="mobilenetv3small", weights=str(tmp_path / "broken.weights.h5"))
        )


def test_the_compiled_local_step_starts_fresh_and_applies_the_fedprox_and_scaffold_correction():
    # Prepare: one model, one batch, a start point and a SCAFFOLD shift
    built = build_model(RunConfig(learning_rate=5e-3))
    trainer = local_trainer(built.model)
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 28, 28, 1), dtype=np.float32), np.eye(2, dtype=np.float32)[[0, 1] * 4]
    ones = np.ones(8, np.float32)
    start = built.initial_weights
    shift = [np.full(w.shape, 1e-3, np.float32) for w in start]

    def one_step(mu=0.0, correction=None):
        built.reseed(3)
        trainer.start(start, 5e-3, mu, correction)
        trainer.step(x, y, ones)
        return trainer.trained_weights()

    # Execute: a plain step, then corrected ones, then a plain one again after them
    plain = one_step()
    shifted = one_step(correction=shift)
    proximal = one_step(mu=10.0)
    again = one_step()

    # Assert: y <- adam(y) - lr mu (adam(y) - x) - lr (c - c_i), and nothing carries over between
    # starts
    for p, s, m, a, x0, c in zip(plain, shifted, proximal, again, start, shift):
        np.testing.assert_array_equal(a, p)
        np.testing.assert_allclose(s, p - c, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(m, p - 5e-3 * 10.0 * (p - x0), rtol=1e-5, atol=1e-7)
    assert any(np.any(p != x0) for p, x0 in zip(plain, start))


def test_bad_settings_are_refused_before_anything_runs():
    for bad, message in [
        (dict(rounds=0), "rounds"),
        (dict(backbone="resnet"), "unknown backbone"),
        (dict(alpha=-1), "alpha"),
        (dict(threshold=1.5), "threshold"),
        (dict(image_size=4), "image size"),
    ]:
        with pytest.raises(FedXrayError, match=message):
            RunConfig(**bad).validate()
