"""Model construction: the original design's parameter counts, the offline fallback, local weights."""

import os
from pathlib import Path

import numpy as np
import pytest

from fedcore.config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.model import build_model


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
        build_model(RunConfig(backbone="mobilenetv3small", weights=str(tmp_path / "broken.weights.h5")))


def test_optimizer_reset_keeps_the_learning_rate_and_clears_moments():
    built = build_model(RunConfig(learning_rate=5e-4))
    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1] * 4]
    built.model.fit(x, y, epochs=1, verbose=0)
    assert int(built.model.optimizer.iterations.numpy()) > 0
    built.reset_optimizer()
    assert int(built.model.optimizer.iterations.numpy()) == 0
    assert float(built.model.optimizer.learning_rate.numpy()) == pytest.approx(5e-4)
    assert all(not np.any(v.numpy()) for v in built.model.optimizer.variables if "momentum" in v.path)
    built.reset_optimizer(1e-4)
    assert float(built.model.optimizer.learning_rate.numpy()) == pytest.approx(1e-4)


def test_bad_settings_are_refused_before_anything_runs():
    for bad, message in [(dict(rounds=0), "rounds"), (dict(backbone="resnet"), "unknown backbone"),
                         (dict(alpha=-1), "alpha"), (dict(threshold=1.5), "threshold"),
                         (dict(image_size=4), "image size")]:
        with pytest.raises(FedXrayError, match=message):
            RunConfig(**bad).validate()
