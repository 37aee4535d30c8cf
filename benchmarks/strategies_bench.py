"""Strategies over seeds: does the federation learn on every Dirichlet split? Printed figures.

    nice -n 10 python benchmarks/strategies_bench.py                       # seeds 0-9 x 4
    strategies
    python benchmarks/strategies_bench.py --seeds 5 --strategies fedavg --set balanced_softmax=false
    python benchmarks/strategies_bench.py --attack sign-flip --attackers 2 --hospitals 10 --seeds
    0 \
        --strategies fedavg,median,trimmed-mean,krum

Each cell is one ordinary run of the default federation (3 Dirichlet(0.5) hospitals of
PneumoniaMNIST, 10 rounds) with ``--seed S --strategy X``: global AUROC on the 624 test
images after the last round (not the best round: picking by test AUROC would flatter)
and accuracy at the operating point the server chose from the hospitals' validation
counts (maximum Youden J), with accuracy at 0.5 beside it. Per strategy: the worst seed
and the mean. One model is built and one federation loaded per seed, shared by the
strategies. The runs are written to the run store (--home).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fedcore.config.run_config import RunConfig  # noqa: E402
from fedcore.config.settings import settings  # noqa: E402
from fedcore.data import load_federation  # noqa: E402
from fedcore.model.networks import build_model  # noqa: E402
from fedcore.run import engine  # noqa: E402
from fedcore.server.fit_facts import hospitals_only  # noqa: E402
from fedcore.store import RunStore  # noqa: E402


def _value(name: str, text: str):
    kind = next(s.kind for s in settings(RunConfig) if s.name == name)
    if kind is bool:
        return text.lower() in ("1", "true", "on", "yes")
    return None if text.lower() == "none" else kind(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9", help="'0-9' or '0,3,5'")
    parser.add_argument("--strategies", default="scaffold,fedavg,fedprox,fedadam")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="any run setting"
    )
    parser.add_argument("--attack", default="none")
    parser.add_argument("--attackers", type=int, default=0)
    parser.add_argument("--hospitals", type=int, default=3)
    parser.add_argument("--home", default=None, help="run store (default FEDCORE_HOME)")
    parser.add_argument("--json", default=None, help="also write the cells to this file")
    args = parser.parse_args()
    a, _, b = args.seeds.partition("-")
    seeds = list(range(int(a), int(b) + 1)) if b else [int(s) for s in args.seeds.split(",")]
    strategies = args.strategies.split(",")
    overrides = {k: _value(k, v) for k, v in (item.split("=", 1) for item in args.set)}
    base = RunConfig(
        attack=args.attack, attackers=args.attackers, hospitals=args.hospitals, **overrides
    )
    store = RunStore(args.home)
    cells: dict[str, dict[int, dict]] = {s: {} for s in strategies}
    for seed in seeds:
        seeded = dataclasses.replace(base, seed=seed)
        federation, built = load_federation(seeded), build_model(seeded)
        for strategy in strategies:
            config = dataclasses.replace(seeded, strategy=strategy).validate()
            start = time.perf_counter()
            result = engine.run(
                config, store, built=built, federation=federation, log=lambda s: None
            )
            snapshot = store.snapshot(result.run_id)
            last = [
                m
                for m in snapshot["metrics"]
                if m["round"] == result.rounds_done and m["scope"] == "global"
            ][0]
            cells[strategy][seed] = {
                "auroc": last["auroc"],
                "op_accuracy": last.get("op_accuracy", np.nan),
                "accuracy": last["accuracy"],
                "threshold": last.get("op_threshold", np.nan),
                "seconds": time.perf_counter() - start,
                "run": result.run_id,
                **flag_counts(snapshot["rounds"]),
            }
            c = cells[strategy][seed]
            print(
                f"seed {seed} {strategy:<13} auroc {c['auroc']:.3f} acc@op {c['op_accuracy']:.3f} "
                f"(t {c['threshold']:g}) acc@0.5 {c['accuracy']:.3f}  {c['seconds']:.0f}s  "
                f"{result.status}; flagged: every attacker in >= {c['attackers_flagged']} "
                f"round(s), honest {c['honest_flagged']}/{c['honest_updates']} updates",
                flush=True,
            )
    print(table(cells, seeds))
    if args.json:
        Path(args.json).write_text(json.dumps(cells, indent=1))


def flag_counts(rounds: list[dict]) -> dict:
    """How often the server flagged the updates of a run (fedcore.server.update_geometry):
    attackers_flagged, the rounds in which the least-flagged attacker was flagged (None without
    attackers); honest_flagged of honest_updates, the honest hospitals' flagged updates."""
    per_attacker: dict[str, int] = {}
    honest = honest_flagged = 0
    for row in rounds:
        for name, facts in hospitals_only(row["fit"]).items():
            if facts.get("attacker"):
                per_attacker[name] = per_attacker.get(name, 0) + int(facts.get("flagged", 0))
            else:
                honest += 1
                honest_flagged += int(facts.get("flagged", 0))
    return {
        "attackers_flagged": min(per_attacker.values()) if per_attacker else None,
        "honest_flagged": honest_flagged,
        "honest_updates": honest,
    }


def table(cells: dict[str, dict[int, dict]], seeds: list[int]) -> str:
    """Markdown: one row per strategy, AUROC / accuracy at the operating point per seed, then worst
    and mean."""
    head = (
        "| strategy | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " | worst AUROC | mean AUROC | mean acc |"
    )
    rows = [head, "|" + "---|" * (len(seeds) + 4)]
    for strategy, by_seed in cells.items():
        auroc = np.array([by_seed[s]["auroc"] for s in seeds])
        acc = np.array([by_seed[s]["op_accuracy"] for s in seeds])
        rows.append(
            f"| {strategy} | "
            + " | ".join(f"{x:.3f} / {y:.3f}" for x, y in zip(auroc, acc))
            + f" | {auroc.min():.3f} | {auroc.mean():.3f} | {acc.mean():.3f} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
