"""Model files a user can get wrong: a run's checkpoints, the shipped model and ``--weights``.

Each is refused before any weight is used, with one `error:` line naming the file (exit 2),
and leaves nothing behind: a damaged checkpoint keeps its run's status, a bad ``--weights``
file creates no run. Real checkpoints of a trained run, altered as a careless hand or a
hostile file would; real Keras weights files; a zip bomb measured in a child process.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from fedcore.data import SAMPLES_DIR
from fedcore.errors import FedXrayError
from fedcore.store import RunStore
from tests.imaging.test_memory_bounds import child_peak, deflated_zeros
from tests.store.test_store_damage import assert_one_error_line, run_cli

SAMPLE = sorted((SAMPLES_DIR / "NORMAL").glob("*.jpeg"))[0]


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> tuple[RunStore, str]:
    """A private copy of the session's trained run, free to damage."""
    store, run_id = tiny_run
    shutil.copytree(store.home, tmp_path / "home")
    return RunStore(tmp_path / "home"), run_id


def rewrite(path: Path, change) -> None:
    """Load a checkpoint, let ``change(arrays, meta)`` alter it, save it back as np.savez does."""
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    record = change(arrays, meta)
    if record is None:
        record = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, __meta__=record, **arrays)


def nan_weight(arrays, meta):
    arrays["global/0"][0, 0, 0, 0] = np.nan


def infinite_bias(arrays, meta):
    arrays["global/1"][0] = np.inf


def wrong_shape(arrays, meta):
    arrays["global/0"] = np.zeros((3, 3, 1, 31), np.float32)


def wrong_shape_and_record(arrays, meta):
    wrong_shape(arrays, meta)
    meta["shapes"]["global"][0] = [3, 3, 1, 31]


def one_array_fewer(arrays, meta):
    del arrays["global/11"]
    meta["models"]["global"] = 11
    meta["shapes"]["global"].pop()


def one_array_more(arrays, meta):
    arrays["global/12"] = np.zeros(2, np.float32)


def models_as_a_list(arrays, meta):
    meta["models"] = ["global"]


def round_as_text(arrays, meta):
    meta["round"] = "two"


def round_minus_7(arrays, meta):
    meta["round"] = -7


def shapes_as_text(arrays, meta):
    meta["shapes"] = {"global": "big"}


def record_not_json(arrays, meta):
    return np.frombuffer(b"{round: 2", np.uint8)


def text_weights(arrays, meta):
    arrays["global/1"] = np.array(["x"] * 32)


CHECKPOINT_DAMAGE = {
    "NaN weight": (nan_weight, "array 0 holds NaN or infinite weights"),
    "infinite bias": (infinite_bias, "array 1 holds NaN or infinite weights"),
    "wrong shape": (wrong_shape, "array 0 is (3, 3, 1, 31) where its record has (3, 3, 1, 32)"),
    # Altered with their record, as a forger would: only the model's own shapes give them away.
    "wrong shape, record too": (
        wrong_shape_and_record,
        "array 0 is (3, 3, 1, 31) where the run's model has (3, 3, 1, 32)",
    ),
    "one array fewer, record too": (one_array_fewer, "has 11 arrays where the run's model has 12"),
    "one array more": (one_array_more, "holds 13 arrays where its record lists 12"),
    "models as a list": (models_as_a_list, "not {name: number of arrays}"),
    "round as text": (round_as_text, "its round is two, not a round from 1 to 2"),
    "round -7": (round_minus_7, "its round is -7, not a round from 1 to 2"),
    "shapes as text": (shapes_as_text, "shapes are not lists of whole numbers"),
    "record not JSON": (record_not_json, "is damaged"),
    "text weights": (text_weights, "global/1' of <U1 values, not numbers"),
}


