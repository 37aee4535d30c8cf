"""What a FedXray message holds, in Flower's Message API: written and read only here.

Server to hospital (``train``, ``evaluate``):

- ``arrays`` (ArrayRecord): the global weights, packed into one array
  (:mod:`fedcore.flower.packing`);
- ``config`` (ConfigRecord): ``server-round`` and the strategy's scalar instructions in
  kebab-case (``learning-rate``, ``proximal-mu``);
- ``control`` (ArrayRecord, SCAFFOLD only): the server's control variate, packed;
- ``own-control`` (ArrayRecord, SCAFFOLD only, train): the hospital's own control variate as
  the server last saw it, packed, when this node may not hold it (the first round of a resumed
  run). The server computes it from the hospital's updates, which it sees anyway.

Hospital to server (``train``, ``evaluate`` and the ``query`` before round 1):

- ``hospital`` (ConfigRecord): its ``name`` and ``partition-id``;
- ``metrics`` (MetricRecord): its figures; a train reply's include ``num-examples``, the
  number of training images, as in Flower's quickstart;
- ``class-counts`` (MetricRecord, train): images per split and label, ``train:NORMAL``;
- ``arrays`` (ArrayRecord, train): its updated weights, packed.

Never images or labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from fedcore.flower.packing import pack, unpack
from fedcore.payload import FitOutcome

ARRAYS, CONFIG, CONTROL, OWN_CONTROL = "arrays", "config", "control", "own-control"
HOSPITAL, METRICS, CLASS_COUNTS = "hospital", "metrics", "class-counts"
NUM_EXAMPLES = "num-examples"
SERVER_ROUND = "server-round"


@dataclass
class Reply:
    """A hospital's reply as the server reads it.

    ``arrays`` are the arrays received, as sent (one packed update, or none under
    SecAgg+); ``name`` is None when the reply does not say who sent it.
    """

    name: str | None
    partition_id: int
    metrics: dict
    arrays: list[np.ndarray] = field(default_factory=list)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def outcome(self, shapes: list[tuple], masked: bool = False) -> FitOutcome:
        """The update of a train reply, unpacked to ``shapes`` (under SecAgg+: no arrays).

        Raises
        ------
        ValueError
            When the reply holds other than one packed update of the model's size.
        """
        figures = {k: v for k, v in self.metrics.items() if k != NUM_EXAMPLES}
        num_examples = self.metrics.get(NUM_EXAMPLES)
        if masked:
            return FitOutcome([], num_examples, figures)
        if len(self.arrays) != 1:
            raise ValueError(
                f"update of {len(self.arrays)} arrays, not the one packed array of the model's "
                "weights"
            )
        return FitOutcome(unpack(self.arrays[0], shapes), num_examples, figures)


def instructions(
    weights: list[np.ndarray], config: dict, control: list[np.ndarray] | None = None
) -> RecordDict:
    """A train or evaluate message's content: the packed weights, ``config`` and SCAFFOLD's
    control variate."""
    content = RecordDict({ARRAYS: ArrayRecord([pack(weights)]), CONFIG: ConfigRecord(config)})
    if control is not None:
        content[CONTROL] = ArrayRecord([pack(control)])
    return content


def with_own_control(content: RecordDict, own_control: list[np.ndarray]) -> RecordDict:
    """``content`` for one hospital, with its own control variate (its other records shared)."""
    return RecordDict({**content, OWN_CONTROL: ArrayRecord([pack(own_control)])})


def read_instructions(content: RecordDict, shapes: list[tuple]) -> tuple[list, dict, list | None]:
    """(weights, config, control variate or None) of :func:`instructions`' content."""
    (packed,) = content[ARRAYS].to_numpy_ndarrays()
    return unpack(packed, shapes), dict(content[CONFIG]), _arrays(content, CONTROL, shapes)


def read_own_control(content: RecordDict, shapes: list[tuple]) -> list[np.ndarray] | None:
    """The hospital's own control variate of :func:`with_own_control`'s content, or None."""
    return _arrays(content, OWN_CONTROL, shapes)


def _arrays(content: RecordDict, name: str, shapes: list[tuple]) -> list[np.ndarray] | None:
    if name not in content:
        return None
    (packed,) = content[name].to_numpy_ndarrays()
    return unpack(packed, shapes)


def identity(name: str, partition_id: int) -> RecordDict:
    """A reply that says only who the hospital is (the answer to the ``query`` before round 1)."""
    return RecordDict({HOSPITAL: ConfigRecord({"name": name, "partition-id": partition_id})})


def train_reply(
    name: str, partition_id: int, outcome: FitOutcome, class_counts: dict[str, dict[str, int]]
) -> RecordDict:
    """A train reply: the packed update, ``num-examples`` and the figures, the class counts."""
    content = identity(name, partition_id)
    content[ARRAYS] = ArrayRecord([pack(outcome.weights)])
    content[METRICS] = MetricRecord({NUM_EXAMPLES: outcome.num_examples, **outcome.metrics})
    content[CLASS_COUNTS] = MetricRecord(
        {
            f"{split}:{label}": n
            for split, counts in class_counts.items()
            for label, n in counts.items()
        }
    )
    return content


def evaluate_reply(name: str, partition_id: int, metrics: dict) -> RecordDict:
    """An evaluate reply: the hospital's test metrics and its threshold counts."""
    content = identity(name, partition_id)
    content[METRICS] = MetricRecord(metrics)
    return content


def read_reply(content: RecordDict) -> Reply:
    """A hospital's reply (train, evaluate or query), whichever records it holds."""
    who = dict(content[HOSPITAL]) if HOSPITAL in content else {}
    class_counts: dict[str, dict[str, int]] = {}
    for key, n in (content[CLASS_COUNTS] if CLASS_COUNTS in content else {}).items():
        split, label = key.split(":", 1)
        class_counts.setdefault(split, {})[label] = int(n)
    return Reply(
        name=str(who["name"]) if "name" in who else None,
        partition_id=int(who.get("partition-id", 0)),
        metrics=dict(content[METRICS]) if METRICS in content else {},
        arrays=content[ARRAYS].to_numpy_ndarrays() if ARRAYS in content else [],
        class_counts=class_counts,
    )
