"""The classifiers: a small CPU CNN, EfficientNetV2S as in the original design, MobileNetV3Small.

Every model is two parts, ``extractor`` (image -> feature map) and ``head`` (feature
map -> P(NORMAL), P(PNEUMONIA)), joined into one compiled Keras model. Grad-CAM needs
the split; training and weight exchange see only the joined model. Inputs are
(size, size, 1) grayscale in 0..1; the ImageNet backbones repeat the channel to RGB
inside the model, so data and weights look the same whatever the backbone.

Build a model once per process and move weights with get/set_weights: tracing a new
EfficientNetV2S costs about a minute on two CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from fedcore.config.run_config import RunConfig
from fedcore.model.balanced_loss import BalancedCrossEntropy
from fedcore.model.normalization import convolution, normalization_slots
from fedcore.model.weights_file import load_backbone_weights, names_weights_file

HEAD_UNITS = 32
DROPOUT = 0.3


@keras.saving.register_keras_serializable(package="fedcore")
class GrayToRGB(keras.layers.Layer):
    """Repeat a gray channel to three and scale 0..1 to 0..255, as ImageNet backbones expect."""

    def call(self, inputs):
        return keras.ops.repeat(inputs, 3, axis=-1) * 255.0


@dataclass
class BuiltModel:
    """A compiled model with its parts and how it was initialised.

    Attributes
    ----------
    model : keras.Model
        extractor then head; trained and exchanged as one.
    extractor, head : keras.Model
        The two parts, sharing variables with ``model``.
    backbone : keras.Model or None
        The ImageNet backbone inside the extractor (None for the CNN).
    notice : str
        How the weights were initialised, in words for the user (e.g. the offline fallback).
    initial_weights : list of np.ndarray
        The weights as built (seeded): every run in this process starts from them.
    norm_slots, statistic_slots : tuple of int
        Where the CNN's normalisation layers sit in ``model.get_weights()``: all their entries,
        and their moving statistics (:func:`normalization_slots`); empty without them.
    """

    model: keras.Model
    extractor: keras.Model
    head: keras.Model
    backbone: keras.Model | None
    notice: str
    initial_weights: list = None
    norm_slots: tuple = ()
    statistic_slots: tuple = ()
    _seed_states: list | None = None

    def reseed(self, seed: int) -> None:
        """Seed dropout so that a local step can be repeated exactly.

        Dropout draws from a seed-state variable outside ``get_weights``; it is reset
        here, or a resumed run would draw different masks. TensorFlow's global seed is
        deliberately left alone: changing it makes every traced function retrace (a
        minute for EfficientNetV2S), so shuffling is done in numpy by the caller.
        """
        if self._seed_states is None:
            weights = {id(v) for v in self.model.weights}
            self._seed_states = [
                v
                for v in self.model.variables
                if id(v) not in weights and "seed_generator" in v.path
            ]
        for variable in self._seed_states:
            variable.assign(np.array([seed, 0], dtype=variable.dtype))


def build_model(config: RunConfig) -> BuiltModel:
    """Build and compile the classifier a run's config names.

    Parameters
    ----------
    config : RunConfig
        Uses backbone, weights (random | imagenet | path), input_size, lr, seed.

    Raises
    ------
    FedXrayError
        When a weights file given by path cannot be loaded.
    """
    keras.utils.set_random_seed(config.seed)
    size = config.input_size
    inputs = keras.Input((size, size, 1), name="xray")
    backbone, notice = None, "random initialisation"
    if config.backbone == "cnn":
        features = _cnn_features(inputs, config.norm)
        if config.weights not in ("random", "imagenet"):
            notice = "random initialisation (the CNN has no pretrained backbone; --weights ignored)"
        elif config.weights == "imagenet":
            notice = "random initialisation (the CNN has no ImageNet weights)"
    else:
        backbone, notice = _imagenet_backbone(config.backbone, size, config.weights)
        features = backbone(GrayToRGB(name="gray_to_rgb")(inputs))
    extractor = keras.Model(inputs, features, name="extractor")
    head = _head(features.shape[1:])
    model = keras.Model(inputs, head(extractor(inputs)), name=f"fedxray_{config.backbone}")
    # The loss's class prior is set by each hospital before it trains (fedcore.model.balanced_loss).
    model.compile(
        optimizer=keras.optimizers.Adam(config.lr, epsilon=config.adam_epsilon),
        loss=BalancedCrossEntropy(),
    )
    model.optimizer.build(model.trainable_variables)
    return BuiltModel(
        model, extractor, head, backbone, notice, model.get_weights(), *normalization_slots(model)
    )


def check_backbone_weights(config: RunConfig) -> None:
    """Refuse a ``--weights`` file that is not the backbone's, by loading it into the backbone alone
    (seconds, no head, no optimizer): what a caller that creates the run row first runs before it.

    Raises
    ------
    FedXrayError
        One line naming the file (:func:`fedcore.model.weights_file.load_backbone_weights`).
    """
    if names_weights_file(config):
        _imagenet_backbone(config.backbone, config.input_size, config.weights)


def _cnn_features(inputs, norm: str = "none"):
    """About 130k parameters; feature map at 1/4 of the input for a readable Grad-CAM.

    Widths 32-64-64-128 ranked better than 16-32-64-128 (docs/efficientnetv2s.md); ``norm`` is
    what sits between each convolution and its relu (fedcore.model.normalization.convolution).
    """
    x = inputs
    for i, filters in enumerate((32, 64, 64, 128)):
        x = convolution(x, filters, i + 1, norm)
        if i < 2:
            x = keras.layers.MaxPooling2D(name=f"pool{i + 1}")(x)
    return x


def _head(feature_shape) -> keras.Model:
    """GAP, Dropout(0.3), Dense(32, relu), Dense(2, softmax): the original design's head."""
    fmap = keras.Input(feature_shape, name="feature_map")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(fmap)
    x = keras.layers.Dropout(DROPOUT, name="dropout")(x)
    x = keras.layers.Dense(HEAD_UNITS, activation="relu", name="dense_32")(x)
    out = keras.layers.Dense(2, activation="softmax", name="probs")(x)
    return keras.Model(fmap, out, name="head")


