"""A whole run in one process: federated (FedAvg), centralized or local, round by round.

Reads top to bottom: setup, small helpers, then the visible ``for server_round`` loop.
Every round is written to the run store in one transaction, then checkpointed; a stop
request (Ctrl-C, SIGTERM, the dashboard's Stop) ends the run after the current step
with the last completed round kept, and ``resume`` continues from it. Every local step
is seeded by (seed, round, hospital), so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from fedcore import audit, payload, privacy
from fedcore.client import FitOutcome, Hospital, LocalTrainingStopped
from fedcore.config import RunConfig
from fedcore.data import Federation, HospitalData, Split, load_federation
from fedcore.errors import FedXrayError
from fedcore.metrics import fairness_summary
from fedcore.model import BuiltModel, build_model
from fedcore.server import BestTracker, Server
from fedcore.store import RunStore


class StopSignal:
    """Set from a signal handler or another thread; the engine polls it between and within steps."""

    def __init__(self):
        self._event = threading.Event()

    def set(self, *_args) -> None:
        """Ask the run to stop after the current step (usable directly as a signal handler)."""
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()


@dataclass
class RunResult:
    """How a run ended, and the timings the benchmarks compare."""

    run_id: str
    status: str
    rounds_done: int
    error: str | None = None
    fit_seconds: float = 0.0
    eval_seconds: float = 0.0
    loop_seconds: float = 0.0
    notices: list[str] = field(default_factory=list)


def pooled(federation: Federation) -> HospitalData:
    """All hospitals' images as one site: the centralized baseline (what FL avoids doing)."""
    def cat(split: str) -> Split:
        parts = [getattr(h, split) for h in federation.hospitals]
        return Split(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))
    return HospitalData("pooled", cat("train"), cat("val"), cat("test"))


