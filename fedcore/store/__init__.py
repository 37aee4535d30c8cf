"""The run store: one SQLite database (WAL) plus weight checkpoints, under FEDCORE_HOME.

May import from fedcore: errors, npy, config.

(config: a stored run's settings are read back as the types RunConfig declares, or its record
is reported damaged.)
"""

from fedcore.store.database import default_home
from fedcore.store.runs import PROCESS_GONE, STATUSES, RunStore

__all__ = ["PROCESS_GONE", "STATUSES", "RunStore", "default_home"]