def _imagenet_backbone(name: str, size: int, weights: str):
    constructors = {
        "efficientnetv2s": lambda w: keras.applications.EfficientNetV2S(
            include_top=False, weights=w, input_shape=(size, size, 3), include_preprocessing=True
        ),
        "mobilenetv3small": lambda w: keras.applications.MobileNetV3Small(
            include_top=False, weights=w, input_shape=(size, size, 3), include_preprocessing=True
        ),
    }
    make = constructors[name]
    if weights == "random":
        return _named(make(None)), "random initialisation"
    if weights == "imagenet":
        try:
            return _named(make("imagenet")), "ImageNet weights"
        except Exception:  # offline: urllib/HTTP/OS errors; Keras wraps them variously
            return _named(make(None)), (
                "ImageNet weights could not be downloaded (offline, or the server unreachable); "
                "training goes on from random initialisation. Put the weights file in "
                "~/.keras/models/ or pass --weights PATH to use local weights."
            )
    backbone = _named(make(None))
    load_backbone_weights(backbone, weights, name)
    return backbone, f"backbone weights from {weights}"


def _named(backbone: keras.Model) -> keras.Model:
    backbone.name = "backbone"
    return backbone


# Pixels in one prediction batch: evaluation memory is set by the batch, not by the evaluation
# set (docs/efficientnetv2s.md). 200,000 pixels is 255 images at 28 px, 20 at 100 px.
PREDICT_BATCH_PIXELS = 200_000


def predict_batch_size(size: int) -> int:
    """Images per prediction batch for a ``size`` px input: 8 to 256, fewer as images grow."""
    return int(np.clip(PREDICT_BATCH_PIXELS // (size * size), 8, 256))


def trace_prediction(model: keras.Model) -> None:
    """Trace Keras' predict step before the first evaluation, for every batch size it will see.

    Keras traces its predict step again for the first batch of another size, then for any
    size; two batches of zeros (a full one and a single image) do both. Only the model's
    outputs are computed: its weights and statistics stay as they were.
    """
    shape = tuple(model.input_shape[1:])
    for n in (predict_batch_size(shape[0]), 1):
        model.predict_on_batch(np.zeros((n, *shape), np.float32))


def predict_pneumonia(
    model: keras.Model, x: np.ndarray, batch_size: int | None = None
) -> np.ndarray:
    """P(PNEUMONIA) for float32 (n, s, s, 1) images, in bounded memory.

    Batches go through Keras' compiled predict step (traced once per model, unlike an
    eager call, which keeps every layer's activations of the whole batch alive), and
    their size comes from the input size, so memory does not grow with ``n``.

    Parameters
    ----------
    model : keras.Model
    x : np.ndarray, shape (n, s, s, 1)
    batch_size : int, optional
        Default :func:`predict_batch_size` of ``s``.

    Returns
    -------
    np.ndarray, shape (n,)
    """
    batch_size = batch_size or predict_batch_size(x.shape[1])
    out = [
        np.asarray(model.predict_on_batch(x[start : start + batch_size]))[:, 1]
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0,), np.float32)
