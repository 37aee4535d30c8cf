"""A run's weight checkpoints, 'last' and 'best': .npz files under the store's folder."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from fedcore.errors import FedXrayError


class CheckpointFiles:
    """The runs' checkpoint files under ``self.home``, mixed into :class:`~fedcore.store.RunStore`.

    Its ``get_run`` tells the checkpoint of a run that never completed a round from one
    that went missing, so the error says which.
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
        meta = {"round": server_round, "models": {m: len(w) for m, w in models.items()}}
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
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

    def load_checkpoint(self, run_id: str, name: str = "best") -> tuple[int, dict[str, list]]:
        """(round, models) of a checkpoint; FedXrayError when the run has none yet."""
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
        try:
            with np.load(path, allow_pickle=False) as archive:
                meta = json.loads(archive["__meta__"].tobytes().decode())
                models = {
                    m: [archive[f"{m}/{i}"] for i in range(n)] for m, n in meta["models"].items()
                }
            return int(meta["round"]), models
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            raise FedXrayError(
                f"the '{name}' checkpoint {path} of run {run_id} is damaged ({exc}): "
                "move it aside; the run's other checkpoint still works"
            ) from exc
