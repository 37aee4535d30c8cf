"""The fairness verdict: explicit thresholds, each shown as pass or fail beside its number (the
Fairness page and the HTML report)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedcore.results.scope import Scope

# A federation is called fair here when the global model serves every hospital about
# equally: these are the bars the dashboard states next to the measured values.
# Figures are shown with 3 decimals, and a verdict compares the numbers it shows.
SHOWN_DECIMALS = 3
MAX_FNR_GAP = 0.05
MAX_ACCURACY_SPREAD = 0.05
WORST_BELOW_GLOBAL = 0.03


@dataclass
class Check:
    """One fairness criterion of one round.

    Attributes
    ----------
    name : str
        What is measured, in words.
    value : float
        The measured value (NaN when it cannot be measured).
    rule : str
        The bar, in words with its number (e.g. '<= 0.05').
    passed : bool or None
        None when the value cannot be measured (a hospital without the needed class).
    """

    name: str
    value: float
    rule: str
    passed: bool | None


def fairness_checks(fairness: dict, global_accuracy: float) -> list[Check]:
    """Three pass/fail checks of one round.

    Parameters
    ----------
    fairness : dict
        The round's :func:`fedcore.results.fairness.fairness_summary` (fnr_gap, accuracy_spread,
        worst_accuracy, worst_hospital).
    global_accuracy : float
        The global model's accuracy on the global test set in that round.

    Returns
    -------
    list of Check
        FNR gap, accuracy spread, worst hospital against global.
    """
    floor = _shown(global_accuracy - WORST_BELOW_GLOBAL)
    worst = _shown(fairness["worst_accuracy"])
    return [
        Check(
            "False-negative-rate gap between hospitals",
            _shown(fairness["fnr_gap"]),
            f"<= {MAX_FNR_GAP:.2f}",
            _at_most(_shown(fairness["fnr_gap"]), MAX_FNR_GAP),
        ),
        Check(
            "Accuracy spread between hospitals",
            _shown(fairness["accuracy_spread"]),
            f"<= {MAX_ACCURACY_SPREAD:.2f}",
            _at_most(_shown(fairness["accuracy_spread"]), MAX_ACCURACY_SPREAD),
        ),
        Check(
            f"Worst hospital ({Scope.parse(fairness['worst_hospital']).label}) accuracy",
            worst,
            f">= global - {WORST_BELOW_GLOBAL:.2f} = {floor:.3f}",
            None if _nan(worst) or _nan(floor) else worst >= floor,
        ),
    ]


def overall(checks: list[Check]) -> bool | None:
    """True when every measurable check passes, False when any fails, None when none could be
    measured."""
    measured = [c.passed for c in checks if c.passed is not None]
    if not measured:
        return None
    return all(measured)


def _shown(value: float) -> float:
    """The value as the page prints it, so a bar is judged on the digits a person reads."""
    return value if _nan(value) else round(float(value), SHOWN_DECIMALS)


def _at_most(value: float, limit: float) -> bool | None:
    return None if _nan(value) else value <= limit + 1e-12


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
