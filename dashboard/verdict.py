"""The fairness verdict the Fairness page shows: fedcore.results.fairness_verdict, the one rule
the page and the HTML run report share."""

from fedcore.results.fairness_verdict import (
    MAX_ACCURACY_SPREAD,
    MAX_FNR_GAP,
    WORST_BELOW_GLOBAL,
    Check,
    fairness_checks,
    overall,
)

__all__ = [
    "MAX_ACCURACY_SPREAD",
    "MAX_FNR_GAP",
    "WORST_BELOW_GLOBAL",
    "Check",
    "fairness_checks",
    "overall",
]
