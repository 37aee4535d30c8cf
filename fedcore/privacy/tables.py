"""The privacy figures of runs as tables: what the dashboard's Privacy page and reports show.

Pure reshaping of what the engine wrote to the run store (per-hospital epsilon and
payload in each round's fit facts, ``privacy`` and ``privacy_audit`` events); nothing
is recomputed here.
"""

from __future__ import annotations

import math

import pandas as pd

from fedcore.server.fit_facts import hospitals_only

# fedcore.privacy.audit.EVENT, written out: importing that module would load
# TensorFlow into the dashboard.
AUDIT_EVENT = "privacy_audit"

DP_LABELS = {"off": "no DP", "patient": "patient-level DP", "hospital": "hospital-level DP"}


def dp_label(config: dict) -> str:
    """'no DP', 'patient-level DP' or 'hospital-level DP' for a run's config (older runs: no DP)."""
    return DP_LABELS.get(config.get("dp", "off"), str(config.get("dp")))


def _hospital_facts(snapshot: dict):
    for r in snapshot["rounds"]:
        for name, facts in hospitals_only(r["fit"] or {}).items():
            yield r["round"], name, facts


def epsilon_frame(snapshot: dict) -> pd.DataFrame:
    """Cumulative epsilon per round per hospital.

    Returns
    -------
    pd.DataFrame
        Columns round, hospital, epsilon, delta, noise_multiplier; empty for a run without DP.
    """
    rows = [
        {
            "round": rnd,
            "hospital": name,
            "epsilon": facts["epsilon"],
            "delta": facts.get("delta"),
            "noise_multiplier": facts.get("noise_multiplier"),
        }
        for rnd, name, facts in _hospital_facts(snapshot)
        if facts.get("epsilon") is not None
    ]
    return pd.DataFrame(rows, columns=["round", "hospital", "epsilon", "delta", "noise_multiplier"])


def bytes_frame(snapshot: dict) -> pd.DataFrame:
    """Bytes and arrays each hospital sent each round (round, hospital, bytes_sent, arrays)."""
    rows = [
        {
            "round": rnd,
            "hospital": name,
            "bytes_sent": facts.get("bytes_sent"),
            "arrays": facts.get("arrays"),
        }
        for rnd, name, facts in _hospital_facts(snapshot)
    ]
    return pd.DataFrame(rows, columns=["round", "hospital", "bytes_sent", "arrays"])


def payload_frame(snapshot: dict) -> pd.DataFrame:
    """The arrays of one hospital's latest message: index, shape, dtype (empty when unknown)."""
    manifest = next(
        (
            r["fit"]["_round"]["payload"]
            for r in reversed(snapshot["rounds"])
            if (r["fit"] or {}).get("_round", {}).get("payload")
        ),
        None,
    )
    if not manifest:
        return pd.DataFrame(columns=["array", "shape", "dtype"])
    return pd.DataFrame(
        {
            "array": range(len(manifest["shapes"])),
            "shape": [" x ".join(map(str, s)) or "scalar" for s in manifest["shapes"]],
            "dtype": manifest["dtypes"],
        }
    )


def settings(snapshot: dict) -> dict:
    """The run's DP mode and parameters; for patient-level DP, each hospital's sigma and q too."""
    config = snapshot["run"]["config"]
    out = {
        "mode": dp_label(config),
        "noise_multiplier": config.get("dp_noise_multiplier"),
        "clip_norm": config.get("dp_clip_norm"),
        "delta": config.get("dp_delta"),
        "target_epsilon": config.get("dp_target_epsilon"),
        "audit_every": config.get("audit_every", 0),
        "hospitals": {},
    }
    for event in snapshot["events"]:
        if event["kind"] == "privacy" and event["data"] and "hospitals" in event["data"]:
            out["hospitals"] = event["data"]["hospitals"]
    return out


def audit_frame(snapshot: dict) -> pd.DataFrame:
    """Every membership audit of the run, one row per hospital.

    Returns
    -------
    pd.DataFrame
        Columns audit (0, 1, ... in the order they ran), round, checkpoint, hospital,
        auroc, advantage, members, non_members.
    """
    columns = [
        "audit",
        "round",
        "checkpoint",
        "hospital",
        "auroc",
        "advantage",
        "members",
        "non_members",
    ]
    rows = []
    audits = [e for e in snapshot["events"] if e["kind"] == AUDIT_EVENT and e["data"]]
    for number, event in enumerate(audits):
        for name, r in event["data"]["hospitals"].items():
            rows.append(
                {
                    "audit": number,
                    "round": event["data"]["round"],
                    "checkpoint": event["data"]["checkpoint"],
                    "hospital": name,
                    **{k: _num(r.get(k)) for k in columns[4:]},
                }
            )
    return pd.DataFrame(rows, columns=columns)


def final_epsilon(snapshot: dict) -> float:
    """The largest hospital epsilon after the run's last round (NaN without DP)."""
    frame = epsilon_frame(snapshot)
    if frame.empty:
        return math.nan
    return float(frame[frame["round"] == frame["round"].max()]["epsilon"].max())


def _num(value) -> float:
    return math.nan if value is None else value
