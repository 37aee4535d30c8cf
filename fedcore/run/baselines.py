"""Federated against its two references on the same split: centralized and local.

Centralized training is the upper bound that data sharing would give; local training is what
each hospital gets without federating. All are ordinary runs in the store, sharing one loaded
data set and one compiled model.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import pandas as pd

from fedcore.config.run_config import RunConfig
from fedcore.data import load_federation
from fedcore.model.networks import build_model
from fedcore.run import engine
from fedcore.store import RunStore


def compare(
    config: RunConfig,
    store: RunStore,
    log: Callable[[str], None] = print,
    strategies: list[str] | None = None,
) -> pd.DataFrame:
    """Run federated (once per strategy), centralized and local with one config; a row per model.

    Parameters
    ----------
    strategies : list of str, optional
        The strategies to federate with (default ``[config.strategy]``).

    Returns
    -------
    pd.DataFrame
        Index: 'federated' (or 'federated fedavg', 'federated fedprox', … for several
        strategies), 'centralized', 'local hospital_k' and 'local (mean)'.
        Columns: global AUROC, accuracy, sensitivity, specificity, accuracy at the
        federated operating point, then each hospital's accuracy and AUROC on its own
        test set; attrs['runs'] maps row to run id.
    """
    federation = load_federation(config)
    built = build_model(config)
    strategies = strategies or [config.strategy]
    plan = [
        (
            f"federated {s}" if len(strategies) > 1 else "federated",
            dataclasses.replace(config, strategy=s),
        )
        for s in strategies
    ]
    plan += [(mode, dataclasses.replace(config, mode=mode)) for mode in ("centralized", "local")]
    rows, runs = {}, {}
    for label, run_config in plan:
        mode = run_config.mode
        log(f"--- {label}")
        result = engine.run(
            run_config.validate(), store, built=built, federation=federation, log=log
        )
        runs[label] = result.run_id
        snapshot = store.snapshot(result.run_id)
        last = {m["scope"]: m for m in snapshot["metrics"] if m["round"] == result.rounds_done}
        hospitals = [h.name for h in federation.hospitals]
        if mode == "local":
            for h in hospitals:
                rows[f"local {h}"] = _row(last[f"global:{h}"], {h: last[h]}, hospitals)
            local_rows = [rows[f"local {h}"] for h in hospitals]
            rows["local (mean)"] = {
                k: _mean_of_known([r[k] for r in local_rows]) for k in local_rows[0]
            }
        else:
            rows[label] = _row(last["global"], last, hospitals)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs["runs"] = runs
    return table


def _row(global_metrics: dict, per_hospital: dict, hospitals: list[str]) -> dict:
    row = {
        "global AUROC": global_metrics["auroc"],
        "global accuracy": global_metrics["accuracy"],
        "global sensitivity": global_metrics["sensitivity"],
        "global specificity": global_metrics["specificity"],
        "accuracy at operating point": global_metrics.get("op_accuracy", math.nan),
    }
    for h in hospitals:
        own = per_hospital.get(h)
        row[f"{h} accuracy"] = own["accuracy"] if own else math.nan
        row[f"{h} AUROC"] = own["auroc"] if own else math.nan
    return row


def format_comparison(table: pd.DataFrame) -> str:
    """The comparison as text, with the federated-centralized AUROC gap."""
    text = table.to_string(float_format=lambda v: f"{v:.4f}", na_rep="-")
    lines = [text, ""]
    for federated in (row for row in table.index if row.startswith("federated")):
        gap = table.loc["centralized", "global AUROC"] - table.loc[federated, "global AUROC"]
        lines.append(f"centralized - {federated} global AUROC: {gap:+.4f}")
        if "local (mean)" in table.index:
            gain = table.loc[federated, "global AUROC"] - table.loc["local (mean)", "global AUROC"]
            lines.append(f"{federated} - local (mean) global AUROC: {gain:+.4f}")
    lines.append("runs: " + ", ".join(f"{m} {r}" for m, r in table.attrs.get("runs", {}).items()))
    return "\n".join(lines)


def _mean_of_known(values: list[float]) -> float:
    """The mean of the values that are not NaN; NaN, without numpy's warning, when none is."""
    known = [v for v in values if not np.isnan(v)]
    return float(np.mean(known)) if known else float("nan")
