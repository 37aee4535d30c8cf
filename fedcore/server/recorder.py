"""The run's books, kept the same way by the in-process loop and the Flower ServerApp.

A :class:`RoundRecorder` writes what the dashboard and ``report`` read: the progress
heartbeat (from the first second of a run: loading data, building the model, then each
hospital's training and the evaluation), the accepted or failed hospital updates, each
completed round (metrics, fairness, what was sent, the checkpoints) and how the run
ended. Both loops call it, so a Flower run and an in-process one are recorded alike.
Nothing here imports the hospital side: what crosses is a :class:`fedcore.payload.FitOutcome`.
"""

from __future__ import annotations

import math
import time
import traceback
from typing import Callable

import numpy as np

from fedcore.errors import FedXrayError
from fedcore.results.fairness import fairness_summary
from fedcore.server.best_round import BestTracker
from fedcore.store import RunStore


def failure_message(exc: BaseException) -> str:
    """What a failed run's row says: a user error's own words, or an engine bug in plain words."""
    if isinstance(exc, FedXrayError):
        return str(exc)
    # The exception's type stays in the event's traceback, out of the words a person reads.
    return f"an internal error stopped the run ({exc}); the last completed round is kept"


# The shortest time between two heartbeats of the same step: the dashboard redraws about once a
# second.
HEARTBEAT_SECONDS = 0.5


