"""The Flower ServerApp's pure helpers and the books it shares with the in-process loop (no
SuperLink)."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters

from fedcore.data import Split
from fedcore.flower import server_app as server
from fedcore.flower.packing import pack, unpack
from fedcore.payload import FitOutcome, check
from fedcore.server.fit_facts import round_fit_info

WEIGHTS = [np.zeros((2, 3), np.float32), np.zeros(3, np.float32)]  # 24 + 12 bytes


def test_instructions_travel_in_kebab_case():
    assert server._flower_keys({"learning_rate": 0.1, "server_round": 2}) == {
        "learning-rate": 0.1,
        "server-round": 2,
    }


def test_replies_are_ordered_as_the_in_process_federation():
    replies = {
        9: {"partition-id": 2, "hospital": "hospital_3"},
        4: {"partition-id": 0, "hospital": "hospital_1"},
        7: {"partition-id": 1, "hospital": "hospital_2"},
    }
    ordered = sorted(replies, key=lambda node: server._order(replies[node], node))
    assert ordered == [4, 7, 9]


def test_a_returning_hospital_keeps_its_name_and_a_clash_is_told_apart():
    known = {11: "hospital_1"}
    # hospital_1 comes back under a new node id after its old node left
    assert server._name({"hospital": "hospital_1"}, 12, known, connected=[12]) == "hospital_1"
    # two connected nodes claim one name (a misconfigured data-path)
    assert (
        server._name({"hospital": "hospital_1"}, 12, known, connected=[11, 12])
        == "hospital_1 (node 12)"
    )
    assert server._name({}, 5, {}, connected=[5]) == "node 5"


def test_identity_and_counts_are_not_metrics():
    metrics = {
        "hospital": "hospital_1",
        "partition-id": 0,
        "count:train:NORMAL": 3,
        "train_loss": 0.4,
    }
    assert server._strip(metrics) == {"train_loss": 0.4}
    assert server._summary(metrics) == {"train": {"NORMAL": 3}}


def test_data_summary_names_the_runtime():
    global_test = Split(np.zeros((3, 4, 4), np.uint8), np.array([0, 1, 1]))
    summary = server._data_summary({"hospital_1": {"train": {"NORMAL": 3}}}, global_test)
    assert summary["hospitals"] == {"hospital_1": {"train": {"NORMAL": 3}}}
    assert summary["notes"] == ["runtime=flower"] and summary["skipped"] == []


def test_bytes_moved_counts_a_masked_update_as_a_model_sized_one():
    plain = {"h1": FitOutcome(WEIGHTS, 5), "h2": FitOutcome(WEIGHTS, 7)}
    masked = {"h1": FitOutcome([], 5), "h2": FitOutcome([], 7)}
    # 3 nodes asked, 3 evaluated: 6 downloads of 36 bytes, and 2 uploads of 36 bytes
    assert server._bytes_moved(plain, WEIGHTS, 3, 3) == 36 * 8
    assert server._bytes_moved(masked, WEIGHTS, 3, 3) == 36 * 8


def test_fit_facts_under_secure_aggregation_take_bytes_from_the_model():
    info = round_fit_info({"h1": FitOutcome([], 5, {"fit_seconds": 1.0})}, ["h1", "h2"], WEIGHTS)
    assert info["h1"]["bytes_sent"] == 36 and info["h1"]["arrays"] == 2
    assert info["_round"]["payload"]["bytes"] == 36 and info["_round"]["failed"] == ["h2"]


def test_a_masked_outcome_must_hold_no_arrays_but_is_otherwise_checked():
    shapes = [w.shape for w in WEIGHTS]
    check(FitOutcome([], 5, {"train_loss": 0.2}), shapes, masked=True)
    with pytest.raises(ValueError, match="not the model"):
        check(FitOutcome(WEIGHTS, 5), shapes, masked=True)
    with pytest.raises(ValueError, match="not a number"):
        check(FitOutcome([], 5, {"labels": "0,1"}), shapes, masked=True)


def test_weights_travel_packed_bit_for_bit_and_a_wrong_size_is_refused():
    # Prepare
    weights = [
        np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
        np.array([1e-38, -0.0, np.inf], np.float32),
    ]
    shapes = [w.shape for w in weights]

    # Execute
    flat = pack(weights)
    back = unpack(flat, shapes)

    # Assert
    assert flat.shape == (9,) and flat.dtype == np.float32
    assert all(a.tobytes() == b.tobytes() and a.shape == b.shape for a, b in zip(back, weights))
    with pytest.raises(ValueError, match="not the model's 9 packed values"):
        unpack(flat[:8], shapes)
    with pytest.raises(ValueError, match="several dtypes"):
        pack([weights[0], np.zeros(2, np.float64)])


def test_a_reply_must_hold_one_packed_update():
    shapes = [w.shape for w in WEIGHTS]
    two = FitRes(Status(Code.OK, ""), ndarrays_to_parameters(WEIGHTS), 5, {})
    with pytest.raises(ValueError, match="2 arrays"):
        server._update(two, shapes)
    one = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([pack(WEIGHTS)]), 5, {})
    assert [w.shape for w in server._update(one, shapes)] == shapes
