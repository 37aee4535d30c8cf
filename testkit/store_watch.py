"""A look at a run store every few milliseconds, from a thread, while a run goes on elsewhere.

Tests and benchmarks use it to see what the dashboard would see during a run (its heartbeat,
its rounds) without waiting for the run to end.
"""

from __future__ import annotations

import threading

from fedcore.store import RunStore


class StoreWatch:
    """Calls :meth:`look` with the store's runs (newest first) every ``every`` seconds, from a
    thread that runs while the watch is used as a context manager, until :meth:`look` returns
    True.

    Parameters
    ----------
    store : RunStore
    every : float, default 0.05
    """

    def __init__(self, store: RunStore, every: float = 0.05):
        self.store, self.every = store, every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(5)

    def look(self, runs: list[dict]) -> bool:
        """One look at the runs; True when there is nothing more to look for."""
        raise NotImplementedError

    def _watch(self) -> None:
        while not self._done.wait(self.every):
            if self.look(self.store.list_runs()):
                return
