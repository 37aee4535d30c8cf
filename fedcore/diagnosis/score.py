"""Single-image diagnosis from a run's checkpoint: P(pneumonia), the call, and a Grad-CAM heat map.

A research demo, not a medical device: the output says so wherever it is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedcore.config.run_config import RunConfig
from fedcore.data import ASSETS, CLASSES, SAMPLES_DIR, to_model_input
from fedcore.errors import FedXrayError
from fedcore.imaging.budget import MAX_UPLOAD_BYTES
from fedcore.imaging.decode import decode_image
from fedcore.model.networks import BuiltModel, build_model
from fedcore.store import RunStore
from fedcore.store.weights_archive import check_weights, read_weights_archive

DISCLAIMER = "Research demo, not a medical device: not for clinical decisions."
# The default federation's best checkpoint, shipped so that Diagnose works before anyone
# trains (made by scripts/make_demo_model.py; its provenance sits beside it as .json).
SHIPPED_MODEL = ASSETS / "model" / "default_cnn.npz"
SHIPPED_RUN_ID = "shipped"


@dataclass
class LoadedModel:
    """A run's model with the weights of one checkpoint."""

    built: BuiltModel
    config: RunConfig
    run_id: str
    server_round: int
    checkpoint: str
    model_name: str
    test_metrics: dict
    provenance: dict | None = None


@dataclass
class Diagnosis:
    """One image's result."""

    probability: float
    label: str
    threshold: float
    image: np.ndarray
    heatmap: np.ndarray | None = None


def load_run_model(
    store: RunStore,
    run_id: str | None = None,
    checkpoint: str = "best",
    model_name: str | None = None,
) -> LoadedModel:
    """Build the run's model and load a checkpoint's weights.

    Parameters
    ----------
    store : RunStore
    run_id : str, optional
        Default: the newest run that completed at least one round.
    checkpoint : str
        'best' (by global AUROC) or 'last'.
    model_name : str, optional
        In local mode, which hospital's model; default the first.
    """
    if run_id is None:
        candidates = [r for r in store.list_runs() if r["rounds_done"]]
        if not candidates:
            raise FedXrayError(
                "no run has completed a round yet: train one first "
                "(`python -m fedcore train` or the dashboard's Train page)"
            )
        run_id = candidates[0]["id"]
    record = store.get_run(run_id)
    config = RunConfig.from_dict(record["config"])
    # The backbone's initial weights are replaced by the checkpoint: never download them again.
    built = build_model(RunConfig.from_dict({**config.to_dict(), "weights": "random"}))
    shapes = [tuple(w.shape) for w in built.model.weights]
    server_round, models = store.load_checkpoint(run_id, checkpoint, shapes)
    name = model_name or next(iter(models))
    if name not in models:
        raise FedXrayError(f"run {run_id} has no model '{name}': it has {', '.join(models)}")
    built.model.set_weights(models[name])
    snapshot = store.snapshot(run_id)
    scope = "global" if name == "global" else f"global:{name}"
    test = next(
        (m for m in snapshot["metrics"] if m["round"] == server_round and m["scope"] == scope), {}
    )
    return LoadedModel(built, config, run_id, server_round, checkpoint, name, test)


