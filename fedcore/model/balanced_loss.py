"""The hospitals' local loss: cross-entropy with each hospital's label shares added to the logits.

Balanced softmax (Ren et al., 2020, "Balanced Meta-Softmax for Long-Tailed Visual
Recognition"), also called logit adjustment (Menon et al., 2021); FedLC (Zhang et al., 2022)
calibrates federated clients the same way. A hospital whose images are 99.9 % PNEUMONIA would
otherwise learn "everything is PNEUMONIA" and drag the global model there. Training
softmax(z + log pi_k), pi_k the hospital's class shares, lets the prior explain the skew, so the
shared logits z learn how the classes look; at inference plain softmax(z) is the equal-prior
posterior.

The model outputs probabilities, so log p = z - logsumexp(z) and adding log pi then
renormalising is exactly softmax(z + log pi). Uniform pi (the default) is plain cross-entropy.
Hospital side only: the server never sees a prior.
"""

from __future__ import annotations

import keras
import numpy as np

# No class share below this: a hospital with no NORMAL image at all would otherwise add log 0.
MIN_SHARE = 1e-4


class BalancedCrossEntropy(keras.losses.Loss):
    """Cross-entropy of softmax(log p + log pi) against one-hot labels; pi is set per hospital.

    ``log_prior`` is a variable read inside the traced train step, so switching
    hospitals (:meth:`set_prior`) costs no retracing.
    """

    def __init__(self, name: str = "balanced_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.log_prior = keras.Variable(
            np.log(np.full(2, 0.5, np.float32)), trainable=False, name="log_prior"
        )

    def set_prior(self, shares: np.ndarray | None) -> None:
        """Use ``shares`` (one per class, summing to 1) as pi; None is uniform."""
        pi = (
            np.full(2, 0.5)
            if shares is None
            else np.clip(np.asarray(shares, np.float64), MIN_SHARE, None)
        )
        self.log_prior.assign(np.log(pi / pi.sum()).astype(np.float32))

    def call(self, y_true, y_pred):
        adjusted = keras.ops.log(keras.ops.clip(y_pred, 1e-7, 1.0)) + self.log_prior
        return -keras.ops.sum(y_true * keras.ops.log_softmax(adjusted, axis=-1), axis=-1)


def label_shares(labels: np.ndarray) -> np.ndarray:
    """(share NORMAL, share PNEUMONIA) of a hospital's training labels."""
    labels = np.asarray(labels).ravel()
    return np.array([(labels == c).mean() if labels.size else 0.5 for c in (0, 1)], np.float64)
