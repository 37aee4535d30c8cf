"""The original folder layout's reader: ROOT/HOSPITAL/hospital_k/... and the global test set.

Unreadable files, non-images, loose files and symbolic links that cannot be followed are
skipped and listed, never a reason to stop the load. A folder's entries are counted before
any file is read (:func:`check_folder_budget`): too many, or images that would not fit in the
memory budget at the model's size, and the folder is refused in one line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from fedcore.data.npz import MAX_NPZ_BYTES
from fedcore.data.splits import CLASSES, SPLITS, Federation, HospitalData, Split
from fedcore.errors import FedXrayError
from fedcore.imaging.decode import IMAGE_SUFFIXES, load_image

# Files and folders a data folder may hold, all hospitals and the global test set together,
# counted no further than this: CheXpert's 224,316 radiographs fit; a million empty files were
# each walked, tried and listed as skipped (in memory and in the run's events) before.
MAX_FOLDER_ENTRIES = 500_000


def check_folder_budget(root: str | Path, size: int, max_entries: int | None = None) -> None:
    """Refuse a data folder before any of its files is read: more than ``max_entries`` entries
    (default :data:`MAX_FOLDER_ENTRIES`), or files that would take more than the 1 GB a .npz may
    take (:data:`fedcore.data.npz.MAX_NPZ_BYTES`) once loaded at ``size`` px, one byte a pixel.

    Symbolic links to folders are not followed, as the reader does not follow them.

    Raises
    ------
    FedXrayError
        Naming the folder, the count and the limit, and saying what to do.
    """
    limit = max_entries or MAX_FOLDER_ENTRIES
    entries = files = 0
    folders = [Path(root)]
    while folders:
        try:
            with os.scandir(folders.pop()) as listing:
                for entry in listing:
                    entries += 1
                    if entries > limit:
                        raise FedXrayError(
                            f"the data folder {root} holds more than {limit:,} files and folders "
                            f"(counted before reading any), the most a data folder may hold: "
                            "use a subset of the images, a few thousand per hospital"
                        )
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(Path(entry.path))
                    elif not entry.name.startswith("."):
                        files += 1
        except OSError:
            continue  # an unreadable folder is named by the reader
    if files * size * size > MAX_NPZ_BYTES:
        raise FedXrayError(
            f"the data folder {root} holds {files:,} files, which would take "
            f"{files * size * size / 1e6:,.0f} MB once loaded at {size} px, more than the "
            f"{MAX_NPZ_BYTES / 1e6:,.0f} MB a data folder may take: use fewer images or a "
            "smaller --image-size"
        )


def federation_from_folders(
    root: str | Path, size: int, max_entries: int | None = None
) -> Federation:
    """Read the original layout: ROOT/HOSPITAL/hospital_k/{train,val,test}/{NORMAL,PNEUMONIA}/
    and ROOT/GLOBAL_TEST_DATASET/{NORMAL,PNEUMONIA}/.

    Folder names are matched without regard to case; any number of hospitals. A file
    that is not a readable image is skipped and listed in ``Federation.skipped``.

    Parameters
    ----------
    max_entries : int, optional
        The most files and folders ``root`` may hold (:func:`check_folder_budget`).

    Raises
    ------
    FedXrayError
        Naming the path, for a missing HOSPITAL or GLOBAL_TEST_DATASET folder, a
        missing split, an unknown class folder, a hospital without training images, or
        a folder over its budget.
    """
    root = Path(root)
    check_folder_budget(root, size, max_entries)
    hospital_root = _child(root, "HOSPITAL")
    global_root = _child(root, "GLOBAL_TEST_DATASET")
    hospital_dirs = sorted((d for d in hospital_root.iterdir() if d.is_dir()), key=_natural_key)
    if not hospital_dirs:
        raise FedXrayError(
            f"{hospital_root} holds no hospital folders: add hospital_1/, hospital_2/, ... "
            "each with train/, val/ and test/"
        )
    skipped: list[tuple[str, str]] = []
    hospitals = []
    for hdir in hospital_dirs:
        parts = {split: read_class_folders(_child(hdir, split), size, skipped) for split in SPLITS}
        if len(parts["train"]) == 0:
            raise FedXrayError(
                f"{hdir / 'train'} holds no readable images: hospital '{hdir.name}' "
                "cannot train (put images in NORMAL/ and PNEUMONIA/)"
            )
        if len(parts["test"]) == 0:
            raise FedXrayError(
                f"{hdir / 'test'} holds no readable images: "
                f"hospital '{hdir.name}' cannot be evaluated"
            )
        hospitals.append(HospitalData(hdir.name, **parts))
    global_test = read_class_folders(global_root, size, skipped)
    if len(global_test) == 0:
        raise FedXrayError(
            f"{global_root} holds no readable images: "
            "put the global test images in NORMAL/ and PNEUMONIA/"
        )
    return Federation(hospitals, global_test, str(root), skipped=skipped)


def read_class_folders(folder: Path, size: int, skipped: list[tuple[str, str]]) -> Split:
    """All readable images under folder/{NORMAL,PNEUMONIA}/ (any case), resized to ``size``.

    Unreadable files, non-images and loose files outside a class folder are appended
    to ``skipped`` as (path, reason) and do not stop the load.
    """
    images, labels = [], []
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir():
            skipped.append(
                (
                    str(entry),
                    _not_a_file_reason(entry) or "not inside a NORMAL/ or PNEUMONIA/ folder",
                )
            )
            continue
        name = entry.name.upper()
        if name not in CLASSES:
            raise FedXrayError(
                f"unknown class folder {entry}: only NORMAL and PNEUMONIA are allowed "
                "(rename or move it)"
            )
        label = CLASSES.index(name)
        for path in sorted(entry.rglob("*")):
            if path.name.startswith("."):
                continue
            problem = _not_a_file_reason(path)
            if problem:
                skipped.append((str(path), problem))
                continue
            if path.is_dir():
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES and not _looks_like_dicom(path):
                skipped.append((str(path), f"not an image ({path.suffix or 'no extension'})"))
                continue
            try:
                images.append(load_image(path, size))
                labels.append(label)
            except FedXrayError as exc:
                skipped.append((str(path), str(exc)))
    if not images:
        return Split(np.zeros((0, size, size), np.uint8), np.zeros((0,), np.int8))
    return Split(np.stack(images), np.asarray(labels, dtype=np.int8))


def _not_a_file_reason(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file or walked as a folder, or None when it can.

    Symbolic links that lead nowhere (dangling, or a loop) and linked folders (not
    walked, so a loop cannot recurse) are named, so that they are listed with the other
    skipped files rather than silently dropped.
    """
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            return "a dangling symbolic link (its target does not exist)"
        except (OSError, RuntimeError):  # ELOOP, or Python's own "Symlink loop" check
            return "a symbolic link loop"
        if target.is_dir():
            return "a symbolic link to a folder, not followed: copy the images in instead"
    if path.is_dir() or path.is_file():
        return None
    return "not a regular file"


def _child(parent: Path, name: str) -> Path:
    """parent/name with the case of name ignored; a clear error when it is missing."""
    if not parent.is_dir():
        raise FedXrayError(f"{parent} is not a folder")
    for entry in parent.iterdir():
        if entry.is_dir() and entry.name.lower() == name.lower():
            return entry
    raise FedXrayError(
        f"missing folder {parent / name}: the expected layout is ROOT/HOSPITAL/hospital_k/"
        "{train,val,test}/{NORMAL,PNEUMONIA}/ and ROOT/GLOBAL_TEST_DATASET/{NORMAL,PNEUMONIA}/"
    )


def _looks_like_dicom(path: Path) -> bool:
    """DICOM files often have no extension; peek at the magic bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]
