"""Where a resumed run takes up again: which runs may resume, and the strategy state restored."""

from __future__ import annotations

from typing import Sequence

from fedcore.errors import FedXrayError
from fedcore.store import RunStore


def refuse_resume(record: dict, runtime: str = "in-process") -> None:
    """Raise FedXrayError when a stored run cannot be resumed (still running, or finished) by this
    ``runtime``.

    Parameters
    ----------
    record : dict
        The run's row (``RunStore.get_run``).
    runtime : {'in-process', 'flower'}
        Who resumes it. A Flower run's hospitals are SuperNodes on their own machines, so it
        resumes over Flower only; an in-process run, in process only.
    """
    run_id = record["id"]
    if record["status"] == "running":
        raise FedXrayError(f"run {run_id} is still running: stop it before resuming")
    if record["status"] == "finished":
        raise FedXrayError(f"run {run_id} already finished all {record['rounds_total']} rounds")
    ran = "flower" if (record["config"].get("extra") or {}).get("runtime") == "flower" else ""
    if ran == "flower" and runtime != "flower":
        raise FedXrayError(
            f"run {run_id} ran over Flower, on the hospitals' own machines: resume it there, with "
            f"`flwr run . CONNECTION --run-config 'resume=\"{run_id}\" ...'` and the run config "
            "it started with (docs/flower.md)"
        )
    if runtime == "flower" and ran != "flower":
        raise FedXrayError(
            f"run {run_id} trained in process: resume it with "
            f"`python -m fedcore train --resume {run_id}`"
        )


def server_state(strategy, hospitals: Sequence) -> dict[str, list]:
    """The strategy's state (server moments, SCAFFOLD's c), each hospital's control variate and,
    under FedBN, the weights whose normalisation each hospital keeps."""
    return (
        {f"strategy/{k}": v for k, v in strategy.state().items()}
        | {
            f"control/{h.name}": h.control
            for h in hospitals
            if getattr(h, "control", None) is not None
        }
        | {f"local/{h.name}": h.local for h in hospitals if getattr(h, "local", None) is not None}
    )


def read_server_state(
    store: RunStore, run_id: str, done: int, needed: bool, shapes: Sequence[tuple]
) -> dict[str, list] | None:
    """The strategy's state saved with round ``done`` (the 'server' checkpoint), checked against
    the model's ``shapes``; None when there is none and the strategy keeps nothing.

    Parameters
    ----------
    needed : bool
        Whether the run's strategy carries state between rounds (``strategies.keeps_state``).

    Raises
    ------
    FedXrayError
        When the state is needed and its file is missing, or it is from another round than
        the weights: resuming would not continue the run exactly.
    """
    path = store.run_dir(run_id) / "server.npz"
    if not path.exists():
        if needed:
            raise FedXrayError(
                f"run {run_id} cannot be resumed exactly: its server state {path} is missing "
                "(deleted or moved), and its strategy's state (server momentum, SCAFFOLD's "
                "control variates, FedBN's hospital normalisation) would restart from zero: "
                "put the file back, or train the run again"
            )
        return None
    saved_round, arrays = store.load_checkpoint(run_id, "server", shapes)
    if saved_round != done:
        raise FedXrayError(
            f"run {run_id}'s server state is from round {saved_round}, its weights from round "
            f"{done}: it cannot be resumed exactly; train it again"
        )
    return arrays


def restore_server_state(arrays: dict[str, list], strategy, hospitals: Sequence) -> None:
    """Give the strategy and each hospital the state :func:`read_server_state` read."""
    strategy.load_state(
        {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("strategy/")}
    )
    for h in hospitals:
        h.control = arrays.get(f"control/{h.name}", h.control)
        h.local = arrays.get(f"local/{h.name}", h.local)
