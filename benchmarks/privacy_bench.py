"""Privacy benchmarks: what differential privacy costs in utility and in speed. Printed figures.

    python benchmarks/privacy_bench.py                  # every part (about 50 min on 2 cores)
    python benchmarks/privacy_bench.py --only speed     # about 2 min
    python benchmarks/privacy_bench.py --only utility --epsilon 8
    python benchmarks/privacy_bench.py --only curve     # the price of privacy, about 10 min
    python benchmarks/privacy_bench.py --only seeds     # seeds 0-9 of the plain command, 25 min

(a) utility: the default federation (3 Dirichlet(0.5) hospitals of PneumoniaMNIST,
    10 rounds, seed 42) without DP, with patient-level DP-SGD at a target epsilon per
    hospital (delta 1e-5), and with hospital-level DP at the same epsilon; global AUROC
    and accuracy on the 624 test images at the last round (not the best round: picking
    the best by test AUROC would flatter), each run's largest epsilon, and the
    membership audit of each. The runs are written to the run store (--home), so the
    Privacy page shows them side by side.
(b) speed: images per second of one local epoch at hospital_1 (3369 images), DP-SGD
    against the ordinary Keras fit, repeated alternately and compared by median, so a
    busy machine slows both alike.
(c) curve: the default federation without privacy and with patient-level DP at epsilon 1, 2,
    4 and 8 (the Privacy page's chart, `python -m fedcore privacy-curve`).
(d) seeds: `python -m fedcore train --dp patient --dp-target-epsilon 8 --seed S` for seeds 0-9:
    worst and mean AUROC and mean accuracy at the run's decision threshold, last round.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fedcore.config.run_config import RunConfig  # noqa: E402
from fedcore.data import load_federation  # noqa: E402
from fedcore.hospital.dp_training import DPHospital  # noqa: E402
from fedcore.hospital.training import Hospital  # noqa: E402
from fedcore.model.networks import build_model  # noqa: E402
from fedcore.privacy import (
    audit,  # noqa: E402
    signal,  # noqa: E402
)
from fedcore.privacy import tables as privacy_report  # noqa: E402
from fedcore.privacy.curve import EPSILONS  # noqa: E402
from fedcore.results.decision import global_figures  # noqa: E402
from fedcore.run import engine, privacy_curve  # noqa: E402
from fedcore.store import RunStore  # noqa: E402

# Patient-level DP settings, tuned on the default federation (docs/privacy.md): large
# Poisson batches divide the noise by more examples; sigma is solved per hospital.
PATIENT = {"dp": "patient", "batch_size": 1024, "learning_rate": 0.5, "dp_clip_norm": 1.0}
HOSPITAL = {"dp": "hospital", "dp_clip_norm": 1.0}


def utility(store: RunStore, epsilon: float) -> None:
    base = RunConfig()
    federation = load_federation(base)
    built = build_model(base)
    configs = {
        "no DP": base,
        f"patient-level DP, eps {epsilon:g}": dataclasses.replace(
            base, dp_target_epsilon=epsilon, **PATIENT
        ),
        f"hospital-level DP, eps {epsilon:g}": dataclasses.replace(
            base, dp_target_epsilon=epsilon, **HOSPITAL
        ),
    }
    rows = []
    for label, config in configs.items():
        print(f"--- {label}", flush=True)
        start = time.perf_counter()
        result = engine.run(
            config, store, built=built, federation=federation, log=lambda s: print(s, flush=True)
        )
        if result.status != "finished":
            print(f"    {result.status}: {result.error}")
            continue
        seconds = time.perf_counter() - start
        _, audited = audit.audit_run(store, result.run_id, "last", log=lambda s: None)
        snap = store.snapshot(result.run_id)
        glob = [m for m in snap["metrics"] if m["scope"] == "global"][-1]
        rows.append(
            (
                label,
                result.run_id,
                glob["auroc"],
                glob["accuracy"],
                glob.get("op_accuracy", float("nan")),
                privacy_report.final_epsilon(snap),
                max(r["auroc"] for r in audited.values()),
                seconds,
            )
        )
    print()
    print(
        f"{'setting':<28} {'run':<22} {'AUROC':>6} {'acc':>6} {'acc@op':>6} {'max eps':>8} "
        f"{'audit AUROC':>12} "
        f"{'seconds':>8}"
    )
    for label, run_id, auroc, acc, op_acc, eps, attack, seconds in rows:
        print(
            f"{label:<28} {run_id:<22} {auroc:>6.3f} {acc:>6.3f} {op_acc:>6.3f} {eps:>8.2f} "
            f"{attack:>12.3f} "
            f"{seconds:>8.0f}"
        )
    print(
        "AUROC, accuracy (at 0.5; acc@op at the federated operating point): global model on the "
        "624 test images, "
        "last round. max eps: the largest hospital's epsilon at delta 1e-5 after all rounds. audit "
        "AUROC: highest "
        "per-hospital membership attack AUROC."
    )


def seeds(store: RunStore, epsilon: float, chosen: list[int]) -> None:
    """The plain command ``train --dp patient --dp-target-epsilon E --seed S`` over seeds: the
    global model's last round, AUROC and accuracy at its decision threshold."""
    rows = []
    for seed in chosen:
        config = RunConfig(dp="patient", dp_target_epsilon=epsilon, seed=seed)
        warned = signal.warnings(config, signal.sites_of(load_federation(config).summary()))
        result = engine.run(config, store, log=lambda s: None)
        snap = store.snapshot(result.run_id)
        chosen_at, figures = global_figures(snap, snap["run"]["rounds_done"])
        rows.append((seed, figures["auroc"], figures["accuracy"], chosen_at.short, bool(warned)))
        print(f"seed {seed}: AUROC {figures['auroc']:.3f}", flush=True)
    print()
    print(f"{'seed':>4} {'AUROC':>6} {'accuracy':>9}  {'threshold':<12} warned before training")
    for seed, auroc, accuracy, at, warned in rows:
        print(f"{seed:>4} {auroc:>6.3f} {accuracy:>9.3f}  {at:<12} {'yes' if warned else ''}")
    aurocs = [r[1] for r in rows]
    print(
        f"worst AUROC {min(aurocs):.3f}, mean AUROC {statistics.mean(aurocs):.3f}, mean accuracy "
        f"{statistics.mean(r[2] for r in rows):.3f} (bars 0.88 / 0.92 / 0.84); patient-level DP at "
        f"epsilon {epsilon:g}, last round, accuracy at the run's decision threshold."
    )


