"""Time per round, estimated for the Train form before a run starts.

Measured from this machine's own past rounds when the store has a run of the same
model and image size; otherwise from figures measured on a 2-core CPU (the CI and
demo machine), scaled by pixel count.
"""

from __future__ import annotations

import json

import streamlit as st

from fedcore.config.run_config import DEFAULT_IMAGE_SIZE, EMBEDDED, RunConfig
from fedcore.errors import FedXrayError
from fedcore.server.fit_facts import hospitals_only

# What a run does before its first round, in the heartbeat's words (fedcore.server.recorder).
STARTING = {
    "loading data": "loading the data",
    "building model": "building the model",
    "preparing the model": "preparing the model's training and evaluation steps",
    "waiting for hospitals": "waiting for the hospitals' SuperNodes to connect",
}

# Milliseconds per image on 2 CPU cores at the backbone's default size: (training one
# epoch, evaluating). Measured with `python -m fedcore train` on the embedded data;
# EfficientNetV2S at 100 px: 25 images/s training and 40 images/s evaluating after its first
# fit (issue 13), about 220 s a round for all 4,708 training images (the old 250 ms was 5x off).
MEASURED_MS = {"cnn": (0.7, 0.4), "mobilenetv3small": (45.0, 2.0), "efficientnetv2s": (40.0, 25.0)}


def per_image_ms(snapshot: dict) -> tuple[float, float] | None:
    """(training ms per image-epoch, evaluation ms per image) measured in a run's rounds.

    Parameters
    ----------
    snapshot : dict
        A run store snapshot with at least one round and a data summary.

    Returns
    -------
    tuple of float, or None when the run has no usable round.
    """
    rounds = snapshot["rounds"]
    summary = snapshot["run"].get("data_summary")
    if not rounds or not summary:
        return None
    # The first round also traces the model's graph: leave it out when there are others.
    steady = rounds[1:] or rounds
    epochs = RunConfig.from_dict(snapshot["run"]["config"]).epochs
    fit_s = examples = eval_s = 0.0
    for r in steady:
        fits = list(hospitals_only(r["fit"]).values())
        round_fit = sum(f["fit_seconds"] for f in fits)
        fit_s += round_fit
        examples += sum(f["num_examples"] for f in fits) * epochs
        eval_s += max(r["seconds"] - round_fit, 0.0)
    evaluated = _eval_images(summary) * len(steady)
    if not examples or not evaluated:
        return None
    return 1000 * fit_s / examples, 1000 * eval_s / evaluated


def round_seconds(
    backbone: str,
    image_size: int | None,
    train_images: int,
    eval_images: int,
    local_epochs: int = 1,
    measured: tuple[float, float] | None = None,
    dp: str = "off",
) -> float:
    """Estimated wall time of one federated round.

    Parameters
    ----------
    backbone : str
    image_size : int or None
        None takes the backbone's default size.
    train_images : int
        Training images over all hospitals (after any per-hospital cap).
    eval_images : int
        Test images evaluated each round (global test set plus each hospital's).
    local_epochs : int
    measured : tuple of float, optional
        :func:`per_image_ms` of a past run with the same backbone, size and privacy.
    dp : str
        The run's privacy mode: patient-level DP-SGD trains :data:`DP_TRAIN_FACTOR` times slower
        (reference timings only; a measured run already includes it).

    Returns
    -------
    float
        Seconds.
    """
    if measured is None:
        fit_ms, eval_ms = MEASURED_MS[backbone]
        default = DEFAULT_IMAGE_SIZE[backbone]
        scale = ((image_size or default) / default) ** 2
        fit_ms, eval_ms = fit_ms * scale, eval_ms * scale
        if dp == "patient":
            fit_ms *= DP_TRAIN_FACTOR
    else:
        fit_ms, eval_ms = measured
    return (train_images * local_epochs * fit_ms + eval_images * eval_ms) / 1000


# Patient-level DP-SGD (per-example gradients, batch 1024) against plain training, and the
# seconds its first round spends tracing the step: seed 42 at epsilon 8 on 2 cores took 6-7 s a
# round from round 4 (plain: about 3 s) and 25 s for round 1.
DP_TRAIN_FACTOR = 2.2
DP_FIRST_ROUND_SECONDS = 20.0


