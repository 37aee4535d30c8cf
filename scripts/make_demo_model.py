"""Make the checkpoint the Diagnose page uses before anyone has trained: the default federation's
best round.

Runs exactly what a user runs, ``python -m fedcore train`` with the default config, in a
throw-away run store, then writes the best checkpoint's global weights to
assets/model/default_cnn.npz and what made them (command, config, round, the global
test metrics at 0.5 and at the federated operating point, date, git commit, the embedded
data's sha256) to assets/model/default_cnn.json.

Usage: python scripts/make_demo_model.py     (about a minute on two CPU cores)
"""

from __future__ import annotations

import datetime
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fedcore.data import EMBEDDED_NPZ  # noqa: E402
from fedcore.diagnosis.score import SHIPPED_MODEL  # noqa: E402
from fedcore.results.metrics import METRIC_NAMES  # noqa: E402
from fedcore.store import RunStore  # noqa: E402

COMMAND = ["python", "-m", "fedcore", "train"]


def main() -> None:
    # The code that trains is the code at the start: read the commit before training.
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = bool(
        subprocess.run(
            ["git", "status", "--porcelain", "--", "fedcore", "assets/pneumoniamnist"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    with tempfile.TemporaryDirectory() as home:
        subprocess.run(
            [sys.executable, "-m", "fedcore", "--home", home, "train"], cwd=ROOT, check=True
        )
        store = RunStore(home)
        run = store.list_runs()[0]
        server_round, models = store.load_checkpoint(run["id"], "best")
        snapshot = store.snapshot(run["id"])
    # The figures at 0.5 and at the federated operating point (op_*), which Diagnose calls with.
    metrics = {
        m["scope"]: {k: m[k] for k in m if k in METRIC_NAMES or k.startswith("op_")}
        for m in snapshot["metrics"]
        if m["round"] == server_round
    }
    provenance = {
        "command": " ".join(COMMAND),
        "made_by": "python scripts/make_demo_model.py",
        "run_id": run["id"],
        "seed": run["config"]["seed"],
        "config": run["config"],
        "checkpoint": "best",
        "round": server_round,
        "rounds_total": run["rounds_total"],
        "global_test": metrics["global"],
        "hospital_test": {scope: m for scope, m in metrics.items() if scope != "global"},
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "data_sha256": hashlib.sha256(EMBEDDED_NPZ.read_bytes()).hexdigest(),
    }
    SHIPPED_MODEL.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(SHIPPED_MODEL, **{f"w{i:02d}": w for i, w in enumerate(models["global"])})
    SHIPPED_MODEL.with_suffix(".json").write_text(
        json.dumps(provenance, indent=1, allow_nan=True) + "\n"
    )
    g = metrics["global"]
    print(
        f"wrote {SHIPPED_MODEL.relative_to(ROOT)}: round {server_round} of {run['rounds_total']}, "
        f"global AUROC {g['auroc']:.4f}, accuracy {g['accuracy']:.4f}"
    )


if __name__ == "__main__":
    main()
