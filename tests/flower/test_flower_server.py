"""The Flower ServerApp's helpers and the books it shares with the in-process loop (no SuperLink),
and what its side may import."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from fedcore.data import Split
from fedcore.flower.packing import pack
from fedcore.flower.records import Reply
from fedcore.flower.roster import Roster, order
from fedcore.flower.round_books import bytes_moved
from fedcore.payload import FitOutcome, check
from fedcore.server.fit_facts import round_fit_info

WEIGHTS = [np.zeros((2, 3), np.float32), np.zeros(3, np.float32)]  # 24 + 12 bytes
SHAPES = [w.shape for w in WEIGHTS]
FLOWER = Path(__file__).resolve().parents[2] / "fedcore" / "flower"


def reply(name: str | None, partition_id: int = 0, **metrics) -> Reply:
    return Reply(name, partition_id, {"num-examples": 5, **metrics}, arrays=[pack(WEIGHTS)])


def test_replies_are_ordered_as_the_in_process_federation():
    replies = {9: reply("hospital_3", 2), 4: reply("hospital_1", 0), 7: reply("hospital_2", 1)}
    assert sorted(replies, key=lambda node: order(replies[node], node)) == [4, 7, 9]


def test_a_returning_hospital_keeps_its_name_and_a_clash_is_told_apart():
    roster = Roster()
    assert roster.name(11, reply("hospital_1"), connected=[11]) == "hospital_1"
    # hospital_1 comes back under a new node id after its old node left
    assert roster.name(12, reply("hospital_1"), connected=[12]) == "hospital_1"
    # two connected nodes claim one name (a misconfigured data-path)
    assert roster.name(13, reply("hospital_1"), connected=[12, 13]) == "hospital_1 (node 13)"
    assert roster.name(5, None, connected=[5]) == "node 5"
    assert roster.name(11, reply("renamed"), connected=[11]) == "hospital_1"


def test_outcomes_come_in_federation_order_and_a_bad_update_is_left_out():
    # Prepare: hospital_2 sends two arrays instead of one packed update
    roster, refused = Roster(), []
    replies = {
        7: reply("hospital_3", 2, train_loss=0.1),
        3: Reply("hospital_2", 1, {"num-examples": 5}, arrays=list(WEIGHTS)),
        5: reply("hospital_1", 0, train_loss=0.2),
    }

    # Execute
    outcomes = roster.outcomes(replies, [3, 5, 7], SHAPES, False, lambda n, e: refused.append(n))

    # Assert
    assert list(outcomes) == ["hospital_1", "hospital_3"] and refused == ["hospital_2"]
    assert outcomes["hospital_1"].metrics == {"train_loss": 0.2}
    assert set(roster.class_counts) == {"hospital_1", "hospital_2", "hospital_3"}


def test_data_summary_names_the_runtime():
    roster = Roster()
    roster.class_counts["hospital_1"] = {"train": {"NORMAL": 3}}
    global_test = Split(np.zeros((3, 4, 4), np.uint8), np.array([0, 1, 1]))
    summary = roster.data_summary(global_test)
    assert summary["hospitals"] == {"hospital_1": {"train": {"NORMAL": 3}}}
    assert summary["notes"] == ["runtime=flower"] and summary["skipped"] == []


def test_bytes_moved_counts_a_masked_update_as_a_model_sized_one():
    plain = {"h1": FitOutcome(WEIGHTS, 5), "h2": FitOutcome(WEIGHTS, 7)}
    masked = {"h1": FitOutcome([], 5), "h2": FitOutcome([], 7)}
    # 3 nodes asked, 3 evaluated: 6 downloads of 36 bytes, and 2 uploads of 36 bytes
    assert bytes_moved(plain, WEIGHTS, 3, 3) == 36 * 8
    assert bytes_moved(masked, WEIGHTS, 3, 3) == 36 * 8


def test_fit_facts_under_secure_aggregation_take_bytes_from_the_model():
    info = round_fit_info({"h1": FitOutcome([], 5, {"fit_seconds": 1.0})}, ["h1", "h2"], WEIGHTS)
    assert info["h1"]["bytes_sent"] == 36 and info["h1"]["arrays"] == 2
    assert info["_round"]["payload"]["bytes"] == 36 and info["_round"]["failed"] == ["h2"]


def test_a_masked_outcome_must_hold_no_arrays_but_is_otherwise_checked():
    check(FitOutcome([], 5, {"train_loss": 0.2}), SHAPES, masked=True)
    with pytest.raises(ValueError, match="not the model"):
        check(FitOutcome(WEIGHTS, 5), SHAPES, masked=True)
    with pytest.raises(ValueError, match="not a number"):
        check(FitOutcome([], 5, {"labels": "0,1"}), SHAPES, masked=True)


def fedcore_imports(path: Path) -> set[str]:
    """The fedcore modules one file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fedcore"):
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("fedcore")}
    return found


def test_the_server_side_and_all_it_imports_never_reach_the_hospital_side():
    # Prepare: every fedcore.flower module the ServerApp imports, directly or not
    seen, todo = set(), ["server_app"]
    while todo:
        name = todo.pop()
        seen.add(name)
        for module in fedcore_imports(FLOWER / f"{name}.py"):
            # Execute / Assert
            assert not module.startswith(("fedcore.hospital", "fedcore.run")), (name, module)
            inner = module.removeprefix("fedcore.flower.").split(".")[0]
            if module.startswith("fedcore.flower.") and (FLOWER / f"{inner}.py").exists():
                todo += [inner] if inner not in seen else []
    assert {"exchange", "secagg_legacy", "records", "roster", "flwr_internals"} <= seen
