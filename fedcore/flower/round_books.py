"""What a Flower round writes to the run store beyond the in-process books: dropouts, the runtime,
the bytes it moved.

The round itself is recorded by :class:`fedcore.server.recorder.RoundRecorder`, as
in-process rounds are; :func:`record_round` adds the Flower facts to its fit record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedcore.errors import FedXrayError
from fedcore.flower.roster import Roster
from fedcore.payload import FitOutcome
from fedcore.privacy import mechanism
from fedcore.server.fit_facts import round_fit_info
from fedcore.server.recorder import RoundRecorder
from fedcore.server.resume import server_state
from fedcore.server.round_review import RoundReview
from fedcore.server.who_helped import round_flag_note


@dataclass
class FlowerRound:
    """What one Flower round did.

    ``asked`` are the node ids asked to train; ``failed`` why some gave no update, by
    node id; ``states`` the global weights the round started from and the new ones;
    ``metrics`` the new ones' metrics by scope; ``evaluated`` how many nodes evaluated them;
    ``controls`` the hospitals' SCAFFOLD control variates for the server checkpoint.
    """

    number: int
    asked: list[int]
    outcomes: dict[str, FitOutcome]
    failed: dict[int, str]
    states: tuple[list[np.ndarray], list[np.ndarray]]
    metrics: dict[str, dict]
    evaluated: int
    secure: bool
    controls: dict[str, list[np.ndarray]] = field(default_factory=dict)


def record_round(
    books: RoundRecorder, review: RoundReview, roster: Roster, done: FlowerRound
) -> None:
    """Record a finished round as the in-process loop does (the review's geometry and flags
    included), with the Flower facts, and log its line."""
    strategy, (before, weights) = review.strategy, done.states
    fit_info = round_fit_info(
        done.outcomes,
        [roster.names.get(n, f"node {n}") for n in done.asked],
        weights,
        mechanism.server_spent(strategy, done.number),
    )
    review.annotate(fit_info, done.number, done.outcomes, before, weights)
    fit_info["_round"].update(
        {
            "runtime": "flower",
            "secure_aggregation": done.secure,
            "bytes_moved": bytes_moved(done.outcomes, weights, len(done.asked), done.evaluated),
        }
    )
    seconds = books.record(
        done.number,
        {"global": weights},
        done.metrics,
        sorted(set(roster.names.values())),
        fit_info,
        done.metrics["global"]["auroc"],
        server_state(strategy, []) | done.controls,
    )
    g = done.metrics["global"]
    books.log(
        f"round {done.number:>2}/{books.rounds} ({seconds:5.1f}s)  global acc "
        f"{g['accuracy']:.3f} auroc {g['auroc']:.3f} loss {g['loss']:.3f}  | hospitals "
        f"{', '.join(done.outcomes)}"
        + (f" | dropped {len(done.failed)}" if done.failed else "")
        + round_flag_note(fit_info)
    )


def dropped(
    books: RoundRecorder, server_round: int, node_id: int, name: str | None, step: str, reason: str
) -> None:
    """Record a node that gave no answer in ``step`` of a round as a ``hospital_dropped``
    event."""
    who = name or f"SuperNode {node_id}"
    message = (
        f"{who} dropped out of round {server_round} ({step}): {reason}; "
        "the round goes on without it"
    )
    books.store.event(
        books.run_id,
        "hospital_dropped",
        message,
        server_round,
        "warning",
        {"hospital": name, "node_id": node_id, "step": step, "reason": reason},
    )
    books.log(f"warning: {message}")


def interrupted(books: RoundRecorder) -> None:
    """Close a run whose ServerApp is being ended while it runs as failed, saying how to resume it.

    Flower ends a ServerApp with SIGINT when its SuperLink goes away (the SuperExec that started
    it ends with the SuperLink, and the ServerApp watches the SuperExec) or when it is stopped,
    and at the end of every run: a run that already ended is left as it is. The rounds recorded
    so far are whole (each is one transaction).
    """
    record = books.store.get_run(books.run_id)
    if record["status"] != "running":
        return
    done = record["rounds_done"]
    message = (
        f"the ServerApp was ended during round {done + 1} (its SuperLink stopped or restarted, or "
        f"the run was stopped): {done} round(s) complete and kept; resume it with the run config "
        f'it started with, plus resume="{books.run_id}" (docs/flower.md)'
    )
    books.failed(FedXrayError(message), done + 1)


def bytes_moved(
    outcomes: dict[str, FitOutcome], weights: list[np.ndarray], asked: int, evaluated: int
) -> int:
    """Weight bytes of the round's messages: global weights out to every node twice (train,
    evaluate), updates back.

    Under SecAgg+ an outcome holds no arrays (the server sees only the sum); each
    hospital still sent a model-sized update, so it counts as the model's size.
    """
    size = int(sum(w.nbytes for w in weights))
    return size * (asked + evaluated) + int(
        sum(o.payload_bytes() if o.weights else size for o in outcomes.values())
    )