def run(config: RunConfig | None = None, store: RunStore | None = None, *, resume: str | None = None,
        stop: StopSignal | None = None, log: Callable[[str], None] = print,
        built: BuiltModel | None = None, federation: Federation | None = None,
        run_id: str | None = None) -> RunResult:
    """Train a run to the end, to a stop request, or to a failure, writing everything to the store.

    Parameters
    ----------
    config : RunConfig, optional
        The run's settings; for ``resume`` they come from the store.
    store : RunStore, optional
        Where the run is written; default the store under FEDCORE_HOME.
    resume : str, optional
        Id of a stopped or failed run to continue from its last completed round.
    stop : StopSignal, optional
        Polled between hospitals and between batches.
    log : callable
        Receives one line of progress at a time (the CLI prints them).
    built, federation : optional
        An already compiled model and loaded data, to reuse across runs in one process
        (benchmarks, ``compare``); built from the config when not given.
    run_id : str, optional
        An already created run to fill (the dashboard creates the row before starting).

    Returns
    -------
    RunResult
    """
    store = store or RunStore()
    stop = stop or StopSignal()

    # ---------------------------------------------------------------- setup
    start_round, state, best = 1, None, BestTracker()
    if resume:
        record = store.get_run(resume)
        if record["status"] == "running":
            raise FedXrayError(f"run {resume} is still running: stop it before resuming")
        if record["status"] == "finished":
            raise FedXrayError(f"run {resume} already finished all {record['rounds_total']} rounds")
        config = RunConfig.from_dict(record["config"])
        run_id = resume
        store.mark_running(run_id)
        try:
            done, state = store.load_checkpoint(run_id, "last")
            start_round = done + 1
            best = _best_so_far(store, run_id)
        except FedXrayError:
            state = None
        store.event(run_id, "resumed", f"resumed at round {start_round}", start_round)
    else:
        if config is None and run_id is not None:
            # A row created beforehand (by the dashboard) carries the whole config.
            config = RunConfig.from_dict(store.get_run(run_id)["config"])
        config = (config or RunConfig()).validate()
        run_id = run_id or store.create_run(config.to_dict(), config.rounds, config.mode)

    result = RunResult(run_id, "running", start_round - 1)
    try:
        log(f"run {run_id}: {config.mode}, {config.backbone} at {config.input_size}px, "
            f"{config.rounds} rounds x {config.local_epochs} local epoch(s), seed {config.seed}")
        federation = federation or load_federation(config)
        built = built or build_model(config)
        result.notices.append(built.notice)
        if federation.skipped:
            store.event(run_id, "skipped_files", f"{len(federation.skipped)} file(s) could not be read and were "
                        "skipped", level="warning", data={"files": federation.skipped})
            log(f"warning: skipped {len(federation.skipped)} unreadable file(s); see `python -m fedcore report {run_id}`")
        store.set_data_summary(run_id, federation.summary(), built.notice)
        log(f"model: {built.notice}")

        hospitals = [privacy.make_hospital(h, built, config, i) for i, h in enumerate(federation.hospitals)]
        participants = ([privacy.make_hospital(pooled(federation), built, config, 0)]
                        if config.mode == "centralized" else hospitals)
        strategy = privacy.run_strategy(config, len(participants))
        for level, message, data in privacy.notices(config, participants):
            store.event(run_id, "privacy", message, level=level, data=data)
        model_shapes = [w.shape for w in built.initial_weights]
        server = Server(strategy, built, federation.global_test, config.threshold)
        initial = built.initial_weights
        if state is None:
            state = ({h.name: initial for h in hospitals} if config.mode == "local" else {"global": initial})

        # ---------------------------------------------------------------- helpers
        def progress(server_round: int, step: str, hospital: str | None, index: int, round_start: float):
            elapsed = time.perf_counter() - round_start
            store.set_progress(run_id, {"round": server_round, "rounds": config.rounds, "step": step,
                                        "hospital": hospital, "hospital_index": index,
                                        "hospitals": len(participants), "round_elapsed": elapsed,
                                        "mean_round_seconds": mean_round_seconds()})

        round_seconds: list[float] = []

        def mean_round_seconds() -> float | None:
            return float(np.mean(round_seconds)) if round_seconds else None

        def train_round(server_round: int, round_start: float) -> dict[str, FitOutcome]:
            outcomes = {}
            instructions = strategy.configure_fit(server_round, state.get("global"))
            for i, hospital in enumerate(participants):
                if stop():
                    raise LocalTrainingStopped(hospital.name)
                progress(server_round, "training", hospital.name, i, round_start)
                start_weights = state[hospital.name] if config.mode == "local" else state["global"]
                try:
                    outcome = hospital.fit(start_weights, server_round, instructions, stop)
                    payload.check(outcome, model_shapes)
                    outcomes[hospital.name] = outcome
                    result.fit_seconds += outcome.metrics["fit_seconds"]
                    log(f"  round {server_round} {hospital.name}: trained on {outcome.num_examples} images, "
                        f"{outcome.metrics['fit_seconds']:.1f}s, sent {outcome.payload_bytes() / 1e6:.2f} MB")
                except LocalTrainingStopped:
                    raise
                except Exception as exc:  # one hospital failing must not take the federation down
                    message = f"{hospital.name} failed in round {server_round}: {exc.__class__.__name__}: {exc}"
                    store.event(run_id, "hospital_failed", message, server_round, "error",
                                {"hospital": hospital.name, "traceback": traceback.format_exc(limit=5)})
                    log(f"warning: {message}; the round goes on without it")
            if not outcomes:
                raise FedXrayError(f"every hospital failed in round {server_round}; see the run's events")
            return outcomes

        def evaluate_round(models: dict[str, list]) -> dict[str, dict]:
            start = time.perf_counter()
            metrics = {}
            if config.mode == "local":
                for h in hospitals:
                    metrics[h.name] = h.evaluate(models[h.name])
                    metrics[f"global:{h.name}"] = server.evaluate(models[h.name])
            else:
                metrics["global"] = server.evaluate(models["global"])
                for h in hospitals:
                    metrics[h.name] = h.evaluate(models["global"])
            result.eval_seconds += time.perf_counter() - start
            return metrics

        def selection_score(metrics: dict[str, dict]) -> float:
            if config.mode == "local":
                return float(np.nanmean([metrics[f"global:{h.name}"]["auroc"] for h in hospitals]))
            return metrics["global"]["auroc"]

        # ---------------------------------------------------------------- the loop
        loop_start = time.perf_counter()
        for server_round in range(start_round, config.rounds + 1):
            round_start = time.perf_counter()
            store.event(run_id, "round_started", f"round {server_round} of {config.rounds}", server_round)
            outcomes = train_round(server_round, round_start)
            if config.mode == "local":
                state = {name: o.weights for name, o in outcomes.items()} | {
                    h.name: state[h.name] for h in hospitals if h.name not in outcomes}
            else:
                state = {"global": server.aggregate(server_round, list(outcomes.values()), state["global"])}
            progress(server_round, "evaluating", None, len(participants), round_start)
            metrics = evaluate_round(state)
            seconds = time.perf_counter() - round_start
            round_seconds.append(seconds)
            fit_info = round_fit_info(outcomes, [h.name for h in participants], next(iter(state.values())),
                                      privacy.server_spent(strategy, server_round))
            save_round(store, run_id, server_round, state, metrics, [h.name for h in hospitals], fit_info,
                       selection_score(metrics), best, seconds)
            result.rounds_done = server_round
            if config.audit_every and server_round % config.audit_every == 0:
                audit.record(store, run_id, server_round,
                             audit.audit_hospitals(built, state, [h.data for h in hospitals]), "round")
            log(_round_line(server_round, config.rounds, metrics, seconds, hospitals, config.mode)
                + privacy.epsilon_note(fit_info))
        result.loop_seconds = time.perf_counter() - loop_start
        result.status = "finished"
        store.finish(run_id, "finished")
        store.event(run_id, "finished", f"finished {config.rounds} rounds; best round {best.best_round}")
    except LocalTrainingStopped:
        result.status = "stopped"
        store.finish(run_id, "stopped")
        store.event(run_id, "stopped", f"stopped by request; {result.rounds_done} round(s) complete and kept",
                    result.rounds_done + 1, "warning")
        log(f"stopped: {result.rounds_done} round(s) complete; `python -m fedcore train --resume {run_id}` continues")
    except FedXrayError as exc:
        result.status, result.error = "failed", str(exc)
        store.finish(run_id, "failed", str(exc))
        store.event(run_id, "failed", str(exc), level="error")
        log(f"error: {exc}")
    except Exception as exc:  # an engine bug: record it in plain words, keep the traceback in the log
        result.status = "failed"
        result.error = f"internal error ({exc.__class__.__name__}: {exc}); the last completed round is kept"
        store.finish(run_id, "failed", result.error)
        store.event(run_id, "failed", result.error, level="error", data={"traceback": traceback.format_exc()})
        log(f"error: {result.error}")
    return result