def curve(store: RunStore) -> None:
    """The price of privacy for the default federation (``python -m fedcore privacy-curve``)."""
    base = RunConfig()
    privacy_curve.train_curve(base, EPSILONS, "patient", store, log=lambda s: print(s, flush=True))
    print()
    print(privacy_curve.format_table(privacy_curve.stored_curve(store, base, "patient")))


def speed(repeats: int = 3) -> None:
    rows = []
    plain_config = RunConfig()
    plain_built = build_model(plain_config)
    patient_batch = PATIENT["batch_size"]
    for dp_batch, norm in ((32, "group"), (patient_batch, "group"), (patient_batch, "none")):
        config = dataclasses.replace(
            RunConfig(),
            dp="patient",
            batch_size=dp_batch,
            dp_noise_multiplier=1.0,
            normalization=norm,
        )
        federation = load_federation(config)
        built = build_model(config)
        data = federation.hospitals[0]
        private = DPHospital(data, built, config, 0)
        plain = Hospital(data, plain_built, plain_config, 0)
        private.fit(built.initial_weights, 1), plain.fit(plain_built.initial_weights, 1)  # warm-up
        dp_rates, plain_rates = [], []
        for r in range(repeats):
            outcome = private.fit(built.initial_weights, r + 2)
            dp_rates.append(len(data.train) / outcome.metrics["fit_seconds"])
            outcome = plain.fit(plain_built.initial_weights, r + 2)
            plain_rates.append(len(data.train) / outcome.metrics["fit_seconds"])
        rows.append((dp_batch, norm, statistics.median(dp_rates), statistics.median(plain_rates)))
    print(
        f"{'DP batch':>8} {'normalisation':>13} {'DP-SGD img/s':>13} "
        f"{'plain CNN, Keras fit img/s (batch 32)':>38} {'ratio':>6}"
    )
    for batch, norm, dp, plain in rows:
        print(f"{batch:>8} {norm:>13} {dp:>13.0f} {plain:>38.0f} {dp / plain:>6.2f}")
    print(
        f"One local epoch at hospital_1 ({len(data.train)} images), cnn 28x28, median of {repeats} "
        "alternating repeats."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("utility", "speed", "seeds", "curve"))
    parser.add_argument(
        "--seeds", default="0-9", help="seeds of the 'seeds' part: 0-9 or 3,4 (default 0-9)"
    )
    parser.add_argument(
        "--epsilon", type=float, default=8.0, help="target epsilon per hospital (default 8)"
    )
    parser.add_argument(
        "--home", default=None, help="run store folder (default $FEDCORE_HOME or ./runs)"
    )
    args = parser.parse_args(argv)
    if args.only in (None, "speed"):
        speed()
    if args.only in (None, "utility"):
        utility(RunStore(args.home), args.epsilon)
    if args.only in (None, "curve"):
        curve(RunStore(args.home))
    if args.only in (None, "seeds"):
        first, _, last = args.seeds.partition("-")
        chosen = (
            list(range(int(first), int(last) + 1))
            if last
            else [int(s) for s in args.seeds.split(",")]
        )
        seeds(RunStore(args.home), args.epsilon, chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
