"""How a run is asked to stop and how it ended: what the engine and its callers share."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


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
