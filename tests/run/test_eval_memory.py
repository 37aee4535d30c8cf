"""Evaluation memory is set by the prediction batch, not by how many images are evaluated.

Each measurement is a fresh process (peak RSS counts from a process's start): the model is
built and the images made first, then the growth of the peak during prediction is read.
A larger input (128 px) makes the activations dominate, as EfficientNetV2S's do at 100 px.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fedcore.model.networks import predict_batch_size

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import resource, sys
import numpy as np
from fedcore.config.run_config import RunConfig
from fedcore.model.networks import build_model, predict_pneumonia
size, n = int(sys.argv[1]), int(sys.argv[2])
built = build_model(RunConfig(image_size=size))
x = np.random.default_rng(0).random((n, size, size, 1), dtype=np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
scores = predict_pneumonia(built.model, x)
assert scores.shape == (n,) and np.isfinite(scores).all()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def prediction_growth_mb(images: int, size: int = 128) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(size), str(images)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    return int(out.stdout.split()[-1]) / 1024


def test_evaluation_memory_does_not_grow_with_the_evaluation_set():
    # 208 images (one hospital's test set) vs 1,248 (every test image of the default federation).
    small, large = prediction_growth_mb(208), prediction_growth_mb(1248)
    # Within 10%, plus 32 MB for the allocator's noise; the eager 256-image batches this
    # replaced grew from 1.2 to 1.4 GB here.
    assert large <= 1.10 * small + 32, f"prediction peak grew from {small:.0f} MB to {large:.0f} MB"


def test_batches_shrink_as_images_grow():
    assert predict_batch_size(28) == 255
    assert predict_batch_size(100) == 20
    assert predict_batch_size(224) == 8
    assert predict_batch_size(512) == 8
