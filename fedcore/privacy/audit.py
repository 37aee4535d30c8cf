"""Membership-inference audit: can an attacker tell a hospital's training patients from others?

The loss-threshold attack (Yeom et al., 2018): a model fits the images it was trained
on better than unseen ones, so "loss below a threshold" is guessed "member". Per
hospital, the members are its training images and the non-members its validation
images: the same hospital, scanner and class mix, never trained on. Reported over all
thresholds: the attack's AUROC (0.5: a coin toss; 1: every member found) and its
advantage, max over thresholds of TPR - FPR (0: none).

In a deployment each hospital runs this on its own images; only the two figures
leave it. Differential privacy bounds the advantage of *any* attack by
(e^eps - 1 + 2 delta) / (e^eps + 1) (:func:`advantage_bound`); this attack is one
concrete, weak-to-moderate attacker, so a low figure here is evidence, not proof.
"""

from __future__ import annotations

import math
from typing import Callable

import keras
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from fedcore.config.run_config import RunConfig
from fedcore.data import HospitalData, load_federation, to_model_input
from fedcore.model.networks import BuiltModel, build_model
from fedcore.store import RunStore

EVENT = "privacy_audit"


def example_losses(
    built: BuiltModel,
    weights: list[np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 256,
) -> np.ndarray:
    """Cross-entropy (nats) of each image under ``weights``, in inference mode, from the logits.

    Computed from the pre-softmax logits in float64: a float32 softmax rounds every
    confident answer to exactly 1, and the ties would hide the members the attack
    should find.

    Parameters
    ----------
    images : np.ndarray of uint8, shape (n, s, s)
    labels : np.ndarray of int, shape (n,)
        0 = NORMAL, 1 = PNEUMONIA.
    """
    built.model.set_weights(weights)
    probs = built.head.get_layer("probs")
    penultimate = keras.Model(built.head.inputs, probs.input)
    kernel, bias = (np.asarray(w, np.float64) for w in probs.get_weights())
    x = to_model_input(images)
    logits = (
        np.concatenate(
            [
                np.asarray(
                    penultimate(
                        built.extractor(x[i : i + batch_size], training=False), training=False
                    ),
                    np.float64,
                )
                @ kernel
                + bias
                for i in range(0, len(x), batch_size)
            ]
        )
        if len(x)
        else np.zeros((0, 2))
    )
    labels = np.asarray(labels).astype(int).ravel()
    return np.logaddexp(logits[:, 0], logits[:, 1]) - logits[np.arange(len(labels)), labels]


def attack(member_losses: np.ndarray, nonmember_losses: np.ndarray) -> dict:
    """The loss-threshold attack's success at separating members from non-members.

    Returns
    -------
    dict
        auroc (NaN when either group is empty), advantage (max TPR - FPR),
        members, non_members (counts), member_loss, non_member_loss (means).
    """
    members, others = np.asarray(member_losses, float), np.asarray(nonmember_losses, float)
    out = {
        "members": int(members.size),
        "non_members": int(others.size),
        "member_loss": float(members.mean()) if members.size else math.nan,
        "non_member_loss": float(others.mean()) if others.size else math.nan,
    }
    if not members.size or not others.size:
        return {**out, "auroc": math.nan, "advantage": math.nan}
    truth = np.concatenate([np.ones(members.size), np.zeros(others.size)])
    score = -np.concatenate([members, others])
    fpr, tpr, _ = roc_curve(truth, score)
    return {
        **out,
        "auroc": float(roc_auc_score(truth, score)),
        "advantage": float(np.max(tpr - fpr)),
    }


def advantage_bound(epsilon: float, delta: float) -> float:
    """The most any membership attack can gain under (epsilon, delta)-DP:
    (e^eps - 1 + 2 delta) / (e^eps + 1)."""
    if not math.isfinite(epsilon):
        return 1.0
    return min(1.0, (math.expm1(epsilon) + 2 * delta) / (math.exp(epsilon) + 1))


def audit_hospitals(
    built: BuiltModel, models: dict[str, list[np.ndarray]], hospitals: list[HospitalData]
) -> dict[str, dict]:
    """Attack each hospital's model: its training images are members, its validation ones not.

    Parameters
    ----------
    built : BuiltModel
        A compiled model of the run's architecture; its weights are overwritten.
    models : dict of str to list of np.ndarray
        ``{'global': weights}``, or one model per hospital name (local mode).
    hospitals : list of HospitalData

    Returns
    -------
    dict of hospital name to :func:`attack`'s dict
    """
    results = {}
    for h in hospitals:
        weights = models.get(h.name, models.get("global"))
        results[h.name] = attack(
            example_losses(built, weights, h.train.images, h.train.labels),
            example_losses(built, weights, h.val.images, h.val.labels),
        )
    return results


def record(
    store: RunStore, run_id: str, server_round: int, results: dict[str, dict], checkpoint: str
) -> None:
    """Write one audit to the run's events: kind ``privacy_audit``, data round, checkpoint and
    hospitals."""
    finite = [r["auroc"] for r in results.values() if math.isfinite(r["auroc"])]
    worst = max(finite) if finite else math.nan
    store.event(
        run_id,
        EVENT,
        f"membership audit of round {server_round} ({checkpoint}): "
        f"highest attack AUROC {worst:.3f}",
        server_round,
        data={"round": server_round, "checkpoint": checkpoint, "hospitals": results},
    )


def audit_run(
    store: RunStore, run_id: str, checkpoint: str = "last", log: Callable[[str], None] = print
) -> tuple[int, dict[str, dict]]:
    """Audit a run's saved model against the hospitals' own images, and record it in the store.

    The hospitals' data is rebuilt from the run's config (the partition is seeded),
    so the members are exactly the images each hospital trained on.

    Returns
    -------
    (round, results)
        The checkpoint's round and :func:`audit_hospitals`' results.
    """
    config = RunConfig.from_dict(store.get_run(run_id)["config"])
    # The model first: the checkpoint is checked against its shapes, not only its own record.
    built = build_model(config)
    shapes = [w.shape for w in built.initial_weights]
    server_round, models = store.load_checkpoint(run_id, checkpoint, shapes)
    log(f"auditing run {run_id}, round {server_round} ({checkpoint} checkpoint)")
    results = audit_hospitals(built, models, load_federation(config).hospitals)
    record(store, run_id, server_round, results, checkpoint)
    return server_round, results


def format_results(results: dict[str, dict]) -> str:
    """One line per hospital: attack AUROC, advantage, member and non-member counts and losses."""
    lines = [
        f"{'hospital':<14} {'attack AUROC':>12} {'advantage':>10} {'members':>8} "
        f"{'non-members':>12} {'loss in':>8} {'loss out':>9}"
    ]
    for name, r in results.items():
        lines.append(
            f"{name:<14} {r['auroc']:>12.3f} {r['advantage']:>10.3f} {r['members']:>8} "
            f"{r['non_members']:>12} {r['member_loss']:>8.3f} {r['non_member_loss']:>9.3f}"
        )
    return "\n".join(lines)
