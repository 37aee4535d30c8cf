"""What the lab prints: a Flower run beside the in-process run of the same config, and the floor.

``python -m testkit.lab_report --in-process HOME --flower HOME --stats proxy-1.json ...``
prints seconds per round of both, the transport's floor for each round and the bar, then
whether every metric of every round and scope is the same to the last bit; its exit status
is 1 when one is not (or a run did not finish), 0 otherwise.

The floor is what the wide-area link alone costs a round: the bytes the busiest site moved
over its capped link (the steps of a round take turns, so its bytes go one after another),
plus the fewest round trips Flower's protocol allows a round: per step (train, evaluate) a
site asks for its message, then fetches its objects, sends its reply, then uploads its
objects, each waiting on the one before.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from fedcore.store import RunStore

# Sequential round trips a round needs at the least: 2 steps x 4 (ask, fetch, send, upload).
ROUND_TRIPS = 8


def round_seconds(store: RunStore, run_id: str) -> list[float]:
    """Seconds of each recorded round of a run."""
    return [r["seconds"] for r in store.snapshot(run_id)["rounds"]]


def metric_differences(a: RunStore, a_id: str, b: RunStore, b_id: str) -> list[str]:
    """``round scope metric`` for every metric that is not the same in both runs, bit for bit (NaN
    equals NaN)."""

    def table(store, run_id):
        return {(m["round"], m["scope"]): m for m in store.snapshot(run_id)["metrics"]}

    def same(x, y) -> bool:
        both_nan = isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)
        return x == y or both_nan

    left, right = table(a, a_id), table(b, b_id)
    differ = [f"{key} missing" for key in set(left) ^ set(right)]
    for key in sorted(set(left) & set(right)):
        for name in sorted(set(left[key]) | set(right[key])):
            if not same(left[key].get(name), right[key].get(name)):
                differ.append(f"round {key[0]} {key[1]} {name}: {left[key].get(name)} vs ")
                differ[-1] += str(right[key].get(name))
    return differ


def transport_floor(site_bytes: list[int], rounds: int, mbit: float, delay_ms: float) -> float:
    """Seconds a round cannot beat on the link: the busiest site's bytes at ``mbit``, plus
    :data:`ROUND_TRIPS` round trips of twice ``delay_ms``; ``mbit`` 0 means no cap."""
    per_round = max(site_bytes) / rounds
    on_the_wire = per_round * 8 / (mbit * 1e6) if mbit else 0.0  # 0: no cap
    return on_the_wire + ROUND_TRIPS * 2 * delay_ms / 1e3


def report(args) -> int:
    """Print the comparison; 1 when a run did not finish or a metric differs."""
    local, flower = RunStore(args.in_process), RunStore(args.flower)
    runs = {"in-process": local.list_runs(), "flower": flower.list_runs()}
    for name, found in runs.items():
        if not found or found[0]["status"] != "finished":
            print(f"error: the {name} run did not finish: {found[0] if found else 'no run'}")
            return 1
    local_id, flower_id = runs["in-process"][0]["id"], runs["flower"][0]["id"]
    mine, theirs = round_seconds(local, local_id), round_seconds(flower, flower_id)
    stats = [json.loads(Path(path).read_text()) for path in args.stats]
    moved = [s["up"] + s["down"] for s in stats]
    floor = transport_floor(moved, len(theirs), args.mbit, args.delay_ms)
    print(
        f"{'round':>5} {'in-process s':>13} {'flower s':>9} {'floor + in-process':>19} {'bar':>6}"
    )
    for number, (a, b) in enumerate(zip(mine, theirs), start=1):
        print(f"{number:>5} {a:>13.2f} {b:>9.2f} {floor + a:>19.2f} {1.5 * (floor + a):>6.2f}")
    mean_a, mean_b = sum(mine) / len(mine), sum(theirs) / len(theirs)
    within = mean_b <= 1.5 * (floor + mean_a)
    print(
        f" mean {mean_a:>13.2f} {mean_b:>9.2f} {floor + mean_a:>19.2f} "
        f"{1.5 * (floor + mean_a):>6.2f}  ({'within' if within else 'NOT within'} 1.5x)"
    )
    print(
        f"floor {floor:.2f} s a round: {max(moved) / len(theirs) / 1e6:.2f} MB over the busiest "
        f"site's {args.mbit:g} Mbit/s link, plus {ROUND_TRIPS} round trips of "
        f"{2 * args.delay_ms:g} ms; MB per site over the run: "
        + ", ".join(f"{m / 1e6:.2f}" for m in moved)
    )
    print(
        "requests per site and round (polls included): "
        + ", ".join(f"{s.get('requests', 0) / len(theirs):.0f}" for s in stats)
    )
    differ = metric_differences(local, local_id, flower, flower_id)
    print(
        "metrics: identical to in-process in every round and scope, bit for bit"
        if not differ
        else "metrics: DIFFER from in-process: " + "; ".join(differ[:5])
    )
    return 1 if differ else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-process", required=True, help="FEDCORE_HOME of the in-process run")
    parser.add_argument("--flower", required=True, help="FEDCORE_HOME of the Flower run")
    parser.add_argument("--stats", nargs="+", required=True, help="each site proxy's stats file")
    parser.add_argument("--mbit", type=float, required=True, help="each site's link, Mbit/s")
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay")
    sys.exit(report(parser.parse_args()))


if __name__ == "__main__":
    main()
