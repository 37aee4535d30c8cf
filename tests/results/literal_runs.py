"""Literal run snapshots for the results tests: what the run store holds, written out by hand."""

from __future__ import annotations

AT_POINT = ("accuracy", "sensitivity", "specificity", "precision", "f1", "f1_avg")
COUNTS = ("tp", "fp", "tn", "fn")


def figures(auroc, loss, counts, at_point=None, threshold=0.3) -> dict:
    """One scope's stored figures: rates from ``counts`` (tp, fp, tn, fn) at 0.5, and with
    ``at_point`` (the counts at the operating point) its ``op_`` figures."""
    row = {"auroc": auroc, "loss": loss, **_rates(counts)}
    if at_point is not None:
        row |= {"op_threshold": threshold} | {f"op_{k}": v for k, v in _rates(at_point).items()}
    return row


def _rates(counts) -> dict:
    tp, fp, tn, fn = counts
    n = tp + fp + tn + fn
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    prec = tp / (tp + fp) if tp + fp else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {
        "accuracy": (tp + tn) / n,
        "sensitivity": sens,
        "specificity": spec,
        "precision": prec,
        "f1": f1,
        "f1_avg": f1,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "n": n,
    }


def snapshot(
    rounds: list[dict[str, dict]],
    run_id="run-a",
    mode="federated",
    status="finished",
    best_round=None,
    **config,
) -> dict:
    """A run of ``len(rounds)`` completed rounds; each round maps a stored scope to its figures."""
    metrics = [
        {"round": i + 1, "scope": scope, **values}
        for i, scopes in enumerate(rounds)
        for scope, values in scopes.items()
    ]
    conf = {"threshold": 0.5, "dp": "off", "attack": "none", "strategy": "scaffold"} | config
    return {
        "run": {
            "id": run_id,
            "mode": mode,
            "status": status,
            "rounds_done": len(rounds),
            "rounds_total": len(rounds),
            "best_round": best_round or len(rounds),
            "config": conf,
            "error": None,
        },
        "rounds": [
            {"round": i + 1, "seconds": 1.0, "fairness": {}, "fit": {}} for i in range(len(rounds))
        ],
        "metrics": metrics,
        "events": [],
    }


def learning_round(auroc=0.95, loss=0.3) -> dict[str, dict]:
    """The global model and two hospitals, each with its operating point (threshold 0.3)."""
    return {
        "global": figures(auroc, loss, (300, 40, 194, 90), (360, 30, 204, 30)),
        "hospital_1": figures(auroc, loss, (100, 10, 60, 30), (120, 8, 62, 10)),
        "hospital_2": figures(auroc, loss, (100, 20, 50, 30), (118, 12, 58, 12)),
    }
