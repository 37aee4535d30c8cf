"""The attack demo: one attacked federation trained twice, without and then with the defence.

Two ordinary runs, one after the other in one process (``python -m fedcore attack-demo``; the
Train page's Attack demo button starts the same as a child): one run trains at a time per store,
and each half is then an ordinary run in Runs, Fairness, the export and the report. An
``attack_demo`` event in both runs names the pair, so a page showing either can show both.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.results.decision import global_figures
from fedcore.run.signals import RunResult, StopSignal
from fedcore.server.who_helped import attackers, flags_by_hospital
from fedcore.store import RunStore
from fedcore.store.liveness import alive

# The federation of docs/strategies.md's attack table, seed 0: 10 Dirichlet(0.5) hospitals, two
# of them sign-flipping their update and claiming 5000 images, FedAvg, 1 local epoch (the
# default 3 at 10 hospitals would triple the time). Every image: about 45 s a run on 2 cores.
UNDEFENDED = RunConfig(
    hospitals=10,
    partition="dirichlet",
    strategy="fedavg",
    attack="sign-flip",
    attackers=2,
    attack_claimed_examples=5000,
    local_epochs=1,
    rounds=10,
    seed=0,
)
DEFENDED = dataclasses.replace(UNDEFENDED, defence="drop-flagged")
EVENT = "attack_demo"


@dataclasses.dataclass(frozen=True)
class Pair:
    """The demo's two runs by id; ``defended`` is None until its run is created, and ``refused``
    says why it never was when another run started between the two."""

    undefended: str
    defended: str | None = None
    refused: str = ""


def pair_of(events: list[dict]) -> Pair | None:
    """The demo pair a run belongs to, from its events; None for a run outside a demo."""
    found = [e["data"] for e in events if e["kind"] == EVENT and e["data"]]
    if not found:
        return None
    return Pair(found[-1]["undefended"], found[-1].get("defended"), found[-1].get("refused", ""))


def open_undefended(store: RunStore) -> str:
    """Create the demo's first run (attacked, no defence) and mark it as the demo's; its id.

    Raises FedXrayError while another run trains (the store's lock).
    """
    run_id = store.create_run(UNDEFENDED.to_dict(), UNDEFENDED.rounds, UNDEFENDED.mode)
    store.event(
        run_id,
        EVENT,
        "attack demo: the attacked federation without the defence; the same with "
        "drop-flagged follows",
        data={"undefended": run_id},
    )
    return run_id


def run_pair(
    store: RunStore,
    stop: StopSignal,
    log: Callable[[str], None] = print,
    undefended_id: str | None = None,
) -> tuple[RunResult, RunResult | None]:
    """Train the attacked federation without the defence, then (if that finished) with it.

    Parameters
    ----------
    store : RunStore
    stop : StopSignal
        A stop ends the run in progress and the demo: the second run does not start.
    log : callable
        Receives each progress line of both runs.
    undefended_id : str, optional
        The first run's row, created beforehand by :func:`open_undefended` (the dashboard).

    Returns
    -------
    tuple of RunResult
        The first run's result and the second's (None when it did not start).
    """
    # Refused while another run trains before anything loads; then one data load and one compiled
    # model for both halves, as the benchmarks share them.
    first_id = undefended_id or open_undefended(store)
    # Imported here: the dashboard's pages import this module and must not load TensorFlow.
    from fedcore.data import load_federation
    from fedcore.model.networks import build_model
    from fedcore.run import engine

    federation, built = load_federation(UNDEFENDED), build_model(UNDEFENDED)
    first = engine.run(
        None, store, run_id=first_id, stop=stop, log=log, built=built, federation=federation
    )
    if first.status != "finished" or stop():
        return first, None
    try:
        second_id = store.create_run(DEFENDED.to_dict(), DEFENDED.rounds, DEFENDED.mode)
    except FedXrayError as exc:
        # Another run started in the moment between the two: the first run says so.
        why = f"the run with the defence did not start: {exc}"
        data = {"undefended": first_id, "refused": why}
        store.event(first_id, EVENT, f"attack demo: {why}", level="warning", data=data)
        log(f"warning: {why}")
        return first, None
    pair = {"undefended": first_id, "defended": second_id}
    for run_id in (first_id, second_id):
        store.event(
            run_id,
            EVENT,
            f"attack demo: {first_id} without, {second_id} with the defence",
            data=pair,
        )
    second = engine.run(
        None, store, run_id=second_id, stop=stop, log=log, built=built, federation=federation
    )
    return first, second


def defended_run_coming(first: dict, pair: Pair) -> bool:
    """Whether the demo's process finished the first run (its row, ``first``) and is about to
    create the second: a page watching the demo keeps looking until it appears."""
    if pair.defended is not None or pair.refused:
        return False
    pid = first["pid"]
    return first["status"] == "finished" and bool(pid) and alive(pid, first["updated"])


def last_auroc(snapshot: dict) -> float:
    """The global model's AUROC on the global test set after the run's last round; NaN before."""
    done = snapshot["run"]["rounds_done"]
    return float(global_figures(snapshot, done)[1].get("auroc", math.nan)) if done else math.nan


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One half of the demo as it stands: its last round's global AUROC and who was flagged."""

    run_id: str
    status: str
    rounds_done: int
    auroc: float
    attackers_flagged: dict[str, int]
    honest_flagged: int


def outcome(snapshot: dict) -> Outcome:
    """What a page or the CLI says of a demo run: AUROC after its last round, and how many rounds
    each attacker and the honest hospitals were flagged."""
    run, flags = snapshot["run"], flags_by_hospital(snapshot["rounds"])
    bad = attackers(snapshot)
    return Outcome(
        run["id"],
        run["status"],
        run["rounds_done"],
        last_auroc(snapshot),
        {name: len(flags.get(name, [])) for name in bad},
        sum(len(f) for name, f in flags.items() if name not in bad),
    )


def summary_line(snapshot: dict, words: str) -> str:
    """'without the defence: run X (finished), global AUROC 0.500 after round 10; hospital_4
    (attacker) flagged in 10 of 10 rounds, ...; honest updates flagged: 0'."""
    seen = outcome(snapshot)
    marked = ", ".join(
        f"{name} (attacker) flagged in {n} of {seen.rounds_done} rounds"
        for name, n in seen.attackers_flagged.items()
    )
    return (
        f"{words}: run {seen.run_id} ({seen.status}), global AUROC {seen.auroc:.3f} after round "
        f"{seen.rounds_done}; {marked}; honest updates flagged: {seen.honest_flagged}"
    )
