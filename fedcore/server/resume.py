"""Where a resumed run takes up again: which runs may resume, and the strategy state restored."""

from __future__ import annotations

from typing import Sequence

from fedcore.errors import FedXrayError
from fedcore.store import RunStore


def refuse_resume(record: dict) -> None:
    """Raise FedXrayError when a stored run cannot be resumed (still running, or finished).

    Parameters
    ----------
    record : dict
        The run's row (``RunStore.get_run``).
    """
    if record["status"] == "running":
        raise FedXrayError(f"run {record['id']} is still running: stop it before resuming")
    if record["status"] == "finished":
        raise FedXrayError(
            f"run {record['id']} already finished all {record['rounds_total']} rounds"
        )


def server_state(strategy, hospitals: Sequence) -> dict[str, list]:
    """The strategy's state (server moments, SCAFFOLD's c) and each hospital's control variate."""
    return {f"strategy/{k}": v for k, v in strategy.state().items()} | {
        f"control/{h.name}": h.control for h in hospitals if getattr(h, "control", None) is not None
    }


def restore_server_state(
    store: RunStore, run_id: str, done: int, strategy, hospitals: Sequence
) -> None:
    """Continue from the 'server' checkpoint written after round ``done`` (older runs have none);
    FedXrayError when it is from another round than the weights (no exact resume)."""
    if not (store.run_dir(run_id) / "server.npz").exists():
        return
    saved_round, arrays = store.load_checkpoint(run_id, "server")
    if saved_round != done:
        raise FedXrayError(
            f"run {run_id}'s server state is from round {saved_round}, its weights from round "
            f"{done}: it cannot be resumed exactly; train it again"
        )
    strategy.load_state(
        {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("strategy/")}
    )
    for h in hospitals:
        h.control = arrays.get(f"control/{h.name}", h.control)
