"""Data as each Flower site keeps it: one hospital's splits, or the server's global test set.

Every SuperNode reads only its own hospital's folder or ``.npz`` (its node config's
``data-path``), the ServerApp only the global test set. :func:`export_sites` writes a run
config's federation out that way, so a loopback deployment reads exactly the images an
in-process run of that config uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedcore.config.run_config import RunConfig
from fedcore.data import (
    SPLITS,
    HospitalData,
    Split,
    check_both_classes,
    check_folder_budget,
    load_federation,
    read_class_folders,
    read_npz,
)
from fedcore.errors import FedXrayError

GLOBAL_TEST_FILE = "global_test.npz"


def load_hospital(
    path: str | Path, size: int, name: str | None = None
) -> tuple[HospitalData, list]:
    """One hospital's train/val/test splits from its folder or ``.npz``, at ``size`` pixels.

    Parameters
    ----------
    path : str or Path
        The hospital's folder (``train/ val/ test/``, each ``NORMAL/ PNEUMONIA/``) or
        MedMNIST-format ``.npz``.
    size : int
        The model's input side in pixels.
    name : str, optional
        The hospital's display name; default the folder name or the file's stem.

    Returns
    -------
    (HospitalData, list of (path, reason))
        The splits, and the files that could not be read and were skipped.

    Raises
    ------
    FedXrayError
        For a missing path, a wrong layout, or a hospital without training or test images.
    """
    path = Path(path)
    name = name or path.stem
    skipped: list[tuple[str, str]] = []
    if path.is_file() and path.suffix.lower() == ".npz":
        splits = read_npz(path, size)
    elif path.is_dir():
        check_folder_budget(path, size)
        splits = {
            split: read_class_folders(_folder(path, split), size, skipped) for split in SPLITS
        }
    else:
        raise FedXrayError(
            f"hospital data '{path}' is neither a folder with train/, val/ and test/ nor an "
            ".npz: set the SuperNode's node config data-path to this hospital's images"
        )
    for split in ("train", "test"):
        if len(splits[split]) == 0:
            raise FedXrayError(
                f"{path} holds no readable {split} images: hospital '{name}' cannot take part"
            )
    return HospitalData(name, splits["train"], splits["val"], splits["test"]), skipped


def load_global_test(path: str | Path, size: int) -> Split:
    """The server's global test set from a ``NORMAL/ PNEUMONIA/`` folder or an ``.npz``.

    The ``.npz`` holds ``test_images`` and ``test_labels``.

    Raises
    ------
    FedXrayError
        For a missing path or a set without readable images.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".npz":
        split = read_npz(path, size, splits=("test",))["test"]
    elif path.is_dir():
        check_folder_budget(path, size)
        split = read_class_folders(path, size, [])
    else:
        raise FedXrayError(
            f"global test set '{path}' is neither a folder with NORMAL/ and PNEUMONIA/ nor an .npz"
        )
    if len(split) == 0:
        raise FedXrayError(
            f"{path} holds no readable images: the server cannot evaluate the global model"
        )
    check_both_classes(split, f"the global test set {path}")
    return split


def export_sites(config: RunConfig, out: str | Path) -> dict[str, Path]:
    """Write ``config``'s federation into ``out``: one ``.npz`` per hospital, ``global_test.npz``.

    Parameters
    ----------
    config : RunConfig
        Uses data, hospitals, partition, alpha, acquisition_shift, max_per_hospital,
        input_size and seed, exactly as an in-process run would.
    out : str or Path
        Folder to write; created if missing.

    Returns
    -------
    dict of str to Path
        Each hospital's name to its file, and ``global_test`` to the server's file.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    federation = load_federation(config.validate())
    paths = {}
    for hospital in federation.hospitals:
        target = out / f"{hospital.name}.npz"
        np.savez(
            target,
            **{
                f"{split}_{kind}": getattr(getattr(hospital, split), kind)
                for split in SPLITS
                for kind in ("images", "labels")
            },
        )
        paths[hospital.name] = target
    paths["global_test"] = out / GLOBAL_TEST_FILE
    np.savez(
        paths["global_test"],
        test_images=federation.global_test.images,
        test_labels=federation.global_test.labels,
    )
    return paths


def _folder(parent: Path, name: str) -> Path:
    for entry in parent.iterdir():
        if entry.is_dir() and entry.name.lower() == name:
            return entry
    raise FedXrayError(
        f"missing folder {parent / name}: a hospital folder holds train/, val/ and test/, "
        "each with NORMAL/ and PNEUMONIA/"
    )
