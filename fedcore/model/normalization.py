"""The CNN's normalisation layers (``--normalization``): group normalisation, which patient-level
DP uses (docs/privacy.md, "Group normalisation"), and batch normalisation (``batch`` or ``fedbn``),
with where its entries sit among the model's weights, which FedBN keeps at each hospital
(Li et al. 2021, "FedBN: Federated learning on non-IID features via local batch normalization").
"""

from __future__ import annotations

import re

import keras

# The CNN's normalisation layers are named bn1 to bn4.
NORM_PREFIX = "bn"
# Which convolutions are normalised.
NORMALIZED = (1, 2, 3, 4)
# How much of its moving statistics a layer keeps at each step. Keras' 0.99 is too slow for a
# hospital that takes a few dozen steps a round: conv1's moving variance kept the trace of its
# starting 1 for hundreds of steps against a true 0.002, and the model evaluated with it answered
# one class for every image (docs/strategies.md, "Normalisation that federates").
MOMENTUM = 0.9
# Group normalisation's groups per layer (each of the CNN's layers has 32 to 128 channels).
GROUPS = 8


def convolution(x, filters: int, number: int, norm: str):
    """The CNN's convolution ``conv{number}`` with its relu, and between them by ``norm``: nothing
    (none); GroupNormalization ``gn{number}``, per image, so per-example clipping still bounds
    each image (group); BatchNormalization ``bn{number}`` without the convolution's bias, which
    its beta replaces (batch, fedbn)."""
    if norm == "group":
        # Kept with its bias, as measured (docs/privacy.md, "Seeds 0-9 from the plain command").
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"conv{number}")(x)
        x = keras.layers.GroupNormalization(groups=GROUPS, name=f"gn{number}")(x)
        return keras.layers.ReLU(name=f"relu{number}")(x)
    if norm not in ("batch", "fedbn") or number not in NORMALIZED:
        return keras.layers.Conv2D(
            filters, 3, padding="same", activation="relu", name=f"conv{number}"
        )(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{number}")(x)
    x = keras.layers.BatchNormalization(momentum=MOMENTUM, name=f"{NORM_PREFIX}{number}")(x)
    return keras.layers.ReLU(name=f"relu{number}")(x)


def normalization_slots(model: keras.Model) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where the CNN's normalisation layers sit in ``model.get_weights()``: (every entry of theirs,
    their moving statistics only); both empty for a model without them."""
    slots, statistics = [], []
    for i, variable in enumerate(model.weights):
        if re.search(rf"(^|/){NORM_PREFIX}\d+/[^/]+$", variable.path):
            slots.append(i)
            if not variable.trainable:
                statistics.append(i)
    return tuple(slots), tuple(statistics)
