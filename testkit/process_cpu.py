"""CPU seconds a round costs: the in-process engine's beside a Flower deployment's processes.

A Flower round runs the hospitals' work plus the transport (SuperLink, SuperNodes, the
executors' and the ServerApp's messaging). On a machine with few cores that CPU, not the
network, sets the round's pace: ``cpu / cores`` is a floor on its seconds. Both are read over
rounds 2 to N (round 1 also starts things), from /proc for the deployment and from
``time.process_time`` for the in-process engine.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from fedcore.store import RunStore
from testkit.store_watch import StoreWatch

# Command-line marks of a deployment's processes, by the role a reader knows them by.
ROLES = {
    "flower-superlink": "SuperLink",
    "fedcore.flower.supernode": "SuperNodes",
    "fedcore.flower.executor": "executors",
    "flwr-serverapp": "ServerApp",
}
TICKS = os.sysconf("SC_CLK_TCK")
ROUND_LINE = re.compile(r"round\s+(\d+)/(\d+) ")


def cpu_by_role(pids: list[int]) -> dict[str, float]:
    """User + system CPU seconds each role's processes have spent so far (others: 'other')."""
    spent: dict[str, float] = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        role = next((name for mark, name in ROLES.items() if mark in command), "other")
        spent[role] = spent.get(role, 0.0) + (int(stat[11]) + int(stat[12])) / TICKS
    return spent


class InProcessCPU:
    """A log callback for ``engine.run`` that notes this process's CPU at the end of round 1 and
    of the last round; :attr:`per_round` is then the CPU seconds per round in between."""

    def __init__(self):
        self._marks: dict[int, float] = {}
        self.per_round: float | None = None

    def __call__(self, line: str) -> None:
        found = ROUND_LINE.match(line)
        if found:
            done, rounds = int(found[1]), int(found[2])
            self._marks[done] = time.process_time()
            if done == rounds and rounds > 1:
                self.per_round = (self._marks[done] - self._marks[1]) / (rounds - 1)


class DeploymentCPU(StoreWatch):
    """Reads a deployment's processes' CPU when its run has recorded round 1 and when it has
    recorded ``rounds``, looking at the run store every 0.1 s.

    Parameters
    ----------
    pids : callable
        The deployment's live process ids (``LoopbackFederation.leftovers``).
    store : RunStore
        Where the run records its rounds.
    rounds : int
    """

    def __init__(self, pids, store: RunStore, rounds: int):
        super().__init__(store, every=0.1)
        self.pids, self.rounds = pids, rounds
        self._at: dict[int, dict[str, float]] = {}

    @property
    def per_round(self) -> dict[str, float] | None:
        """CPU seconds per round of each role over rounds 2 to N (None if not both seen)."""
        if self.rounds < 2 or 1 not in self._at or self.rounds not in self._at:
            return None
        first, last = self._at[1], self._at[self.rounds]
        return {role: (last[role] - first.get(role, 0.0)) / (self.rounds - 1) for role in last}

    def look(self, runs: list[dict]) -> bool:
        done = (runs[0].get("rounds_done") or 0) if runs else 0
        for mark in (1, self.rounds):
            if done >= mark and mark not in self._at:
                self._at[mark] = cpu_by_role(self.pids())
        return len(self._at) == 2
