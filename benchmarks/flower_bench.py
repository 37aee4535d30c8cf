"""Per-round cost of a loopback Flower deployment against the in-process engine, same config and seed.

Usage::

    .venv/bin/python benchmarks/flower_bench.py [--rounds 3] [--max-per-hospital 100] [--secure]

Prints, for the in-process engine and the Flower deployment (TLS on 127.0.0.1, one
SuperNode per hospital): mean seconds per round, their ratio, the model bytes each
round moves between the server and the hospitals (what would cross a real network),
and all bytes through the loopback interface per round (every hop: SuperLink and
SuperNodes, plus each node's local runtime API to its ClientApp process; TLS and HTTP
framing included). And the cold start of one ClientApp process, which Flower 1.42 pays
for every message (each message runs in a fresh process that imports TensorFlow).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fedcore import engine  # noqa: E402
from fedcore.config import RunConfig  # noqa: E402
from tests.loopback import LoopbackFederation  # noqa: E402
from fedcore.site_data import export_sites  # noqa: E402
from fedcore.store import RunStore  # noqa: E402

LOOPBACK_BYTES = Path("/sys/class/net/lo/statistics")


def loopback_bytes() -> int | None:
    """Bytes sent through the loopback interface so far (None where the counter is not readable)."""
    try:
        return int((LOOPBACK_BYTES / "tx_bytes").read_text())
    except OSError:
        return None


def per_round(store: RunStore, run_id: str) -> tuple[float, list[dict]]:
    """Mean seconds per round and each round's fit facts."""
    rounds = store.snapshot(run_id)["rounds"]
    return sum(r["seconds"] for r in rounds) / len(rounds), [r["fit"] for r in rounds]


def clientapp_cold_start() -> float:
    """Seconds for a fresh process to import the ClientApp and build the model: paid per message."""
    code = ("import time; t = time.perf_counter(); from fedcore.flower.client import client_fn; "
            "from fedcore.client import Hospital; from fedcore.model import build_model; "
            "from fedcore.config import RunConfig; build_model(RunConfig()); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return float(out.stdout.strip().splitlines()[-1])


def flower_run(work: Path, hospitals: list[Path], global_test: Path, config: RunConfig, secure: bool):
    """(mean seconds per round, fit facts, loopback bytes per round, wall seconds) of one Flower run."""
    run_config = {"rounds": config.rounds, "seed": config.seed, "secure-aggregation": secure,
                  "secagg-max-weight": float(max(1000, config.max_per_hospital or 10000))}
    with LoopbackFederation(work, hospitals, global_test) as federation:
        time.sleep(5)  # let the SuperNodes register before counting
        before, start = loopback_bytes(), time.perf_counter()
        federation.run(run_config, timeout=60 + 240 * config.rounds)
        wall, after = time.perf_counter() - start, loopback_bytes()
    store = RunStore(federation.store_home)
    seconds, fits = per_round(store, store.list_runs()[0]["id"])
    moved = None if before is None else (after - before) / config.rounds
    return seconds, fits, moved, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-per-hospital", type=int, default=100, help="0: every training image")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--secure", action="store_true", help="also time SecAgg+ rounds")
    args = parser.parse_args()
    config = RunConfig(rounds=args.rounds, max_per_hospital=args.max_per_hospital or None, seed=args.seed)

    with tempfile.TemporaryDirectory(prefix="flower-bench-") as tmp:
        work = Path(tmp)
        paths = export_sites(config, work / "sites")
        hospitals = [paths[f"hospital_{i + 1}"] for i in range(config.hospitals)]

        in_process = RunStore(work / "in-process")
        result = engine.run(config, in_process, log=lambda line: None)
        local_seconds, local_fits = per_round(in_process, result.run_id)

        plain = flower_run(work / "plain", hospitals, paths["global_test"], config, secure=False)
        secure = flower_run(work / "secure", hospitals, paths["global_test"], config, True) if args.secure else None
    cold = clientapp_cold_start()

    model_bytes = plain[1][0]["_round"]["bytes_received_each"]
    print(f"config: {config.rounds} rounds, {config.hospitals} hospitals, {config.max_per_hospital or 'all'} training "
          f"images each, cnn at {config.input_size}px, seed {config.seed}; {os.cpu_count()} CPU core(s)")
    print(f"model: {model_bytes:,} bytes of weights")
    print(f"in-process engine:        {local_seconds:6.2f} s/round")
    print(f"flower deployment (TLS):  {plain[0]:6.2f} s/round  ratio {plain[0] / local_seconds:5.1f}x "
          f"(+{plain[0] - local_seconds:.1f} s/round)")
    if secure:
        print(f"flower + SecAgg+:         {secure[0]:6.2f} s/round  ratio {secure[0] / local_seconds:5.1f}x")
    print(f"model bytes per round:    {plain[1][0]['_round']['bytes_moved']:,} "
          f"(weights to {config.hospitals} hospitals for training and again for evaluation, "
          f"{config.hospitals} updates back)")
    if plain[2] is not None:
        print(f"loopback bytes per round: {plain[2]:,.0f} (all hops; ratio {plain[2] / plain[1][0]['_round']['bytes_moved']:.1f}x"
              " the model bytes)" + (f"; SecAgg+ {secure[2]:,.0f}" if secure and secure[2] is not None else ""))
    print(f"ClientApp cold start:     {cold:6.2f} s per message (fresh process: import TensorFlow, build model)")
    print(f"whole flower run:         {plain[3]:6.1f} s wall for {config.rounds} rounds")
    print(f"in-process fit seconds per hospital, round 1: "
          + ", ".join(f"{h} {v['fit_seconds']:.2f}" for h, v in local_fits[0].items() if h != "_round"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
