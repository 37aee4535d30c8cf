"""The Privacy page's helpers: a DP run's no-DP twin, and the membership audit run as a child
process.

The audit loads TensorFlow and scores every training image, so it never runs in the
Streamlit process: ``python -m fedcore audit RUN`` runs as a child, writes its result to
the run store (a ``privacy_audit`` event), and the page polls the store.
"""

from __future__ import annotations

import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import data
from fedcore.config.run_config import RunConfig
from fedcore.privacy.tables import AUDIT_EVENT, audit_frame, bytes_frame, dp_label, final_epsilon
from fedcore.results import decision
from fedcore.run import child_process
from fedcore.server.fit_facts import hospitals_only
from fedcore.store import RunStore

# The DP settings a twin resets to the defaults; every other setting is kept.
DP_FIELDS = ("dp", "dp_noise_multiplier", "dp_clip_norm", "dp_delta", "dp_target_epsilon")
# What an audit of the default federation took on two busy cores: TensorFlow's import,
# rebuilding the hospitals, and scoring every training and validation image.
AUDIT_SECONDS = 25.0


def twin_config(config: dict) -> dict:
    """The same run without differential privacy: the DP settings back to their defaults.

    Under patient-level DP an unset learning rate means SGD's step size (0.5), and a set
    one was chosen for SGD; the twin trains with the default optimizer, so it takes the
    default learning rate too. So with the batch size: DP-SGD wants large Poisson batches
    (1024), which leave Adam 3 steps a round; the twin of seed 42's DP run at batch 1024
    reached AUROC 0.901, below the DP run's 0.933, and made privacy look free.
    """
    defaults = RunConfig().to_dict()
    twin = {**config, **{k: defaults[k] for k in DP_FIELDS}}
    if config.get("dp") == "patient":
        twin.update(learning_rate=defaults["learning_rate"], batch_size=defaults["batch_size"])
    return twin


def dp_twin_config(config: dict, epsilon: float = 8.0) -> dict:
    """The same run with patient-level DP at ``epsilon``, batch size and learning rate left to
    the privacy defaults (the twin of :func:`twin_config`)."""
    return {
        **config,
        "dp": "patient",
        "dp_target_epsilon": epsilon,
        "batch_size": None,
        "learning_rate": None,
        "backbone": "cnn",
    }


def audit_verdict(auroc: float) -> str:
    """One sentence on what the worst hospital's attack AUROC means for a patient."""
    if auroc <= 0.55:
        return (
            f"**Attack AUROC {auroc:.2f}: barely better than a coin toss.** Someone holding this "
            "model can hardly tell whether a patient's X-ray was used to train it."
        )
    if auroc <= 0.65:
        return (
            f"**Attack AUROC {auroc:.2f}: a weak signal.** Someone holding this model guesses a "
            "patient's membership a little better than chance; differential privacy bounds it."
        )
    return (
        f"**Attack AUROC {auroc:.2f}: membership shows.** Someone holding this model can often "
        "tell that a patient's X-ray was in the training set: train with differential privacy."
    )


def find_twin(run: dict, runs: list[dict]) -> dict | None:
    """The newest other run whose config is ``run``'s twin (DP run -> its no-DP twin, and back)."""
    mine = twin_config(run["config"])
    for other in runs:
        if (
            other["id"] != run["id"]
            and twin_config(other["config"]) == mine
            and (other["config"].get("dp", "off") == "off")
            != (run["config"].get("dp", "off") == "off")
        ):
            return other
    return None


def run_label(run: dict) -> str:
    """'patient-level DP · 20261127-105431-940e'."""
    return f"{dp_label(run['config'])} · {run['id']}"


