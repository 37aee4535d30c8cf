"""The folder loader on a generated tree in the original layout, with broken and odd files,
and on the 16 real radiographs shipped in assets/."""

import shutil

import numpy as np
import pytest
from PIL import Image

from fedcore.config.run_config import RunConfig
from fedcore.data import (
    SAMPLES_DIR,
    federation_from_folders,
    load_federation,
    read_class_folders,
    read_npz,
)
from fedcore.errors import FedXrayError
from fedcore.imaging.decode import decode_image, load_image


def _write_dicom(path, pixels, monochrome1=False):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
    )
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def _gradient(h, w):
    return np.tile(np.linspace(0, 1, w), (h, 1))


def _write_odd_images(folder, rng):
    """One of each kind a hospital might export, all valid."""
    folder.mkdir(parents=True, exist_ok=True)
    g = _gradient(300, 500)
    Image.fromarray((g * 255).astype(np.uint8)).save(folder / "gray.png")
    Image.fromarray((g * 255).astype(np.uint8)).convert("RGB").save(folder / "rgb.JPG")
    rgba = Image.fromarray((g * 255).astype(np.uint8)).convert("RGBA")
    rgba.putalpha(200)
    rgba.save(folder / "rgba.png")
    Image.fromarray((g * 65535).astype(np.uint16)).save(folder / "sixteen.png")
    _write_dicom(folder / "scan.dcm", (g * 4095).astype(np.uint16))
    _write_dicom(folder / "NOEXT", (g * 4095).astype(np.uint16), monochrome1=True)


