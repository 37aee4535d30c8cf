"""Colours and labels shared by every page, so a hospital looks the same everywhere.

The palette is Okabe-Ito (distinguishable with the common colour-vision deficiencies)
at mid lightness, so the same hex reads on Streamlit's light and dark backgrounds.
"""

from __future__ import annotations

from fedcore.results.scope import Scope

# hospital_1, hospital_2, ... in this order; more hospitals than colours wrap around.
HOSPITAL_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
# The global model: a neutral grey that stays visible on white and on near-black.
GLOBAL_COLOR = "#8C8C8C"
CLASS_COLORS = {"NORMAL": "#9DB4C0", "PNEUMONIA": "#C8553D"}
# Runs compared on the Runs page take colours that no hospital uses.
RUN_COLORS = (
    "#6A3D9A",
    "#1B9E77",
    "#B15928",
    "#E7298A",
    "#1F78B4",
    "#66A61E",
    "#A6761D",
    "#666666",
)
PASS_COLOR, FAIL_COLOR = "#2E9E5B", "#D1495B"
# A hospital that sent poisoned updates (a simulated attack), wherever it is named.
ATTACKER_COLOR = FAIL_COLOR

STATUS_ICONS = {
    "running": ":material/progress_activity:",
    "finished": ":material/check_circle:",
    "stopped": ":material/pause_circle:",
    "failed": ":material/error:",
}
STATUS_COLORS = {"running": "blue", "finished": "green", "stopped": "orange", "failed": "red"}

# Every page names an aggregation strategy the same way (fedcore.config.run_config STRATEGIES).
STRATEGY_NAMES = {
    "fedavg": "FedAvg",
    "fedprox": "FedProx",
    "fedavgm": "FedAvgM",
    "fedadam": "FedAdam",
    "fedyogi": "FedYogi",
    "scaffold": "SCAFFOLD",
    "median": "Median",
    "trimmed-mean": "Trimmed mean",
    "krum": "Krum",
}

METRIC_LABELS = {
    "accuracy": "Accuracy",
    "auroc": "AUROC",
    "loss": "Loss",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "precision": "Precision",
    "f1": "F1",
    "f1_avg": "F1 (macro)",
}
# Metrics where higher is better; loss is the one exception and is not put on a 0..1 scale.
RATE_METRICS = ("accuracy", "auroc", "sensitivity", "specificity", "precision", "f1", "f1_avg")


def hospital_color(scope: str) -> str:
    """The colour of a scope: 'global' (grey), 'hospital_k' or 'global:hospital_k' (k-th colour).

    Parameters
    ----------
    scope : str
        A metrics scope from the run store, or a hospital folder's name.

    Returns
    -------
    str
        A hex colour.
    """
    name = Scope.parse(scope).hospital or "global"
    if name == "global":
        return GLOBAL_COLOR
    digits = "".join(ch for ch in name if ch.isdigit())
    index = int(digits) - 1 if digits else sum(map(ord, name))
    return HOSPITAL_COLORS[index % len(HOSPITAL_COLORS)]


def scope_label(scope: str) -> str:
    """'global' -> 'Global', 'hospital_2' -> 'Hospital 2', 'global:hospital_1' -> 'Hospital 1
    model'."""
    if scope == "global":
        return "Global"
    return Scope.parse(scope).label
