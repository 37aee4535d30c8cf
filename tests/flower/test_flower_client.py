"""The ClientApp's Message API handlers (query, train, evaluate), called in process with a stand-in
hospital: no SuperLink, no TensorFlow."""

from __future__ import annotations

import time

import numpy as np
import pytest
from flwr.app import Context, Message, MessageType, Metadata, RecordDict

from fedcore.flower import client_app, records
from fedcore.payload import FitOutcome
from fedcore.strategies.drift import CONTROL_KEY

SHAPES = [(2, 3), (3,)]
WEIGHTS = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)]


class StandInData:
    def summary(self) -> dict:
        return {"train": {"NORMAL": 3, "PNEUMONIA": 5}}


class StandInHospital:
    """What the handlers use of fedcore.hospital.training.Hospital."""

    name, index, data = "hospital_2", 1, StandInData()

    def __init__(self, control=None):
        self.control = control
        self.asked = []
        self.warmed_up = False

    def warm_up(self):
        self.warmed_up = True

    def fit(self, weights, server_round, instructions):
        self.asked.append((server_round, instructions, self.control))
        if CONTROL_KEY in instructions:
            self.control = [c + 1 for c in instructions[CONTROL_KEY]]
        return FitOutcome([w + 1 for w in weights], 8, {"train_loss": 0.5})

    def evaluate_report(self, weights):
        return {"loss": 0.3, "n": 4, "test_count:tp@0.5": 2}

    def validation_counts(self, weights):
        return {"val_count:tp@0.5": 1}


@pytest.fixture
def hospital(monkeypatch):
    """A stand-in hospital in the ClientApp's cache, as the run's first message would build it."""
    context = Context(5, 9, {"partition-id": 1}, RecordDict(), {})
    stand_in = StandInHospital()
    cache = {(5, (("partition-id", 1),)): (stand_in, SHAPES)}
    monkeypatch.setattr(client_app, "_hospitals", cache)
    return stand_in, context


def send(content: RecordDict, kind: str, context: Context) -> records.Reply:
    """The reply of the ClientApp to one message, read as the server reads it."""
    metadata = Metadata(5, "message-1", 1, 9, "", "1", time.time(), 60.0, kind)
    reply = client_app.app(Message(content, metadata=metadata), context)
    return records.read_reply(reply.content)


def test_query_says_who_the_hospital_is_and_warms_its_steps_up(hospital):
    stand_in, context = hospital
    reply = send(RecordDict(), MessageType.QUERY, context)
    assert (reply.name, reply.partition_id) == ("hospital_2", 1)
    assert stand_in.warmed_up  # before round 1, as the in-process engine does


def test_train_passes_the_round_and_instructions_and_returns_the_update(hospital):
    stand_in, context = hospital
    content = records.instructions(WEIGHTS, {"server-round": 3, "learning-rate": 0.1})

    reply = send(content, MessageType.TRAIN, context)

    assert stand_in.asked == [(3, {"learning_rate": 0.1}, None)]
    outcome = reply.outcome(SHAPES)
    assert [w.tolist() for w in outcome.weights] == [(w + 1).tolist() for w in WEIGHTS]
    assert (outcome.num_examples, outcome.metrics) == (8, {"train_loss": 0.5})
    assert reply.class_counts == {"train": {"NORMAL": 3, "PNEUMONIA": 5}}


def test_scaffold_control_arrives_and_the_hospitals_own_stays_in_the_node_state(hospital):
    # Prepare: round 1 leaves the hospital's control variate in the context state
    stand_in, context = hospital
    server_control = [np.full(s, 2.0, np.float32) for s in SHAPES]
    asked = records.instructions(WEIGHTS, {"server-round": 1}, control=server_control)
    send(asked, MessageType.TRAIN, context)
    kept = context.state[client_app.CONTROL_STATE].to_numpy_ndarrays()

    # Execute: round 2, with the process's hospital forgetting its control variate
    stand_in.control = None
    send(records.instructions(WEIGHTS, {"server-round": 2}, server_control), "train", context)

    # Assert: the server's control variate reached fit, and round 2 started from the kept one
    assert [c.tolist() for c in stand_in.asked[0][1][CONTROL_KEY]] == [
        c.tolist() for c in server_control
    ]
    assert [c.tolist() for c in stand_in.asked[1][2]] == [c.tolist() for c in kept]


def test_a_hospitals_own_control_from_the_server_replaces_the_node_states(hospital):
    # Prepare: the node state holds a control variate (from an earlier round of this run)
    stand_in, context = hospital
    server_control = [np.full(s, 2.0, np.float32) for s in SHAPES]
    send(records.instructions(WEIGHTS, {"server-round": 1}, server_control), "train", context)
    own = [np.full(s, 7.0, np.float32) for s in SHAPES]

    # Execute: the server sends it its own, as in the first round of a resumed run
    content = records.instructions(WEIGHTS, {"server-round": 2}, server_control)
    send(records.with_own_control(content, own), MessageType.TRAIN, context)

    # Assert: round 2 trained from the control variate the server sent
    assert [c.tolist() for c in stand_in.asked[1][2]] == [c.tolist() for c in own]


def test_evaluate_returns_test_metrics_and_validation_counts(hospital):
    _, context = hospital
    reply = send(records.instructions(WEIGHTS, {"server-round": 1}), "evaluate", context)
    assert reply.metrics == {"loss": 0.3, "n": 4, "test_count:tp@0.5": 2, "val_count:tp@0.5": 1}