def diagnose(
    loaded: LoadedModel,
    data: bytes,
    name: str = "image",
    with_heatmap: bool = True,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> Diagnosis:
    """Decode an uploaded file and classify it.

    ``max_bytes`` defaults to the dashboard's upload limit, checked here as well as by the
    web server, before decoding; the CLI passes the larger limit for files on disk.

    Raises
    ------
    FedXrayError
        For a file that is not a readable PNG, JPEG or DICOM image, or is too large.
    """
    image = decode_image(data, loaded.config.input_size, name, max_bytes)
    x = to_model_input(image[None])
    probability = float(np.asarray(loaded.built.model(x, training=False))[0, 1])
    label = CLASSES[int(probability >= loaded.config.threshold)]
    heatmap = grad_cam(loaded.built, x) if with_heatmap else None
    return Diagnosis(probability, label, loaded.config.threshold, image, heatmap)


def grad_cam(built: BuiltModel, x: np.ndarray, class_index: int = 1) -> np.ndarray:
    """Grad-CAM (Selvaraju et al., 2017) for one image, upsampled to the input size.

    Parameters
    ----------
    built : BuiltModel
    x : np.ndarray, shape (1, s, s, 1)
    class_index : int
        1 = PNEUMONIA: where the evidence for pneumonia is.

    Returns
    -------
    np.ndarray, shape (s, s), values in 0..1
    """
    import tensorflow as tf

    tensor = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        fmap = built.extractor(tensor, training=False)
        tape.watch(fmap)
        score = built.head(fmap, training=False)[:, class_index]
    grads = tape.gradient(score, fmap)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * fmap, axis=-1))[0].numpy()
    if cam.max() > 0:
        cam = cam / cam.max()
    size = x.shape[1]
    cam = tf.image.resize(cam[..., None], (size, size), method="bilinear")[..., 0].numpy()
    return np.clip(cam, 0.0, 1.0)


def load_shipped_model(path: Path = SHIPPED_MODEL) -> LoadedModel:
    """The checkpoint shipped with the project: the default federation's best round.

    Parameters
    ----------
    path : Path
        The weights (``w00``, ``w01``, ... in model order); the provenance is the same
        path with ``.json``: command, seed, config, round, global test metrics, date, git commit.

    Raises
    ------
    FedXrayError
        When the files are missing or do not fit the model their config names.
    """
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        raise FedXrayError(
            f"the shipped model {path} is missing: run `python scripts/make_demo_model.py` "
            "or train a run"
        )
    what, advice = f"the shipped model {path}", "run `python scripts/make_demo_model.py` again"
    provenance = json.loads(meta_path.read_text())
    config = RunConfig.from_dict({**provenance["config"], "weights": "random"})
    arrays = read_weights_archive(path, what, advice)
    built = build_model(config)
    weights = [arrays[k] for k in sorted(arrays)]
    shapes = [tuple(w.shape) for w in built.model.weights]
    check_weights(weights, what, advice, shapes, f"its {config.backbone} model")
    built.model.set_weights(weights)
    return LoadedModel(
        built,
        config,
        SHIPPED_RUN_ID,
        provenance["round"],
        provenance["checkpoint"],
        "global",
        provenance["global_test"],
        provenance,
    )


@dataclass
class SampleScore:
    """One shipped sample radiograph through a model."""

    name: str
    truth: str
    probability: float
    label: str

    @property
    def correct(self) -> bool:
        """Whether the call matches the radiograph's folder label."""
        return self.truth == self.label


def score_samples(loaded: LoadedModel, folder: Path = SAMPLES_DIR) -> list[SampleScore]:
    """Score every sample radiograph (``folder/LABEL/*.jpeg``) in one batch.

    The samples' twins are held out of the embedded training data, so this is a small
    test on images the model never saw. No Grad-CAM: only the calls.
    """
    paths = sorted(folder.glob("*/*.jpeg"))
    if not paths:
        return []
    size = loaded.config.input_size
    x = to_model_input(np.stack([decode_image(p.read_bytes(), size, str(p)) for p in paths]))
    probabilities = np.asarray(loaded.built.model(x, training=False))[:, 1]
    return [
        SampleScore(p.name, p.parent.name, float(q), CLASSES[int(q >= loaded.config.threshold)])
        for p, q in zip(paths, probabilities)
    ]


def radiograph_for_display(data: bytes, max_side: int = 640, name: str = "image") -> np.ndarray:
    """The upload as the user sees it, grayscale uint8, its longer side at most ``max_side``.

    Kept at the original aspect ratio (no center crop), so the page can show the whole
    radiograph beside what the model saw.

    Raises
    ------
    FedXrayError
        For bytes that are not a readable image (see fedcore.imaging.decode.decode_image).
    """
    from PIL import Image

    from fedcore.imaging.decode import decode_pixels

    pixels = decode_pixels(data, max_side, name)
    image = Image.fromarray((np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(image)