def side_by_side(runs: list[dict]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """A DP run and its twin compared: one formatted row per run, and each run's global curve.

    Returns
    -------
    (rows, curves)
        rows: run, status, epsilon, the global model's AUROC in the run's model round; its
        decision threshold with accuracy, sensitivity and specificity there, and accuracy at
        the fixed threshold beside them; the highest attack AUROC of its latest audit. All
        as text ('–' or 'not audited' where nothing applies); curves: label -> global rows by
        round. Runs without a completed round are left out.
    """
    rows, curves = [], {}
    for run in runs:
        frame = data.frame(run)
        glob = frame[frame["scope"] == "global"].sort_values("round")
        if glob.empty:
            continue
        label = run_label(run)
        curves[label] = glob
        snapshot = data.snapshot(run)
        shown = decision.model_round(run)
        chosen, figures = decision.global_figures(snapshot, shown)
        at_fixed = decision.global_figures(snapshot, shown, fixed=True)[1]
        audit, eps = latest_audit(snapshot), final_epsilon(snapshot)
        rows.append(
            {
                "run": label,
                "status": f"{data.shown_status(run)[0]}, round {shown} of {run['rounds_total']}",
                "epsilon": "–" if math.isnan(eps) else f"{eps:.2f}",
                "global AUROC": f"{figures['auroc']:.3f}",
                "threshold": f"{chosen.threshold:.3f}"
                + (" (operating point)" if chosen.operating_point else " (fixed)"),
                **{k: f"{figures[k]:.3f}" for k in ("accuracy", "sensitivity", "specificity")},
                f"accuracy at {chosen.fixed:g}": f"{at_fixed['accuracy']:.3f}",
                "highest attack AUROC": "not audited"
                if audit.empty
                else f"{audit['auroc'].max():.3f}",
            }
        )
    return pd.DataFrame(rows), curves


def noise_table(settings: dict, names: dict[str, str]) -> pd.DataFrame:
    """Each hospital's noise multiplier, sampling rate and steps per round (patient-level DP), by
    display name.

    Parameters
    ----------
    settings : dict
        :func:`fedcore.privacy.tables.settings` of the run.
    """
    table = pd.DataFrame(settings["hospitals"]).T.rename(
        columns={
            "noise_multiplier": "noise multiplier (sigma)",
            "sampling_rate": "sampling rate q",
            "steps_per_round": "steps per round",
        }
    )
    table.index = [names.get(h, h) for h in table.index]
    return table


def sent_per_round(snapshot: dict, names: dict[str, str]) -> pd.DataFrame:
    """What left each hospital each round: one row per round, 'MB (arrays, images)' per hospital.

    Parameters
    ----------
    snapshot : dict
        The run store's snapshot of the run.
    names : dict of str to str
        Display name of each hospital.
    """
    sent = bytes_frame(snapshot)
    if sent.empty:
        return pd.DataFrame()
    examples = {
        (r["round"], name): facts.get("num_examples")
        for r in snapshot["rounds"]
        for name, facts in hospitals_only(r["fit"] or {}).items()
    }
    sent["cell"] = [
        f"{b / 1e6:.2f} MB · {a} weight arrays · count {examples.get((rnd, h)) or '–'}"
        if b is not None
        else "nothing (missed the round)"
        for rnd, h, b, a in zip(sent["round"], sent["hospital"], sent["bytes_sent"], sent["arrays"])
    ]
    table = sent.pivot(index="round", columns="hospital", values="cell").fillna(
        "nothing (missed the round)"
    )
    table.columns = [names.get(c, c) for c in table.columns]
    return table.reset_index()


@dataclass
class AuditJob:
    """One audit child process and what the store held when it started."""

    child: subprocess.Popen
    started: float
    audits_before: int
    log: Path


@st.cache_resource
def _jobs() -> dict:
    # (home, run_id) -> AuditJob, shared by every session: one audit of a run at a time.
    return {}


def audits_done(store: RunStore, run_id: str) -> int:
    """How many audits the run store holds for the run."""
    return sum(1 for e in store.snapshot(run_id)["events"] if e["kind"] == AUDIT_EVENT)


def start_audit(store: RunStore, run_id: str, checkpoint: str = "last") -> AuditJob:
    """Start ``python -m fedcore audit RUN`` as a child process (once per run at a time)."""
    key = (str(store.home), run_id)
    job = _jobs().get(key)
    if job is not None and job.child.poll() is None:
        return job
    log = store.home / "logs" / f"audit-{run_id}.log"
    child = child_process.spawn_cli(store, ["audit", run_id, "--checkpoint", checkpoint], log)
    job = AuditJob(child, time.time(), audits_done(store, run_id), log)
    _jobs()[key] = job
    return job


def audit_job(store: RunStore, run_id: str) -> AuditJob | None:
    """The audit child of this run started from the dashboard, if any (running or just ended)."""
    return _jobs().get((str(store.home), run_id))


def forget_audit(store: RunStore, run_id: str) -> None:
    """Drop an ended audit child from the registry (after its result or error was shown)."""
    _jobs().pop((str(store.home), run_id), None)


def audit_error(job: AuditJob) -> str:
    """The last 'error:' line of an audit child that failed, or its exit status."""
    return (
        child_process.last_error(job.log)
        or f"the audit process ended with status {job.child.returncode}"
    )


def latest_audit(snapshot: dict) -> pd.DataFrame:
    """The run's latest audit, one row per hospital (empty when none)."""
    audits = audit_frame(snapshot)
    return audits[audits["audit"] == audits["audit"].max()] if not audits.empty else audits
