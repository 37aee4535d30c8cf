"""Did a run's global model learn? Three rules on its last round, each with a reason in words
and what to try, so a broken run never ends on a green 'finished'."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedcore.results.decision import global_figures

# Under this global AUROC at the end a run has not learned (0.5 is chance; the default run
# reaches 0.93-0.96 here).
MIN_AUROC = 0.70
# A loss that ends this much above its first round's has diverged.
LOSS_RISE = 1.10


@dataclass(frozen=True)
class Health:
    """A run's verdict: ``learned`` with the reason in one line and, when not, what to try."""

    learned: bool
    reason: str
    advice: str = ""

    @property
    def label(self) -> str:
        return "learned" if self.learned else "did not learn"

    @property
    def line(self) -> str:
        """'did not learn: <reason>. Try: <advice>' or 'learned: <headline>'."""
        text = f"{self.label}: {self.reason}"
        return f"{text}. Try: {self.advice}" if self.advice else text


def assess(snapshot: dict) -> Health | None:
    """The run's health from its first and last rounds' global figures; None before a round."""
    run = snapshot["run"]
    last = run["rounds_done"]
    if not last:
        return None
    chosen, end = global_figures(snapshot, last)
    auroc, loss = end.get("auroc", math.nan), end.get("loss", math.nan)
    problems = []
    if not auroc >= MIN_AUROC:
        problems.append(f"AUROC {auroc:.2f} at round {last} (0.5 is chance)")
    if last >= 2:
        first = global_figures(snapshot, 1)[1].get("loss", math.nan)
        if math.isfinite(first) and not loss <= first * LOSS_RISE:
            problems.append(f"its loss rose from {first:.2f} in round 1 to {loss:.2f}")
    one_class = _one_class(end)
    if one_class:
        problems.append(f"it calls every image {one_class} {chosen.short}")
    if problems:
        return Health(False, "; ".join(problems), advice(run["config"]))
    accuracy = end.get("accuracy", math.nan)
    return Health(True, f"AUROC {auroc:.3f}, accuracy {accuracy:.3f} {chosen.short}")


def _one_class(figures: dict) -> str | None:
    """'PNEUMONIA' or 'NORMAL' when the model calls every test image one class."""
    tp, fp, tn, fn = (figures.get(k) for k in ("tp", "fp", "tn", "fn"))
    if any(v is None or not math.isfinite(v) for v in (tp, fp, tn, fn)):
        return None
    if tn + fn == 0:
        return "PNEUMONIA"
    if tp + fp == 0:
        return "NORMAL"
    return None


def advice(config: dict) -> str:
    """What to try for a run that did not learn, from its settings."""
    dp = config.get("dp", "off")
    if dp == "hospital":
        return (
            "hospital-level privacy adds noise to the average of the hospitals' updates, which "
            "drowns the signal with few hospitals: use patient-level privacy, or many more "
            "hospitals"
        )
    if dp == "patient":
        return (
            "patient-level privacy needs large batches: leave batch size and learning rate at "
            "their privacy defaults, or allow a larger epsilon"
        )
    if config.get("attack", "none") != "none":
        return "a robust strategy (median, trimmed mean, Krum) against the simulated attackers"
    return "the default strategy and learning rate, more rounds, or more images per hospital"
