"""A run's weight checkpoints ('last', 'best', 'server'), as .npz files under the store's folder,
written atomically and checked whole before any of their weights is used.

A checkpoint is refused with one line naming it when what it would take once loaded
(read from the zip directory and the arrays' headers, before anything is inflated) is over
the budget, when its arrays are not the ones its record lists (names, count, floating-point
dtypes, the shapes written with it or those of the model it is loaded into), when its
record has the wrong types or a round outside the run, or when a weight is NaN or infinite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from fedcore.errors import FedXrayError
from fedcore.store.weights_archive import check_weights, read_weights_archive

META = "__meta__"


class CheckpointFiles:
    """The runs' checkpoint files under ``self.home``, mixed into :class:`~fedcore.store.RunStore`.

    Its ``get_run`` tells the checkpoint of a run that never completed a round from one
    that went missing, so the error says which, and bounds the round a checkpoint may hold.
    """

    home: Path

    def run_dir(self, run_id: str) -> Path:
        """Folder of a run's checkpoints."""
        return self.home / run_id

    def save_checkpoint(
        self, run_id: str, name: str, server_round: int, models: dict[str, list]
    ) -> Path:
        """Write weights atomically (temp file, then rename) as ``name``.npz: 'last' or 'best'.

        Parameters
        ----------
        models : dict of str to list of np.ndarray
            ``{'global': weights}`` or, in local mode, one weight list per hospital.
        """
        target = self.run_dir(run_id) / f"{name}.npz"
        os.replace(self.stage_checkpoint(run_id, name, server_round, models), target)
        return target

    def stage_checkpoint(
        self, run_id: str, name: str, server_round: int, models: dict[str, list]
    ) -> Path:
        """Write a checkpoint to its temp file and return it; renaming it to ``name``.npz is the
        caller's (:meth:`save_checkpoint`, or a round recorded with its checkpoints).

        Raises
        ------
        FedXrayError
            When it cannot be written (a full disk): no temp file is left behind.
        """
        self.refuse_writes()
        folder = self.run_dir(run_id)
        arrays = {
            f"{model}/{i}": w for model, weights in models.items() for i, w in enumerate(weights)
        }
        meta = {
            "round": server_round,
            "models": {m: len(w) for m, w in models.items()},
            "shapes": {m: [list(np.shape(a)) for a in w] for m, w in models.items()},
        }
        arrays[META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        tmp = folder / f".{name}.tmp.npz"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            np.savez(tmp, **arrays)
        except OSError as exc:
            tmp.unlink(missing_ok=True)  # never leave half a checkpoint behind
            raise FedXrayError(
                f"cannot write the '{name}' checkpoint of round {server_round} to {folder} "
                f"({exc.strerror or exc}): free some space; the run keeps its last completed "
                "checkpoint and can be resumed"
            ) from exc
        return tmp

    def load_checkpoint(
        self, run_id: str, name: str = "best", shapes: Sequence[tuple] | None = None
    ) -> tuple[int, dict[str, list]]:
        """(round, models) of a checkpoint, checked whole (see the module's docstring).

        Parameters
        ----------
        shapes : sequence of tuple, optional
            The shapes of the model the weights are for, in order: every model of the
            checkpoint must have exactly these.

        Raises
        ------
        FedXrayError
            When the run has no such checkpoint, or it cannot be used: one line naming it.
        """
        path = self.run_dir(run_id) / f"{name}.npz"
        if not path.exists():
            done = self.get_run(run_id)["rounds_done"]
            if not done:
                raise FedXrayError(
                    f"run {run_id} has no '{name}' checkpoint yet: it completed no round"
                )
            raise FedXrayError(
                f"run {run_id} completed {done} round(s) but its '{name}' checkpoint {path} is "
                "missing (deleted or moved, or never written): "
                "use the other checkpoint, or retrain the run"
            )
        what = f"the '{name}' checkpoint {path} of run {run_id}"
        advice = (
            "it holds the strategy's state, without which the run cannot resume exactly: "
            "put back an undamaged copy, or train the run again"
            if name == "server"
            else "move it aside; the run's other checkpoint still works"
        )
        arrays = read_weights_archive(path, what, advice)
        rounds = self.get_run(run_id)["rounds_total"]
        server_round, counts, claimed = _meta(arrays.pop(META, None), what, advice, rounds)
        _check_names(arrays, counts, what, advice, allow_empty=name == "server")
        models = {m: [arrays[f"{m}/{i}"] for i in range(n)] for m, n in counts.items()}
        for model, weights in models.items():
            label = f"{what}, model '{model}'"
            check_weights(weights, label, advice, claimed.get(model), "its record")
            check_weights(weights, label, advice, shapes, "the run's model")
        return server_round, models


def _meta(raw, what: str, advice: str, rounds: int) -> tuple[int, dict, dict]:
    """(round, arrays per model, shapes per model as written) from a checkpoint's record."""
    try:
        if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError("no readable record of its round and models")
        meta = json.loads(raw.tobytes().decode())
    except (ValueError, RecursionError) as exc:
        raise FedXrayError(f"{what} is damaged ({str(exc)[:200]}); {advice}") from exc
    problem = None
    if not isinstance(meta, dict):
        problem = "its record is not an object"
    elif type(meta.get("round")) is not int or not 1 <= meta["round"] <= rounds:
        problem = f"its round is {str(meta.get('round'))[:40]}, not a round from 1 to {rounds}"
    elif not isinstance(meta.get("models"), dict) or not all(
        type(n) is int and n >= 1 for n in meta["models"].values()
    ):
        problem = f"its models are {str(meta.get('models'))[:80]}, not {{name: number of arrays}}"
    elif not _shape_lists(meta.get("shapes", {})):
        problem = "its shapes are not lists of whole numbers per model"
    if problem:
        raise FedXrayError(f"{what} is damaged: {problem}; {advice}")
    return meta["round"], meta["models"], meta.get("shapes", {})


def _shape_lists(shapes) -> bool:
    """Whether a record's shapes are {model: [[int, ...], ...]}."""
    return isinstance(shapes, dict) and all(
        isinstance(v, list)
        and all(isinstance(s, list) and all(type(d) is int and d >= 0 for d in s) for s in v)
        for v in shapes.values()
    )


def _check_names(
    arrays: dict, counts: dict[str, int], what: str, advice: str, allow_empty: bool
) -> None:
    """The archive holds exactly the arrays its record lists, and at least one model."""
    listed = sum(counts.values())
    if listed != len(arrays):
        raise FedXrayError(
            f"{what} holds {len(arrays)} arrays where its record lists {listed}; {advice}"
        )
    missing = sorted({f"{m}/{i}" for m, n in counts.items() for i in range(n)} - set(arrays))
    if missing or not (listed or allow_empty):
        found = f"lacks {', '.join(missing[:3])}" if missing else "holds no model"
        raise FedXrayError(f"{what} {found}; {advice}")