def images(federation: dict, cap: int | None, hospitals: int) -> tuple[int, int]:
    """(training images, images evaluated each round) of a federation's summary.

    Parameters
    ----------
    federation : dict
        A federation's summary (``Federation.summary()``): per-hospital and global-test class
        counts.
    cap : int or None
        The per-hospital training cap; the training count is at most ``cap * hospitals``.
    hospitals : int
        Hospitals the run trains.
    """
    train = sum(sum(h["train"].values()) for h in federation["hospitals"].values())
    if cap:
        train = min(train, cap * hospitals)
    return train, _eval_images(federation)


def comparable_run(runs: list[dict], config: RunConfig) -> dict | None:
    """The newest run with a completed round of the same model at the same input size, privacy
    mode and normalisation, or None."""
    return next((r for r in runs if r["rounds_done"] and _comparable(r["config"], config)), None)


def _comparable(stored: dict, config: RunConfig) -> bool:
    other = RunConfig.from_dict(stored)
    return (
        other.backbone == config.backbone
        and other.input_size == config.input_size
        and (other.dp == "patient") == (config.dp == "patient")
        and other.norm == config.norm
    )


def _eval_images(summary: dict) -> int:
    hospitals = sum(sum(h["test"].values()) for h in summary["hospitals"].values())
    return hospitals + sum(summary.get("global_test", {}).values())


def progress(heartbeat: dict | None, since_start: float = 0.0) -> tuple[float, str]:
    """(fraction done, words) of a running run's heartbeat (``run['progress']`` in the store).

    Parameters
    ----------
    heartbeat : dict or None
        round, rounds, step, hospital, hospital_index, hospitals, round_elapsed,
        mean_round_seconds; None while the child process has written nothing yet.
        Round 0 is the start (step 'loading data', 'building model' or 'waiting for
        hospitals', or any other words); then each round's steps are 'training'
        (hospital None when the hospitals train at once, on Flower) and 'evaluating'.
    since_start : float
        Seconds since the run (or its resume) was launched: shown while there is no
        heartbeat, so a watcher sees the start is alive (the child imports TensorFlow).

    Returns
    -------
    tuple of (float, str)
        The fraction of all rounds done (0..1) and one line for the progress bar. The
        time left appears once a round has been measured (``mean_round_seconds``),
        never from the reference table, which can be off by a factor of 3.
    """
    p = heartbeat
    if not p:
        return (
            0.0,
            f"Starting the training process (Python, TensorFlow, the data)… {since_start:.0f} s",
        )
    step = str(p.get("step") or "working")
    if p.get("round", 0) < 1:
        return 0.0, f"Getting ready: {STARTING.get(step, step)}…"
    index, hospitals = p.get("hospital_index") or 0, max(p.get("hospitals") or 1, 1)
    # Each round is the hospitals' local training steps plus one evaluation step.
    within = {"training": index, "evaluating": hospitals}.get(step, 0) / (hospitals + 1)
    fraction = min(max((p["round"] - 1 + within) / p["rounds"], 0.0), 1.0)
    if step == "training" and p.get("hospital"):
        words = f"training at {p['hospital'].replace('_', ' ')} ({index + 1}/{hospitals})"
    elif step == "training":
        words = f"training at {hospitals} hospitals"
    elif step == "evaluating":
        words = "evaluating the new global model"
    else:
        words = step
    if p.get("mean_round_seconds"):
        remaining = p["mean_round_seconds"] * (p["rounds"] - p["round"] + 1) - (
            p.get("round_elapsed") or 0.0
        )
        left = f" · about {format_seconds(max(remaining, 0.0))} left"
    else:
        left = " · time left known when this round completes"
    return fraction, f"Round {p['round']} of {p['rounds']} · {words}{left}"


def format_seconds(seconds: float) -> str:
    """'0.8 s', '42 s', '3 min 5 s', '1 h 12 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@st.cache_data(show_spinner=False, max_entries=32)
def _noise_warnings(config_json: str) -> list[str]:
    from fedcore.data import load_federation
    from fedcore.privacy import signal

    config = RunConfig.from_dict(json.loads(config_json))
    try:
        summary = load_federation(config).summary()
    except FedXrayError:
        return []  # the form says what is wrong with the data when Start is pressed
    return signal.warnings(config, signal.sites_of(summary))


def privacy_warnings(config: RunConfig) -> list[str]:
    """Why a DP run set up like ``config`` cannot learn (fedcore.privacy.signal), before it
    starts; computed on the run's own split of the embedded data (a folder is checked when the
    run loads it)."""
    if config.dp == "off" or config.mode != "federated" or config.data != EMBEDDED:
        return []
    return _noise_warnings(json.dumps(config.to_dict(), sort_keys=True))
