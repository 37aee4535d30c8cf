"""Seconds per round of a loopback Flower deployment beside the in-process engine, same config and
seed.

Usage::

    .venv/bin/python benchmarks/flower_bench.py [--rounds 3] [--seed 42] [--secure]

For every embedded training image and for 100 per hospital, in that order, it runs the
in-process engine and then the Flower deployment (TLS on 127.0.0.1, one FedXray
SuperNode per hospital with its warm ClientApp executor, SuperLink state in memory,
as ``make federation`` runs it) and prints: mean seconds per round of each, Flower
minus in-process (the bar: at most 3 s), whether every metric of every round and
scope is the same to the last digit, the CPU seconds a round costs in process and across the
deployment's processes (rounds 2 on; on few cores this CPU sets a Flower round's pace), the
model bytes a round moves and all bytes through the loopback interface per round. ``--secure``
adds a SecAgg+ run beside them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fedcore.config.run_config import RunConfig  # noqa: E402
from fedcore.data.site import export_sites  # noqa: E402
from fedcore.run import engine  # noqa: E402
from fedcore.store import RunStore  # noqa: E402
from testkit.lab_report import metric_differences, round_seconds  # noqa: E402
from testkit.loopback import LoopbackFederation  # noqa: E402
from testkit.process_cpu import DeploymentCPU, InProcessCPU  # noqa: E402

LOOPBACK_BYTES = Path("/sys/class/net/lo/statistics/tx_bytes")


def loopback_bytes() -> int | None:
    """Bytes sent through the loopback interface so far (None where the counter is not readable)."""
    try:
        return int(LOOPBACK_BYTES.read_text())
    except OSError:
        return None


def flower_run(
    work: Path, hospitals: list[Path], global_test: Path, config: RunConfig, secure: bool
) -> dict:
    """One Flower run on a fresh deployment: its store, run id, start-up seconds and loopback bytes
    per round."""
    run_config = {
        "rounds": config.rounds,
        "seed": config.seed,
        "max-per-hospital": config.max_per_hospital or 0,
        "secure-aggregation": secure,
        "secagg-max-weight": 10000.0,
    }
    if secure:
        run_config["strategy"] = "fedavg"  # SecAgg+ reveals a weighted sum: FedAvg's
    start = time.perf_counter()
    with LoopbackFederation(work, hospitals, global_test) as federation:
        federation.wait_until_ready()
        ready = time.perf_counter() - start
        store = RunStore(federation.store_home)
        before = loopback_bytes()
        with DeploymentCPU(federation.leftovers, store, config.rounds) as cpu:
            federation.run(run_config, timeout=120 + 120 * config.rounds)
        after = loopback_bytes()
    return {
        "store": store,
        "run_id": store.list_runs()[0]["id"],
        "ready": ready,
        "bytes": None if before is None else (after - before) / config.rounds,
        "cpu": cpu.per_round,
    }


def compare(work: Path, config: RunConfig, secure: bool) -> None:
    """In-process, then Flower (and SecAgg+), on one data size; prints their lines."""
    paths = export_sites(config, work / "sites")
    hospitals = [paths[f"hospital_{i + 1}"] for i in range(config.hospitals)]
    local = RunStore(work / "in-process")
    local_cpu = InProcessCPU()
    local_id = engine.run(config, local, log=local_cpu).run_id
    local_rounds = round_seconds(local, local_id)
    plain = flower_run(work / "plain", hospitals, paths["global_test"], config, secure=False)
    flower_rounds = round_seconds(plain["store"], plain["run_id"])
    local_seconds, flower_seconds = (
        sum(local_rounds) / len(local_rounds),
        sum(flower_rounds) / len(flower_rounds),
    )
    differ = metric_differences(local, local_id, plain["store"], plain["run_id"])
    images = f"{config.max_per_hospital} per hospital" if config.max_per_hospital else "every image"
    print(
        f"\n{images}: {config.rounds} rounds, {config.hospitals} hospitals, cnn at "
        f"{config.input_size}px, "
        f"seed {config.seed}"
    )
    print(
        f"  in-process engine        {local_seconds:6.2f} s/round   rounds {_seconds(local_rounds)}"
    )
    print(
        f"  flower (TLS, loopback)   {flower_seconds:6.2f} s/round   flower - in-process "
        f"{flower_seconds - local_seconds:+6.2f} s/round (bar <= 3; moonshot <= 1)   ratio "
        f"{flower_seconds / local_seconds:4.2f}x"
        f"   rounds {_seconds(flower_rounds)}"
    )
    if config.rounds > 1:
        steady = sum(flower_rounds[1:]) / (config.rounds - 1) - sum(local_rounds[1:]) / (
            config.rounds - 1
        )
        print(
            f"  rounds 2-{config.rounds} only           flower - in-process {steady:+6.2f} s/round "
            "(round 1 carries the run's first messages)"
        )
    print(
        "  metrics                  "
        + (
            "identical in every round and scope"
            if not differ
            else "DIFFER: " + "; ".join(differ[:5])
        )
    )
    fit = plain["store"].snapshot(plain["run_id"])["rounds"][0]["fit"]["_round"]
    moved = fit["bytes_moved"]
    print(
        f"  model bytes per round    {moved:,}; loopback bytes per round "
        + (
            f"{plain['bytes']:,.0f} ({plain['bytes'] / moved:.1f}x)"
            if plain["bytes"] is not None
            else "n/a"
        )
    )
    if plain["cpu"] and local_cpu.per_round:
        flower_cpu = sum(plain["cpu"].values())
        roles = ", ".join(f"{role} {seconds:.2f}" for role, seconds in sorted(plain["cpu"].items()))
        cores = os.cpu_count() or 1
        print(
            f"  CPU-s per round, 2-{config.rounds}  in-process {local_cpu.per_round:.2f}; flower "
            f"{flower_cpu:.2f} ({roles}): {flower_cpu / local_cpu.per_round:.1f}x, at least "
            f"{flower_cpu / cores:.2f} s a round on {cores} cores"
        )
    print(
        f"  deployment start         {plain['ready']:6.1f} s, once (SuperLink, SuperNodes, "
        "executors importing "
        "TensorFlow); not in the rounds"
    )
    if secure:
        masked = flower_run(work / "secure", hospitals, paths["global_test"], config, secure=True)
        seconds = sum(round_seconds(masked["store"], masked["run_id"])) / config.rounds
        print(
            f"  flower + SecAgg+         {seconds:6.2f} s/round   minus in-process "
            f"{seconds - local_seconds:+6.2f} "
            "s/round (FedAvg; in-process runs the default strategy)"
        )


def _seconds(rounds: list[float]) -> str:
    return " ".join(f"{s:.2f}" for s in rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--secure", action="store_true", help="also time SecAgg+ rounds")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU core(s); load average before: {os.getloadavg()[0]:.2f}")
    for cap in (None, 100):
        config = RunConfig(rounds=args.rounds, max_per_hospital=cap, seed=args.seed)
        with tempfile.TemporaryDirectory(prefix="flower-bench-") as tmp:
            compare(Path(tmp), config, args.secure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
