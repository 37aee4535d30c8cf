"""Privacy accounting: the (epsilon, delta) a mechanism has spent, by Google's dp-accounting.

Pure functions of the mechanism's parameters. Two mechanisms are accounted:

- patient-level DP-SGD at a hospital: ``steps`` Poisson-sampled Gaussian steps
  (sampling rate q = batch size / training images, noise multiplier sigma), with the
  Renyi-DP accountant (the one TF Privacy and Opacus report; a valid upper bound);
- hospital-level noise on the aggregate: one Gaussian mechanism per round, composed
  over the rounds.

The neighbouring relation is add-or-remove-one: one patient's images (DP-SGD) or one
hospital's whole update (hospital level) present or absent.
"""

from __future__ import annotations

import math

import dp_accounting
from dp_accounting.rdp import RdpAccountant

from fedcore.quiet import quiet_logger

DEFAULT_DELTA = 1e-5

# Below, quiet_logger("absl") silences the RDP accountant's warning, on every call, about
# fractional orders under 2: it already drops those orders, so the user cannot act on it.


def dp_sgd_event(
    noise_multiplier: float, sampling_rate: float, steps: int
) -> dp_accounting.DpEvent:
    """The DpEvent of ``steps`` DP-SGD steps: Poisson sampling at rate q, then a Gaussian sum.

    Parameters
    ----------
    noise_multiplier : float
        sigma: noise standard deviation over the clipping norm.
    sampling_rate : float
        q, the probability that an example is in a batch (expected batch / examples).
    steps : int
        Steps taken so far, over every round.
    """
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(
            sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier)
        ),
        steps,
    )


def dp_sgd_epsilon(
    noise_multiplier: float, sampling_rate: float, steps: int, delta: float = DEFAULT_DELTA
) -> float:
    """Epsilon of DP-SGD after ``steps`` steps, at ``delta``, by the RDP accountant.

    Parameters
    ----------
    noise_multiplier : float
        sigma (> 0).
    sampling_rate : float
        q in (0, 1].
    steps : int
        Total steps; 0 steps spend nothing.
    delta : float, default 1e-5
        Keep it well below 1 / (training images), the chance of leaking one whole record.

    Returns
    -------
    float
        Epsilon; ``inf`` when sigma is 0.
    """
    if steps <= 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    accountant = RdpAccountant()
    with quiet_logger("absl"):
        accountant.compose(dp_sgd_event(noise_multiplier, sampling_rate, steps))
        return float(accountant.get_epsilon(delta))


def dp_sgd_noise_for_epsilon(
    target_epsilon: float, sampling_rate: float, steps: int, delta: float = DEFAULT_DELTA
) -> float:
    """The smallest noise multiplier whose DP-SGD epsilon after ``steps`` is within the target.

    Solved by dp-accounting's calibrate_dp_mechanism with the same RDP accountant as
    :func:`dp_sgd_epsilon`, so the two agree: the returned sigma never overshoots the target.
    """
    with quiet_logger("absl"):
        return float(
            dp_accounting.calibrate_dp_mechanism(
                RdpAccountant,
                lambda sigma: dp_sgd_event(sigma, sampling_rate, steps),
                target_epsilon,
                delta,
                dp_accounting.LowerEndpointAndGuess(0.1, 1.0),
                tol=1e-4,
            )
        )


def gaussian_rounds_event(noise_multiplier: float, rounds: int) -> dp_accounting.DpEvent:
    """The DpEvent of one Gaussian mechanism per round (sensitivity 1, std ``noise_multiplier``)."""
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.GaussianDpEvent(noise_multiplier), rounds
    )


def gaussian_rounds_epsilon(
    noise_multiplier: float, rounds: int, delta: float = DEFAULT_DELTA
) -> float:
    """Epsilon of ``rounds`` Gaussian mechanisms of noise multiplier sigma, at ``delta``.

    Exact: the composition of T Gaussian mechanisms of multiplier sigma is itself a
    Gaussian mechanism of multiplier sigma / sqrt(T) (their privacy-loss distributions
    compose as one), whose epsilon dp-accounting gives analytically (Balle & Wang,
    2018). This equals the PLD accountant's answer for :func:`gaussian_rounds_event`
    without its cost, which grows with the rounds (seconds for 100 rounds).
    """
    if rounds <= 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    return float(dp_accounting.get_epsilon_gaussian(noise_multiplier / math.sqrt(rounds), delta))


def gaussian_noise_for_epsilon(
    target_epsilon: float, rounds: int, delta: float = DEFAULT_DELTA
) -> float:
    """The noise multiplier whose ``rounds``-fold Gaussian composition spends the target exactly."""
    return float(dp_accounting.get_sigma_gaussian(target_epsilon, delta) * math.sqrt(rounds))
