"""A privacy budget that is spent round by round: the last round whose epsilon stays within it.

Pure accounting: each hospital's epsilon after r rounds comes from the same accountant that
reports it (fedcore.privacy.accounting), so the run stops before a round would overspend and
the recorded epsilon never exceeds the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedcore.privacy import accounting


@dataclass(frozen=True)
class Spender:
    """What one DP mechanism spends a round: DP-SGD at a hospital (``sampling_rate`` and
    ``steps_per_round`` set) or one Gaussian release of the aggregate a round (hospital level)."""

    noise_multiplier: float
    delta: float
    sampling_rate: float | None = None
    steps_per_round: int = 1

    def epsilon_after(self, rounds: int) -> float:
        """Epsilon spent after ``rounds`` rounds."""
        if self.sampling_rate is None:
            return accounting.gaussian_rounds_epsilon(self.noise_multiplier, rounds, self.delta)
        return accounting.dp_sgd_epsilon(
            self.noise_multiplier, self.sampling_rate, self.steps_per_round * rounds, self.delta
        )


def last_round(spenders: list[Spender], budget: float | None, rounds: int) -> int:
    """The last round, at most ``rounds``, after which every spender is still within ``budget``
    (``rounds`` without a budget or without DP; 0 when even one round overspends)."""
    if budget is None or not spenders:
        return rounds
    fits = 0
    for server_round in range(1, rounds + 1):
        if max(s.epsilon_after(server_round) for s in spenders) > budget:
            break
        fits = server_round
    return fits
