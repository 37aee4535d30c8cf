"""The run store: one SQLite database (WAL) plus weight checkpoints, under FEDCORE_HOME.

- :mod:`~fedcore.store.runs`: :class:`RunStore`, the runs, rounds, metrics and events read and written;
- :mod:`~fedcore.store.database`: the SQLite file, its schema, connections and failures in words;
- :mod:`~fedcore.store.checkpoints`: the weight checkpoints, written atomically;
- :mod:`~fedcore.store.liveness`: whether a run's recorded trainer process still lives.
"""

from fedcore.store.database import default_home
from fedcore.store.runs import PROCESS_GONE, STATUSES, RunStore

__all__ = ["PROCESS_GONE", "STATUSES", "RunStore", "default_home"]
