"""What a FedXray message holds (fedcore.flower.records), bit for bit, and its SecAgg+ legacy form.

No SuperLink: records are built and read back in process.
"""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import ConfigRecord, MetricRecord, RecordDict

from fedcore.flower import records
from fedcore.flower.packing import pack, unpack
from fedcore.flower.secagg_legacy import flatten, unflatten
from fedcore.payload import FitOutcome

WEIGHTS = [
    np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
    np.array([1e-38, -0.0, np.inf], np.float32),
]
SHAPES = [w.shape for w in WEIGHTS]


def same_bits(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(x.tobytes() == y.tobytes() and x.shape == y.shape for x, y in zip(a, b))


def test_instructions_carry_weights_config_and_control_bit_for_bit():
    # Prepare
    control = [w * 3 for w in WEIGHTS]

    # Execute
    content = records.instructions(
        WEIGHTS, {"server-round": 2, "learning-rate": 0.1}, control=control
    )
    weights, config, got_control = records.read_instructions(content, SHAPES)

    # Assert: one packed array per record, and everything back as sent
    assert [len(content[name]) for name in ("arrays", "control")] == [1, 1]
    assert same_bits(weights, WEIGHTS) and same_bits(got_control, control)
    assert config == {"server-round": 2, "learning-rate": 0.1}
    assert records.read_instructions(records.instructions(WEIGHTS, {}), SHAPES)[2] is None


def test_a_hospitals_own_control_rides_with_the_instructions_to_it_alone_bit_for_bit():
    # Prepare
    content = records.instructions(WEIGHTS, {"server-round": 2}, control=WEIGHTS)
    own = [w * 5 for w in WEIGHTS]

    # Execute
    for_one = records.with_own_control(content, own)

    # Assert: the same weights and control, plus its own; the shared content is unchanged
    assert same_bits(records.read_own_control(for_one, SHAPES), own)
    assert same_bits(records.read_instructions(for_one, SHAPES)[0], WEIGHTS)
    assert records.read_own_control(content, SHAPES) is None and "own-control" not in content


def test_a_train_reply_reads_back_as_the_hospitals_outcome():
    # Prepare
    outcome = FitOutcome(WEIGHTS, 7, {"train_loss": 0.25, "fit_seconds": 1.5})
    counts = {"train": {"NORMAL": 3, "PNEUMONIA": 4}, "test": {"NORMAL": 1}}

    # Execute
    reply = records.read_reply(records.train_reply("hospital_2", 1, outcome, counts))
    back = reply.outcome(SHAPES)

    # Assert: who it is, its counts and its figures each in their own record
    assert (reply.name, reply.partition_id, reply.class_counts) == ("hospital_2", 1, counts)
    assert reply.metrics == {"num-examples": 7, "train_loss": 0.25, "fit_seconds": 1.5}
    assert same_bits(back.weights, WEIGHTS)
    assert (back.num_examples, back.metrics) == (7, {"train_loss": 0.25, "fit_seconds": 1.5})
    assert reply.outcome(SHAPES, masked=True).weights == []


def test_evaluate_and_query_replies_hold_who_and_the_metrics_only():
    metrics = {"loss": 0.5, "n": 4, "auroc": float("nan"), "val_count:tp@0.5": 2}
    evaluated = records.read_reply(records.evaluate_reply("hospital_1", 0, metrics))
    assert evaluated.metrics.keys() == metrics.keys() and evaluated.metrics["n"] == 4
    assert evaluated.arrays == [] and evaluated.class_counts == {}
    asked = records.read_reply(records.identity("hospital_3", 2))
    assert (asked.name, asked.partition_id, asked.metrics) == ("hospital_3", 2, {})
    assert records.read_reply(RecordDict()).name is None


def test_a_reply_must_hold_one_packed_update():
    two = records.Reply("hospital_1", 0, {"num-examples": 5}, arrays=list(WEIGHTS))
    with pytest.raises(ValueError, match="2 arrays"):
        two.outcome(SHAPES)
    short = records.Reply("hospital_1", 0, {"num-examples": 5}, arrays=[pack(WEIGHTS)[:8]])
    with pytest.raises(ValueError, match="not the model's 9 packed values"):
        short.outcome(SHAPES)


def test_weights_travel_packed_bit_for_bit_and_a_wrong_size_is_refused():
    flat = pack(WEIGHTS)
    assert flat.shape == (9,) and flat.dtype == np.float32
    assert same_bits(unpack(flat, SHAPES), WEIGHTS)
    with pytest.raises(ValueError, match="not the model's 9 packed values"):
        unpack(flat[:8], SHAPES)
    with pytest.raises(ValueError, match="several dtypes"):
        pack([WEIGHTS[0], np.zeros(2, np.float64)])


def test_secagg_legacy_metrics_carry_every_scalar_record_and_no_array():
    # Prepare: a train reply's records, as the hospital's handler writes them
    content = records.train_reply(
        "hospital_1", 0, FitOutcome(WEIGHTS, 5, {"train_loss": 0.5}), {"train": {"NORMAL": 5}}
    )

    # Execute: into a legacy FitRes's metrics and back
    flat = flatten(content)
    back = records.read_reply(unflatten(flat))

    # Assert
    assert flat["hospital/name"] == "hospital_1" and flat["class-counts/train:NORMAL"] == 5
    assert not any(key.startswith("arrays") for key in flat)
    assert (back.name, back.metrics, back.class_counts, back.arrays) == (
        "hospital_1",
        {"num-examples": 5, "train_loss": 0.5},
        {"train": {"NORMAL": 5}},
        [],
    )
    assert isinstance(unflatten({"m/x": 1})["m"], ConfigRecord)
    assert isinstance(content["metrics"], MetricRecord)
