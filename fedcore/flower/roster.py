"""The hospitals a Flower run's server has heard from: their names, their updates in order, their
data summary.

SuperNodes are known to the server by node ids, which change when a SuperNode restarts;
hospitals are known to the run store by name. :class:`Roster` keeps the one for the other,
so that a hospital that comes back keeps its name, and turns a round's replies into the
updates the in-process server would get, in its order.
"""

from __future__ import annotations

from collections.abc import Callable

from fedcore import payload
from fedcore.flower.records import Reply
from fedcore.payload import FitOutcome


class Roster:
    """A name per node id, as each node first answers, and each hospital's class counts."""

    def __init__(self):
        self.names: dict[int, str] = {}
        self.class_counts: dict[str, dict] = {}

    def name(self, node_id: int, reply: Reply | None, connected: list[int]) -> str:
        """The hospital name of ``node_id``, from its first reply that says it.

        A hospital that comes back has a new node id but keeps its name; two connected
        nodes claiming one name (a misconfigured data-path) are told apart by node id.
        """
        if node_id not in self.names:
            name = reply.name if reply is not None and reply.name else f"node {node_id}"
            taken = {
                n for other, n in self.names.items() if other != node_id and other in connected
            }
            self.names[node_id] = f"{name} (node {node_id})" if name in taken else name
        return self.names[node_id]

    def outcomes(
        self,
        replies: dict[int, Reply],
        connected: list[int],
        shapes: list[tuple],
        masked: bool,
        refused: Callable[[str, ValueError], None],
    ) -> dict[str, FitOutcome]:
        """A round's updates by hospital name, in the in-process order, each checked as in-process
        ones are.

        ``refused(name, error)`` is told of a reply that is not a model update (another
        model, a damaged or forged update); that hospital is left out of the round.
        Under SecAgg+ (``masked``) a reply holds no update: only the revealed sum exists.
        """
        outcomes: dict[str, FitOutcome] = {}
        for node_id in sorted(replies, key=lambda n: order(replies[n], n)):
            reply = replies[node_id]
            name = self.name(node_id, reply, connected)
            self.class_counts[name] = reply.class_counts
            try:
                outcome = reply.outcome(shapes, masked)
                payload.check(outcome, shapes, masked=masked)
            except ValueError as exc:
                refused(name, exc)
                continue
            outcomes[name] = outcome
        return outcomes

    def data_summary(self, global_test) -> dict:
        """The run's data summary for the store: what each hospital said it holds."""
        return {
            "source": "Flower SuperNodes, each reading its own data-path",
            "hospitals": dict(self.class_counts),
            "global_test": global_test.class_counts(),
            "skipped": [],
            "notes": ["runtime=flower"],
        }


def order(reply: Reply, node_id: int) -> tuple:
    """Sort key of a reply: the in-process order (by position in the federation), which makes the
    float sums identical."""
    return reply.partition_id, reply.name or "", node_id
