"""A round's calibration, per scope: what the CLI report, the HTML report, Diagnose and the
Fairness page show (fedcore.results.calibration says how each figure is made)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedcore.results.calibration import CALIBRATED_PREFIX, PlattMap, Reliability
from fedcore.results.decision import round_rows
from fedcore.results.scope import Scope


@dataclass(frozen=True)
class ScopeCalibration:
    """One scope's calibration in one round.

    ``ece`` is the model's own (uncalibrated) error; ``ece_calibrated`` the error after the round's
    federated map (NaN without one); the bins are the reliability diagram of each.
    """

    scope: Scope
    ece: float
    ece_calibrated: float
    bins: Reliability
    mapped: Reliability | None


def round_calibration(snapshot: dict, server_round: int) -> list[ScopeCalibration]:
    """Every scope of a round with reliability bins: the global model first, then the
    hospitals; empty for a run recorded before calibration was measured."""
    out = []
    for scope, m in sorted(
        round_rows(snapshot, server_round).items(), key=lambda s: (s[0].hospital or "",)
    ):
        bins = Reliability.from_metrics(m)
        if bins is None:
            continue
        out.append(
            ScopeCalibration(
                scope,
                float(m.get("ece", math.nan)),
                float(m.get("ece_calibrated", math.nan)),
                bins,
                Reliability.from_metrics(m, CALIBRATED_PREFIX),
            )
        )
    return out


def round_map(snapshot: dict, server_round: int) -> PlattMap | None:
    """The calibration map the server fitted in a round (recorded with the global model)."""
    return PlattMap.from_metrics(round_rows(snapshot, server_round).get(Scope("global"), {}))


def calibration_lines(snapshot: dict, server_round: int) -> list[str]:
    """['Calibration (ECE, 15 bins, uncalibrated -> after the federated map), round 10: Global
    model 0.051 -> 0.030, Hospital 1 ...']: the CLI report's line; none without figures."""
    scopes = round_calibration(snapshot, server_round)
    if not scopes:
        return []

    def one(c: ScopeCalibration) -> str:
        if math.isnan(c.ece_calibrated):
            return f"{c.scope.label} {c.ece:.3f}"
        return f"{c.scope.label} {c.ece:.3f} -> {c.ece_calibrated:.3f}"

    mapping = round_map(snapshot, server_round)
    fitted = (
        f"; map a = {mapping.a:.3f}, b = {mapping.b:.3f} from the hospitals' validation counts"
        if mapping
        else "; no calibration map this round"
    )
    return [
        f"Calibration (ECE, 15 bins, uncalibrated -> after the federated map), round "
        f"{server_round}: " + ", ".join(one(c) for c in scopes) + fitted
    ]