@pytest.mark.parametrize("damage", CHECKPOINT_DAMAGE)
def test_a_bad_checkpoint_is_one_line_in_diagnose_and_audit(run_copy, capsys, damage):
    store, run_id = run_copy
    change, needle = CHECKPOINT_DAMAGE[damage]
    last = store.run_dir(run_id) / "last.npz"
    rewrite(last, change)
    home = ["--home", str(store.home)]
    diagnose = [*home, "diagnose", str(SAMPLE), "--run", run_id, "--checkpoint", "last"]
    audit = [*home, "audit", run_id]
    for argv in [diagnose, audit]:
        code, out, err = run_cli(capsys, *argv)
        assert_one_error_line(code, err, str(last), needle, "move it aside")
        assert "P(pneumonia)" not in out
    # The other checkpoint still works, as the message says.
    code, out, _ = run_cli(capsys, *home, "diagnose", str(SAMPLE), "--run", run_id)
    assert code == 0 and "P(pneumonia) = 0." in out


@pytest.mark.parametrize(
    "damage",
    [
        "wrong shape",
        "one array more",
        "NaN weight",
        "wrong shape, record too",
        "one array fewer, record too",
    ],
)
def test_resume_from_a_bad_checkpoint_names_it_and_keeps_the_run(run_copy, capsys, damage):
    store, run_id = run_copy
    with store._write() as db:  # a run stopped after 2 of 3 rounds
        db.execute("UPDATE runs SET status='stopped', rounds_total=3 WHERE id=?", (run_id,))
    rewrite(store.run_dir(run_id) / "last.npz", CHECKPOINT_DAMAGE[damage][0])
    code, out, err = run_cli(capsys, "--home", str(store.home), "train", "--resume", run_id)
    assert_one_error_line(code, err, "'last' checkpoint", CHECKPOINT_DAMAGE[damage][1])
    assert "every hospital failed" not in out + err
    record = store.get_run(run_id)
    assert (record["status"], record["rounds_done"]) == ("stopped", 2)


def test_a_forged_run_record_is_caught_by_the_model_it_names(run_copy, capsys):
    """The run's record says MobileNetV3 while its checkpoints hold the CNN, each file consistent
    with its own record: audit and resume build the model first and refuse the weights."""
    store, run_id = run_copy
    with store._write() as db:
        db.execute(
            "UPDATE runs SET status='stopped', rounds_total=3, "
            "config=json_set(config, '$.backbone', 'mobilenetv3small', '$.image_size', 32) "
            "WHERE id=?",
            (run_id,),
        )
    home = ["--home", str(store.home)]
    for argv in (["audit", run_id], ["train", "--resume", run_id]):
        code, out, err = run_cli(capsys, *home, *argv)
        assert_one_error_line(code, err, "'last' checkpoint", "has 12 arrays where the run's model")
        assert "auditing" not in out and "round 3" not in out
    record = store.get_run(run_id)
    assert (record["status"], record["rounds_done"]) == ("stopped", 2)


def checkpoint_bomb(path: Path, n_bytes: int = 3 * 10**9) -> Path:
    """A checkpoint of a few MB whose one array is ``n_bytes`` of deflated zeros, a valid zip
    written by hand (CRC included) so that the 3 GB never exist here."""
    record = io.BytesIO()
    meta = json.dumps({"round": 1, "models": {"global": 1}}).encode()
    np.save(record, np.frombuffer(meta, np.uint8))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (n_bytes // 4,)}
    )
    crc, block = zlib.crc32(header.getvalue()), bytes(2**22)
    for _ in range(n_bytes // len(block)):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(bytes(n_bytes % len(block)), crc)
    members = [
        (
            "__meta__.npy",
            record.getvalue(),
            len(record.getvalue()),
            zlib.crc32(record.getvalue()),
            0,
        ),
        (
            "global/0.npy",
            deflated_zeros(header.getvalue(), n_bytes),
            len(header.getvalue()) + n_bytes,
            crc,
            zipfile.ZIP_DEFLATED,
        ),
    ]
    body, directory = bytearray(), bytearray()
    for name, data, size, crc, method in members:
        # Local header, then the central directory entry: version 2.0, no flags, 1980-01-01.
        fields = (method, 0, 0x21, crc, len(data), size, len(name))
        directory += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, *fields, 0, 0, 0, 0, 0, len(body)
        )
        directory += name.encode()
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, *fields, 0) + name.encode() + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(directory), len(body), 0)
    path.write_bytes(bytes(body + directory + end))
    return path