def round_fit_info(outcomes: dict[str, FitOutcome], expected: list[str], global_weights: list,
                   server_spent: dict | None = None) -> dict:
    """What each hospital's training reported in one round, and who took part or not.

    Parameters
    ----------
    outcomes : dict of str to FitOutcome
        The hospitals that returned an update, by name.
    expected : list of str
        The hospitals asked to train.
    global_weights : list of np.ndarray
        The weights each hospital receives (their size is the download per hospital).
    server_spent : dict, optional
        The privacy the server's mechanism has spent for every hospital
        (fedcore.privacy.server_spent), added to each hospital's entry.

    Returns
    -------
    dict
        One entry per hospital (its metrics, num_examples, bytes_sent, arrays) and
        ``_round``: participants, failed, bytes_received_each, payload (the arrays' count, shapes, bytes).
    """
    fit_info = {name: {**o.metrics, "num_examples": o.num_examples, "bytes_sent": o.payload_bytes(),
                       "arrays": len(o.weights), **(server_spent or {})} for name, o in outcomes.items()}
    fit_info["_round"] = {"participants": list(outcomes), "failed": [n for n in expected if n not in outcomes],
                          "bytes_received_each": int(sum(w.nbytes for w in global_weights)),
                          "payload": payload.manifest(next(iter(outcomes.values())).weights)}
    return fit_info


def save_round(store: RunStore, run_id: str, server_round: int, state: dict[str, list], metrics: dict[str, dict],
               hospitals: list[str], fit_info: dict, score: float, best: BestTracker, seconds: float) -> bool:
    """Write one completed round: metrics, fairness, training facts, the 'last' and maybe 'best' checkpoint.

    Parameters
    ----------
    state : dict of str to list of np.ndarray
        The models after the round (``{'global': weights}``, or one per hospital in local mode).
    metrics : dict of scope to metrics
        ``global`` (or ``global:<hospital>``) and one entry per hospital evaluated.
    hospitals : list of str
        The hospitals whose metrics enter the fairness summary (those present in ``metrics``).
    score : float
        This round's model-selection score (global AUROC); ``best`` is updated with it.

    Returns
    -------
    bool
        True when this round is the new best.
    """
    fairness = fairness_summary({name: metrics[name] for name in hospitals if name in metrics})
    is_best = best.offer(server_round, score)
    store.record_round(run_id, server_round, metrics, fairness, fit_info, seconds,
                       best.best_round if is_best else None)
    store.save_checkpoint(run_id, "last", server_round, state)
    if is_best:
        store.save_checkpoint(run_id, "best", server_round, state)
    return is_best


def _best_so_far(store: RunStore, run_id: str) -> BestTracker:
    snap = store.snapshot(run_id)
    tracker = BestTracker()
    mode = snap["run"]["mode"]
    by_round: dict[int, list[float]] = {}
    for m in snap["metrics"]:
        if (mode == "local" and m["scope"].startswith("global:")) or (mode != "local" and m["scope"] == "global"):
            by_round.setdefault(m["round"], []).append(m["auroc"])
    for server_round in sorted(by_round):
        tracker.offer(server_round, float(np.nanmean(by_round[server_round])))
    return tracker


def _round_line(server_round: int, rounds: int, metrics: dict, seconds: float,
                hospitals: list[Hospital], mode: str) -> str:
    if mode == "local":
        head = "local models on global test: " + " ".join(
            f"{h.name} auroc {metrics[f'global:{h.name}']['auroc']:.3f}" for h in hospitals)
    else:
        g = metrics["global"]
        head = (f"global acc {g['accuracy']:.3f} auroc {g['auroc']:.3f} sens {g['sensitivity']:.3f} "
                f"spec {g['specificity']:.3f} loss {g['loss']:.3f}")
    per = " | ".join(f"{h.name} acc {metrics[h.name]['accuracy']:.3f}" for h in hospitals)
    return f"round {server_round:>2}/{rounds} ({seconds:5.1f}s)  {head}  | {per}"