def _make_tree(root, hospitals=2):
    rng = np.random.default_rng(0)
    for k in range(1, hospitals + 1):
        for split in ("train", "val", "test"):
            for cls in ("NORMAL", "pneumonia"):  # class folder case must not matter
                folder = root / "HOSPITAL" / f"hospital_{k}" / split / cls
                _write_odd_images(folder, rng)
    for cls in ("NORMAL", "PNEUMONIA"):
        _write_odd_images(root / "GLOBAL_TEST_DATASET" / cls, rng)
    broken = root / "HOSPITAL" / "hospital_1" / "train" / "NORMAL"
    (broken / "notes.txt").write_text("not an image")
    (broken / "truncated.jpg").write_bytes((broken / "rgb.JPG").read_bytes()[:200])
    (broken / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (broken / "empty.jpeg").write_bytes(b"")
    (root / "HOSPITAL" / "hospital_1" / "train" / "loose.png").write_bytes(
        (broken / "gray.png").read_bytes()
    )
    (broken / ".DS_Store").write_bytes(b"\x00\x01")
    return root


def test_folder_tree_loads_every_valid_image_and_reports_the_rest(tmp_path):
    fed = federation_from_folders(_make_tree(tmp_path / "data"), 32)
    assert [h.name for h in fed.hospitals] == ["hospital_1", "hospital_2"]
    # 6 valid files per class folder, 2 classes.
    for h in fed.hospitals:
        for split in ("train", "val", "test"):
            s = getattr(h, split)
            assert len(s) == 12 and s.images.shape[1:] == (32, 32) and s.images.dtype == np.uint8
            assert s.class_counts() == {"NORMAL": 6, "PNEUMONIA": 6}
    assert len(fed.global_test) == 12
    skipped = {p.rsplit("/", 1)[1]: reason for p, reason in fed.skipped}
    assert set(skipped) == {"notes.txt", "truncated.jpg", "fake.png", "empty.jpeg", "loose.png"}
    assert "not an image" in skipped["notes.txt"]
    assert "class folder" in skipped["loose.png"] or "NORMAL/" in skipped["loose.png"]


def test_all_formats_decode_to_the_same_picture(tmp_path):
    folder = tmp_path / "odd"
    _write_odd_images(folder, np.random.default_rng(0))
    decoded = {p.name: load_image(p, 32).astype(float) for p in folder.iterdir()}
    reference = decoded["gray.png"]
    for name in ("rgb.JPG", "sixteen.png", "scan.dcm"):
        assert np.abs(decoded[name] - reference).mean() < 6, name
    # MONOCHROME1 shows low values as white: inverted.
    assert np.abs((255 - decoded["NOEXT"]) - reference).mean() < 6
    # Gradient left-to-right survives the center crop.
    assert reference[:, -1].mean() > reference[:, 0].mean() + 60


@pytest.mark.parametrize(
    "breakage, message",
    [
        (
            lambda root: shutil.rmtree(root / "HOSPITAL" / "hospital_2" / "val"),
            "missing folder .*hospital_2/val",
        ),
        (
            lambda root: shutil.rmtree(root / "GLOBAL_TEST_DATASET"),
            "missing folder .*GLOBAL_TEST_DATASET",
        ),
        (
            lambda root: (root / "HOSPITAL" / "hospital_1" / "test" / "COVID").mkdir(),
            "unknown class folder .*COVID",
        ),
        (
            lambda root: [
                shutil.rmtree(p) for p in (root / "HOSPITAL" / "hospital_2" / "train").iterdir()
            ],
            "hospital_2/train holds no readable images",
        ),
    ],
)
def test_layout_errors_name_the_path(tmp_path, breakage, message):
    root = _make_tree(tmp_path / "data")
    breakage(root)
    with pytest.raises(FedXrayError, match=message):
        federation_from_folders(root, 16)


def test_wrong_folder_and_missing_path(tmp_path):
    with pytest.raises(FedXrayError, match="missing folder .*HOSPITAL"):
        federation_from_folders(tmp_path, 16)
    with pytest.raises(FedXrayError, match="does not exist"):
        RunConfig(data=str(tmp_path / "nope")).validate()


def test_the_sixteen_real_radiographs():
    skipped = []
    split = read_class_folders(SAMPLES_DIR, 100, skipped)
    assert skipped == []
    assert len(split) == 16 and split.class_counts() == {"NORMAL": 8, "PNEUMONIA": 8}
    assert split.images.shape == (16, 100, 100)
    # Real radiographs: real contrast, not a blank decode.
    assert split.images.std(axis=(1, 2)).min() > 20


def test_bad_bytes_give_clear_messages():
    with pytest.raises(FedXrayError, match="empty"):
        decode_image(b"", 28, "upload.png")
    with pytest.raises(FedXrayError, match="not a readable image"):
        decode_image(b"%PDF-1.4 hello", 28, "report.pdf")


def test_user_npz_of_another_size_and_rgb(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    arrays = {}
    for split, n in (("train", 60), ("val", 12), ("test", 12)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 64, 48, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(-1, 1)
    np.savez(path, **arrays)
    splits = read_npz(path, 28)
    assert splits["train"].images.shape == (60, 28, 28)
    fed = load_federation(RunConfig(data=str(path), partition="iid"))
    assert sum(len(h.train) for h in fed.hospitals) == 60 and len(fed.global_test) == 12
    np.savez(tmp_path / "bad.npz", train_images=arrays["train_images"])
    with pytest.raises(FedXrayError, match="has no train_labels"):
        read_npz(tmp_path / "bad.npz", 28)


def _crowded_tree(root, files: int, suffix: str = ".png"):
    """The layout with one sample per class folder and ``files`` empty files in one of them."""
    for split in ("train", "val", "test"):
        shutil.copytree(SAMPLES_DIR, root / "HOSPITAL" / "hospital_1" / split)
    shutil.copytree(SAMPLES_DIR, root / "GLOBAL_TEST_DATASET")
    crowd = root / "HOSPITAL" / "hospital_1" / "train" / "NORMAL"
    for i in range(files):
        (crowd / f"{i}{suffix}").touch()
    return root


def test_a_folder_over_its_file_count_is_refused_before_any_file_is_read(tmp_path, monkeypatch):
    import fedcore.data.folders as folders

    root = _crowded_tree(tmp_path / "data", 300)
    read = []
    monkeypatch.setattr(folders, "load_image", lambda path, size: read.append(path))
    with pytest.raises(FedXrayError) as refused:
        federation_from_folders(root, 28, max_entries=250)
    message = str(refused.value)
    assert message.startswith(f"the data folder {root} holds more than 250 files and folders")
    assert "counted before reading any" in message and "use a subset" in message
    assert read == [], "not one file was read"


def test_a_crowded_folder_is_one_line_and_no_run_in_the_cli(tmp_path, capsys, monkeypatch):
    import fedcore.data.folders as folders
    from fedcore.store import RunStore
    from tests.store.test_store_damage import assert_one_error_line, run_cli

    root = _crowded_tree(tmp_path / "data", 300)
    monkeypatch.setattr(folders, "MAX_FOLDER_ENTRIES", 250)
    home = tmp_path / "home"
    code, out, err = run_cli(capsys, "--home", str(home), "train", "--data", str(root))
    assert_one_error_line(code, err, str(root), "more than 250 files and folders")
    assert RunStore(home).list_runs() == [], "no run was created"


def test_files_that_would_not_fit_at_the_model_size_are_refused_from_their_count(tmp_path):
    """4,000 empty files at 512 px claim 1,049 MB, over the 1 GB budget: refused by a real
    `python -m fedcore train` before one is opened, with no run left behind."""
    import os
    import subprocess
    import sys

    from fedcore import cli
    from fedcore.store import RunStore

    root = _crowded_tree(tmp_path / "data", 4000)
    home = tmp_path / "home"
    argv = ["train", "--data", str(root), "--image-size", "512"]
    done = subprocess.run(
        [sys.executable, "-m", "fedcore", "--home", str(home), *argv],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == cli.EXIT_USER_ERROR, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: the data folder {root} holds 4,0"), lines[0]
    assert "MB once loaded at 512 px, more than the 1,000 MB a data folder may take" in lines[0]
    assert "smaller --image-size" in lines[0] and done.stdout == ""
    assert RunStore(home).list_runs() == []