LOAD_IN_CHILD = """
import resource, sys
from fedcore.errors import FedXrayError
from fedcore.store import RunStore
try:
    RunStore(sys.argv[1]).load_checkpoint(sys.argv[2], sys.argv[3])
    outcome = 'loaded'
except FedXrayError as exc:
    outcome = 'refused: ' + str(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print(outcome)
"""


def load_in_child(store: RunStore, run_id: str, name: str) -> tuple[int, str]:
    """(peak RSS in KiB, outcome) of a fresh process loading one checkpoint."""
    return child_peak(LOAD_IN_CHILD, str(store.home), run_id, name)


def test_a_checkpoint_zip_bomb_is_refused_from_its_directory_in_bounded_memory(run_copy, capsys):
    store, run_id = run_copy
    best = checkpoint_bomb(store.run_dir(run_id) / "best.npz")
    assert best.stat().st_size < 4_000_000, "a few MB that claim 3 GB"
    normal_peak, outcome = load_in_child(store, run_id, "last")
    assert outcome == "loaded"
    peak, outcome = load_in_child(store, run_id, "best")
    assert outcome.startswith("refused: ") and "would take 3,000 MB once loaded" in outcome
    print(f"bomb: peak {peak / 1024:.0f} MB vs a real checkpoint {normal_peak / 1024:.0f} MB")
    assert peak - normal_peak < 50 * 1024, (peak, normal_peak)
    code, _, err = run_cli(capsys, "--home", str(store.home), "diagnose", str(SAMPLE))
    assert_one_error_line(code, err, str(best), "not a checkpoint fedcore wrote", "move it aside")


def test_a_damaged_shipped_model_is_one_line(tmp_path):
    from fedcore.diagnosis.score import SHIPPED_MODEL, load_shipped_model

    path = tmp_path / "default_cnn.npz"
    shutil.copy(SHIPPED_MODEL.with_suffix(".json"), path.with_suffix(".json"))
    with np.load(SHIPPED_MODEL) as archive:
        weights = {key: archive[key] for key in archive.files}
    weights["w03"] = np.full_like(weights["w03"], np.nan)
    np.savez(path, **weights)
    with pytest.raises(FedXrayError, match="array 3 holds NaN or infinite weights"):
        load_shipped_model(path)
    del weights["w11"]
    np.savez(path, **weights)
    with pytest.raises(FedXrayError, match="has 11 arrays where its cnn model has 12"):
        load_shipped_model(path)


# ----------------------------------------------------------------------------- --weights files


WEIGHTS_NEEDLES = {
    "NaN weights": "holds NaN or infinite values",
    "another architecture": "holds 2 arrays (15 values) where mobilenetv3small without its top",
    "empty": "it is empty",
    "text": "is not an HDF5 file",
    "truncated": "damaged or truncated HDF5 file",
    "a folder": "it is a folder",
    "missing": "it does not exist",
}


@pytest.mark.parametrize("kind", WEIGHTS_NEEDLES)
def test_a_bad_weights_file_stops_train_before_a_run_exists(weights_files, tmp_path, capsys, kind):
    path = weights_files[kind]
    store = RunStore(tmp_path / "home")
    argv = ["--home", str(store.home), "train", "--backbone", "mobilenetv3small"]
    code, out, err = run_cli(capsys, *argv, "--weights", str(path), "--max-per-hospital", "20")
    needle = WEIGHTS_NEEDLES[kind]
    assert_one_error_line(code, err, f"cannot load backbone weights from {path}", needle)
    assert len(err) < 400, "no layer lists, no Keras warnings"
    assert out == "" and store.list_runs() == [], "no run was created"