class RoundRecorder:
    """Writes one run's progress, rounds and end to the run store.

    Parameters
    ----------
    store : RunStore
    run_id : str
    rounds : int
        Rounds the run is planned for (the heartbeat's ``rounds``).
    log : callable
        Receives one line at a time (the CLI prints them).
    best : BestTracker, optional
        The best round so far (a resumed run continues from its own).
    """

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        rounds: int,
        log: Callable[[str], None] = print,
        best: BestTracker | None = None,
    ):
        self.store, self.run_id, self.rounds, self.log = store, run_id, rounds, log
        self.best = best or BestTracker()
        self.round_seconds: list[float] = []
        self._round_start = time.perf_counter()
        self._last_beat: tuple[str, float] = ("", -math.inf)
        self._beat: dict = {}
        # Over Flower: what each site does inside the round, by name (fedcore.flower.site_watch).
        self.sites: dict[str, dict] = {}

    def progress(
        self,
        server_round: int,
        step: str,
        hospitals: int = 0,
        hospital: str | None = None,
        index: int = 0,
    ) -> None:
        """The heartbeat: which round and step the run is in, with when that step started.

        Steps: 'loading data' and 'building model' (round 0), then 'training' (one
        hospital at a time) and 'evaluating' in every round. Within one step a heartbeat
        comes at most every :data:`HEARTBEAT_SECONDS`: each is a database write (10-30 ms),
        which with one per hospital was most of a 30-hospital round's overhead.
        """
        now = time.perf_counter()
        if step == self._last_beat[0] and now - self._last_beat[1] < HEARTBEAT_SECONDS:
            return
        self._last_beat = (step, now)
        elapsed = now - self._round_start if server_round else 0.0
        mean = float(np.mean(self.round_seconds)) if self.round_seconds else None
        self._beat = {
            "round": server_round,
            "rounds": self.rounds,
            "step": step,
            "hospital": hospital,
            "hospital_index": index,
            "hospitals": hospitals,
            "round_elapsed": elapsed,
            "mean_round_seconds": mean,
            "started": time.time(),
        }
        self._write_beat()

    def sites_changed(self) -> None:
        """Write :attr:`sites` into the heartbeat, at most every :data:`HEARTBEAT_SECONDS`."""
        now = time.perf_counter()
        if self._beat and now - self._last_beat[1] >= HEARTBEAT_SECONDS:
            self._last_beat = (self._last_beat[0], now)
            self._write_beat()

    def _write_beat(self) -> None:
        self.store.set_progress(
            self.run_id, self._beat | ({"sites": self.sites} if self.sites else {})
        )

    def start_round(self, server_round: int) -> None:
        """Mark the round's start (its clock and a ``round_started`` event)."""
        self._round_start = time.perf_counter()
        self.store.event(
            self.run_id, "round_started", f"round {server_round} of {self.rounds}", server_round
        )

    def elapsed(self) -> float:
        """Seconds since the current round started."""
        return time.perf_counter() - self._round_start

    def hospital_failed(self, server_round: int, name: str, exc: Exception) -> None:
        """One hospital's update is lost for this round; the round goes on without it."""
        message = f"{name} failed in round {server_round}: {exc}"
        self.store.event(
            self.run_id,
            "hospital_failed",
            message,
            server_round,
            "error",
            {"hospital": name, "traceback": traceback.format_exc(limit=5)},
        )
        self.log(f"warning: {message}; the round goes on without it")

    def record(
        self,
        server_round: int,
        state: dict[str, list],
        metrics: dict[str, dict],
        hospitals: list[str],
        fit_info: dict,
        score: float,
        server: dict | None = None,
    ) -> float:
        """Write one completed round: metrics, fairness, fit facts, the 'last' and maybe 'best'
        checkpoint.

        Parameters
        ----------
        state : dict of str to list of np.ndarray
            The models after the round (``{'global': weights}``, or one per hospital in local mode).
        metrics : dict of scope to metrics
            ``global`` (or ``global:<hospital>``) and one entry per hospital evaluated.
        hospitals : list of str
            The hospitals whose metrics enter the fairness summary (those in ``metrics``).
        fit_info : dict
            :func:`round_fit_info` of the round.
        score : float
            The round's model-selection score; the best round is the highest.
        server : dict, optional
            :func:`server_state` after the round, written as the 'server' checkpoint.

        Returns
        -------
        float
            The round's seconds.
        """
        seconds = self.elapsed()
        self.round_seconds.append(seconds)
        fairness = fairness_summary({name: metrics[name] for name in hospitals if name in metrics})
        is_best = self.best.offer(server_round, score)
        checkpoints = {"last": state}
        if server is not None:
            checkpoints["server"] = server
        if is_best:
            checkpoints["best"] = state
        self.store.record_round(
            self.run_id,
            server_round,
            metrics,
            fairness,
            fit_info,
            seconds,
            self.best.best_round if is_best else None,
            checkpoints,
        )
        return seconds

    def budget_spent(self, last_round: int, budget: float) -> None:
        """Record that the privacy budget stopped the run after ``last_round``."""
        message = (
            f"privacy budget epsilon {budget:g} spent: training stopped after round "
            f"{last_round} of {self.rounds}, the last one within it"
        )
        self.store.event(self.run_id, "budget_spent", message, last_round, level="warning")
        self.log(message)

    def finished(self) -> str:
        """Close the run as finished."""
        self.store.finish(self.run_id, "finished")
        self.store.event(
            self.run_id,
            "finished",
            f"finished {self.rounds} rounds; best round {self.best.best_round}",
        )
        return "finished"

    def stopped(self, rounds_done: int) -> str:
        """Close the run as stopped by request (Ctrl-C, SIGTERM, the dashboard's Stop)."""
        self.store.finish(self.run_id, "stopped")
        self.store.event(
            self.run_id,
            "stopped",
            f"stopped by request; {rounds_done} round(s) complete and kept",
            rounds_done + 1,
            "warning",
        )
        self.log(
            f"stopped: {rounds_done} round(s) complete; "
            f"`python -m fedcore train --resume {self.run_id}` continues"
        )
        return "stopped"

    def failed(self, exc: BaseException, server_round: int | None = None) -> str:
        """Close the run as failed, in plain words (in ``server_round`` when it is known); an
        engine bug's traceback goes to the event."""
        message = failure_message(exc)
        data = None if isinstance(exc, FedXrayError) else {"traceback": traceback.format_exc()}
        self.store.finish(self.run_id, "failed", message)
        self.store.event(self.run_id, "failed", message, server_round, level="error", data=data)
        self.log(f"error: {message}")
        return message
