"""Will the privacy noise drown what the model learns? The noise-to-signal ratio a DP run can
predict from its settings before it trains.

A clipped contribution has norm at most C; the Gaussian noise added beside it has norm about
sigma C sqrt(d) over the d weights. Patient level: a step averages about B clipped examples,
so the ratio is sigma sqrt(d) / B. Hospital level: the mean of K clipped updates gets noise of
std sigma C / K, so the ratio is sigma sqrt(d) / K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedcore.config.run_config import RunConfig
from fedcore.privacy import accounting

# Weights a hospital sends (every array of the model, counted from the built models; a test
# checks them against Keras).
MODEL_WEIGHTS = {"cnn": 133_794, "efficientnetv2s": 20_372_418, "mobilenetv3small": 957_650}
# Measured on the default federation at epsilon 8: a run whose image-weighted ratio was 0.7
# learned (batch 1024: AUROC 0.93); ratios of 7 and more did not (batch 32: AUROC 0.50-0.74;
# hospital level with 3 hospitals: 231). The bar sits between them.
MAX_RATIO = 2.0
# With group normalisation (the privacy default since 2026-12-02), seed 42: 2.2 learned (epsilon 2,
# AUROC 0.87); 4.0 did not by the run's health (epsilon 1: AUROC 0.81, its loss rising).
MAX_RATIO_GROUP = 3.0
# A hospital holding this share of the images whose rarer class is drowned drags the average
# to one class (seed 3 at epsilon 8: 49 % of the images, 9 NORMAL among them).
LARGE_SHARE = 1 / 3
MAX_RARE_RATIO = 50.0


@dataclass(frozen=True)
class Site:
    """What a prediction needs of one hospital: its training images and its rarer class's."""

    name: str
    images: int
    rare: int


def patient_sigma(config: RunConfig, images: int) -> float:
    """The noise multiplier a hospital of ``images`` training images uses under patient-level
    DP (solved for the target epsilon as fedcore.hospital.dp_training does)."""
    batch = min(config.batch, images)
    if config.dp_target_epsilon is None:
        return config.dp_noise_multiplier
    steps = config.epochs * math.ceil(images / batch) * config.rounds
    return accounting.dp_sgd_noise_for_epsilon(
        config.dp_target_epsilon, batch / images, steps, config.dp_delta
    )


def hospital_sigma(config: RunConfig) -> float:
    """The noise multiplier of hospital-level DP over the run's rounds."""
    if config.dp_target_epsilon is None:
        return config.dp_noise_multiplier
    return accounting.gaussian_noise_for_epsilon(
        config.dp_target_epsilon, config.rounds, config.dp_delta
    )


def warnings(config: RunConfig, sites: list[Site]) -> list[str]:
    """Plain sentences saying why a DP run cannot learn, and what would let it; [] when the
    predicted noise stays under the bar (or without DP)."""
    if config.dp == "off" or not sites:
        return []
    root_d = math.sqrt(MODEL_WEIGHTS.get(config.backbone, MODEL_WEIGHTS["cnn"]))
    if config.dp == "hospital":
        per_round = max(1, round(config.fraction * len(sites)))
        sigma = hospital_sigma(config)
        ratio = sigma * root_d / per_round
        if ratio <= MAX_RATIO:
            return []
        needed = math.ceil(sigma * root_d / MAX_RATIO / max(config.fraction, 1e-9))
        return [
            f"hospital-level privacy cannot learn here: the noise on the average of "
            f"{per_round} hospitals' updates is about {ratio:.0f} times their size; it needs "
            f"about {needed:,} hospitals, or patient-level privacy"
        ]
    total = sum(s.images for s in sites)
    sigmas = {s.name: patient_sigma(config, s.images) for s in sites}
    ratios = {s.name: sigmas[s.name] * root_d / min(config.batch, s.images) for s in sites}
    # FedAvg weighs each hospital by its images, and so does the noise it brings.
    weighted = sum(s.images * ratios[s.name] for s in sites) / total
    out = []
    bar = MAX_RATIO_GROUP if config.norm == "group" else MAX_RATIO
    if weighted > bar:
        advice = "leave the batch size at its privacy default, or " if config.batch_size else ""
        out.append(
            f"patient-level privacy is not expected to learn here: the noise on each step is "
            f"about {weighted:.1f} times the signal of a batch of {config.batch} images, and "
            f"runs measured to learn stayed under {bar:g}; {advice}allow a larger epsilon"
        )
    for site in sites if not out else []:
        batch = min(config.batch, site.images)
        rare_ratio = sigmas[site.name] * root_d / max(site.rare * batch / site.images, 1e-9)
        if site.images >= LARGE_SHARE * total and rare_ratio > MAX_RARE_RATIO:
            out.append(
                f"{site.name} holds {site.images / total:.0%} of the images but only "
                f"{site.rare} of its rarer class: under the privacy noise it learns that class "
                "from almost nothing and may pull the shared model towards calling every image "
                "the other one; a larger epsilon, or another split of the data, would help"
            )
    return out


def sites_of(summary: dict) -> list[Site]:
    """Sites from a federation's class counts (``Federation.summary()``)."""
    out = []
    for name, counts in summary["hospitals"].items():
        train = counts["train"]
        out.append(Site(name, sum(train.values()), min(train.values())))
    return out
