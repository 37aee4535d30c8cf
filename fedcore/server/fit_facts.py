"""A round's fit facts: what each hospital sent and how its update was used, as stored."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fedcore import payload
from fedcore.payload import FitOutcome


def hospitals_only(fit_info: dict) -> dict:
    """The per-hospital entries of a round's fit facts (without ``_round``, the round's own)."""
    return {name: facts for name, facts in fit_info.items() if not name.startswith("_")}


def round_fit_info(
    outcomes: dict[str, FitOutcome],
    expected: list[str],
    global_weights: Sequence[np.ndarray],
    server_spent: dict | None = None,
) -> dict:
    """What each hospital's training reported in one round, and who took part or not.

    Parameters
    ----------
    outcomes : dict of str to FitOutcome
        The hospitals that returned an update, by name. Under SecAgg+ an outcome holds
        no arrays (the server sees only the sum): its bytes are the model's.
    expected : list of str
        The hospitals asked to train.
    global_weights : list of np.ndarray
        The weights each hospital receives (their size is the download per hospital).
    server_spent : dict, optional
        The privacy the server's mechanism has spent for every hospital
        (fedcore.privacy.mechanism.server_spent), added to each hospital's entry.

    Returns
    -------
    dict
        One entry per hospital (its metrics, num_examples, bytes_sent, arrays) and
        ``_round``: participants, failed, attackers (simulated: fedcore.hospital.attacks),
        bytes_received_each,
        payload (the arrays' count, shapes, bytes).
    """
    model_bytes = int(sum(np.asarray(w).nbytes for w in global_weights))
    fit_info = {
        name: {
            **o.metrics,
            "num_examples": o.num_examples,
            "bytes_sent": o.payload_bytes() if o.weights else model_bytes,
            "arrays": len(o.weights) or len(global_weights),
            **(server_spent or {}),
        }
        for name, o in outcomes.items()
    }
    sent = next((o.weights for o in outcomes.values() if o.weights), list(global_weights))
    fit_info["_round"] = {
        "participants": list(outcomes),
        "failed": [n for n in expected if n not in outcomes],
        "attackers": [n for n, o in outcomes.items() if o.metrics.get("attacker")],
        "bytes_received_each": model_bytes,
        "payload": payload.manifest(sent),
    }
    return fit_info
