"""Train a federation's privacy curve (``python -m fedcore privacy-curve``, the Privacy page's
button) and read it back from the store as one table.

Points already in the store (finished runs with the same settings but privacy) are reused, so a
curve grows point by point and a second click trains only what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import pandas as pd

from fedcore.config.run_config import RunConfig
from fedcore.privacy.curve import curve_configs, epsilon_of, points
from fedcore.privacy.tables import final_epsilon
from fedcore.results import health
from fedcore.results.decision import global_figures, model_round
from fedcore.run.signals import StopSignal
from fedcore.store import RunStore

COLUMNS = (
    "epsilon",
    "epsilon spent",
    "AUROC",
    "accuracy",
    "threshold",
    "learned",
    "run",
)


def train_curve(
    base: RunConfig,
    epsilons,
    level: str,
    store: RunStore,
    stop: StopSignal | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """Train every point of ``base``'s curve the store lacks, one run after another.

    Returns
    -------
    str
        'finished' when every point is in the store, else how the last run trained ended
        ('stopped' or 'failed'; the points before it are kept).
    """
    # Imported here: the Privacy page reads the table without loading TensorFlow.
    from fedcore.data import load_federation
    from fedcore.run import engine

    stop = stop or StopSignal()
    have = points(store.list_runs(), base, level)
    federation = None
    for config in curve_configs(base, epsilons, level):
        where = _words(epsilon_of(config.to_dict()))
        if epsilon_of(config.to_dict()) in have:
            log(f"{where}: already in the store")
            continue
        if stop():
            return "stopped"
        log(f"{where}: training")
        federation = federation or load_federation(config)
        result = engine.run(config.validate(), store, stop=stop, log=log, federation=federation)
        if result.status != "finished":
            return result.status
    return "finished"


def curve_table(store: RunStore, run_ids: Iterable[str]) -> pd.DataFrame:
    """One row per point (a run of :func:`fedcore.privacy.curve.points`), privacy off last: the
    run's model's AUROC and its accuracy at the run's decision threshold."""
    rows = []
    for run_id in run_ids:
        snap = store.snapshot(run_id)
        chosen, figures = global_figures(snap, model_round(snap["run"]))
        judged = health.assess(snap)
        rows.append(
            {
                "epsilon": epsilon_of(snap["run"]["config"]),
                "epsilon spent": final_epsilon(snap),
                "AUROC": figures.get("auroc", math.nan),
                "accuracy": figures.get("accuracy", math.nan),
                "threshold": chosen.short,
                "learned": None if judged is None else judged.learned,
                "run": run_id,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS)).sort_values("epsilon", ignore_index=True)


def stored_curve(store: RunStore, base: RunConfig, level: str) -> pd.DataFrame:
    """:func:`curve_table` of every point of ``base``'s curve the store holds."""
    return curve_table(store, [r["id"] for r in points(store.list_runs(), base, level).values()])


def format_table(table: pd.DataFrame) -> str:
    """The curve as the CLI prints it."""
    lines = [f"{'epsilon':>10} {'spent':>7} {'AUROC':>7} {'accuracy':>9}  {'threshold':<12}  run"]
    for row in table.to_dict("records"):
        spent = "-" if math.isnan(row["epsilon spent"]) else f"{row['epsilon spent']:.2f}"
        where = _words(row["epsilon"]).removeprefix("epsilon ")
        lines.append(
            f"{where:>10} {spent:>7} {row['AUROC']:>7.3f} {row['accuracy']:>9.3f}  "
            f"{row['threshold']:<12}  {row['run']}"
            + ("  (did not learn)" if row["learned"] is False else "")
        )
    return "\n".join(lines)


def _words(epsilon: float) -> str:
    return "no privacy" if math.isinf(epsilon) else f"epsilon {epsilon:g}"
