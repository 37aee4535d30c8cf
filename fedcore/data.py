"""The hospitals' data: the embedded PneumoniaMNIST federation, a user's folders, or a user's .npz.

Everything is held as uint8 grayscale at the model's input size, so a folder of
thousands of full-resolution radiographs costs size*size bytes an image in memory.
Labels: 0 = NORMAL, 1 = PNEUMONIA.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from fedcore import partition
from fedcore.config import EMBEDDED, RunConfig
from fedcore.errors import FedXrayError
from fedcore.images import IMAGE_SUFFIXES, load_image

CLASSES = ("NORMAL", "PNEUMONIA")
SPLITS = ("train", "val", "test")
ASSETS = Path(__file__).resolve().parent.parent / "assets"
EMBEDDED_NPZ = ASSETS / "pneumoniamnist" / "pneumoniamnist.npz"
SAMPLES_DIR = ASSETS / "samples"


@dataclass
class Split:
    """Images (n, s, s) uint8 and labels (n,) int8 of one split."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict:
        """{'NORMAL': n0, 'PNEUMONIA': n1}."""
        return {name: int((self.labels == c).sum()) for c, name in enumerate(CLASSES)}

    def take(self, index: np.ndarray) -> "Split":
        """The images at ``index``."""
        return Split(self.images[index], self.labels[index])


@dataclass
class HospitalData:
    """One hospital's own splits. Never leaves the hospital."""

    name: str
    train: Split
    val: Split
    test: Split

    def summary(self) -> dict:
        """Class counts per split: what the run store and the dashboard show."""
        return {split: getattr(self, split).class_counts() for split in SPLITS}


@dataclass
class Federation:
    """All hospitals, the server's global test set, and what could not be read."""

    hospitals: list[HospitalData]
    global_test: Split
    source: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """Per-hospital class counts, the global test counts and the skipped files."""
        return {
            "source": self.source,
            "hospitals": {h.name: h.summary() for h in self.hospitals},
            "global_test": self.global_test.class_counts(),
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "notes": list(self.notes),
        }


def load_federation(config: RunConfig) -> Federation:
    """The federation a run's config names.

    Parameters
    ----------
    config : RunConfig
        Uses data, hospitals, partition, alpha, acquisition_shift, max_per_hospital,
        input_size and seed.

    Returns
    -------
    Federation

    Raises
    ------
    FedXrayError
        For a path that is neither the folder layout nor a MedMNIST .npz.
    """
    if config.data == EMBEDDED:
        fed = federation_from_npz(EMBEDDED_NPZ, config, source="embedded PneumoniaMNIST")
    else:
        path = Path(config.data)
        if path.is_file() and path.suffix.lower() == ".npz":
            fed = federation_from_npz(path, config, source=str(path))
        elif path.is_dir():
            fed = federation_from_folders(path, config.input_size)
        else:
            raise FedXrayError(f"{path} is neither a folder in the ROOT/HOSPITAL/hospital_k/"
                               "{train,val,test} layout nor a MedMNIST-format .npz")
    check_both_classes(fed.global_test, f"the global test set of {fed.source}")
    fed.hospitals = [cap_training(h, config.max_per_hospital, config.seed, i) for i, h in enumerate(fed.hospitals)]
    return fed


def cap_training(data: HospitalData, cap: int | None, seed: int, index: int) -> HospitalData:
    """Keep at most ``cap`` training images, stratified, drawn by (seed, index); a no-op under the cap.

    One random stream per hospital, so a Flower node capping its own data alone keeps
    the very images an in-process run of the same config keeps.
    """
    if not cap or len(data.train) <= cap:
        return data
    rng = np.random.default_rng([seed, 7, index])
    keep = rng.permutation(partition.stratified_partition(data.train.labels, 1, rng)[0])[:cap]
    return dataclasses.replace(data, train=data.train.take(np.sort(keep)))


def check_both_classes(split: Split, where: str) -> None:
    """Refuse a global test set without both classes, before anything trains.

    Its AUROC chooses the best round; with one class AUROC is undefined, no round could
    be chosen and the run's figures would say nothing about the other class.

    Raises
    ------
    FedXrayError
        Naming the set, its class counts and what to add.
    """
    counts = split.class_counts()
    absent = [name for name, n in counts.items() if n == 0]
    if absent:
        raise FedXrayError(f"{where} holds no {' or '.join(absent)} image ({counts}): AUROC, which chooses the "
                           f"best round, needs both classes; add {' and '.join(absent)} images to it")


# ----------------------------------------------------------------------------- .npz

# What a .npz's image and label arrays may take once loaded, summed over the members read
# (checked from the zip directory and the arrays' headers before anything is inflated).
# MedMNIST at 224x224, 5,856 images in uint8, takes 294 MB.
MAX_NPZ_BYTES = 1_000_000_000
NPZ_KEYS = tuple(f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels"))


def read_npz(path: str | Path, size: int, splits: tuple[str, ...] = SPLITS) -> dict[str, Split]:
    """The train/val/test splits of a MedMNIST-format .npz, resized to ``size``.

    Keys ``{split}_images`` (n, h, w) or (n, h, w, c) and ``{split}_labels`` (n,) or (n, 1).

    Parameters
    ----------
    path : str or Path
    size : int
        Side of the output images in pixels.
    splits : tuple of str, default ('train', 'val', 'test')
        The splits to read (the server's global test set reads only 'test').

    Raises
    ------
    FedXrayError
        For a file that is not a .npz archive, missing keys, arrays over
        :data:`MAX_NPZ_BYTES`, non-numeric or empty images, or labels other than 0/1.
    """
    path = Path(path)
    keys = [f"{split}_{kind}" for split in splits for kind in ("images", "labels")]
    arrays = _load_npz_arrays(path, keys)
    out = {}
    for split in splits:
        images = _checked_images(arrays[f"{split}_images"], f"{path}: {split}_images")
        labels = _checked_labels(arrays[f"{split}_labels"], f"{path}: {split}_labels")
        if len(images) != len(labels):
            raise FedXrayError(f"{path}: {split} has {len(images)} images but {len(labels)} labels")
        out[split] = Split(resize_stack(_gray_uint8(images), size), labels)
    return out


def _load_npz_arrays(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    """The named arrays of a .npz, after checking from its zip directory what loading them costs.

    np.load inflates a member whole: a 2.5 MB archive of zeros can claim gigabytes. The
    directory's sizes and each array's .npy header are read first, without inflating.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            missing = [k for k in keys if k not in members]
            if missing:
                raise FedXrayError(f"{path} has no {', '.join(missing)}: a MedMNIST-format .npz holds "
                                   "train_images, train_labels, val_images, val_labels, test_images, test_labels")
            total = 0
            for key in keys:
                with archive.open(members[key]) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                total += max(members[key].file_size, math.prod(shape) * dtype.itemsize)
            if total > MAX_NPZ_BYTES:
                raise FedXrayError(f"{path} would take {total / 1e9:.1f} GB once loaded, more than the "
                                   f"{MAX_NPZ_BYTES / 1e9:.0f} GB a .npz may take: store fewer or smaller images, "
                                   "as uint8")
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in keys}
    except FedXrayError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise FedXrayError(f"{path} is not a readable .npz archive ({exc}): it may be empty, truncated, or a "
                           ".npy renamed; save it with numpy.savez") from exc
    except ValueError as exc:  # object arrays (pickles are never loaded), bad .npy headers
        raise FedXrayError(f"{path} holds an array that cannot be read ({exc}): store numbers only, "
                           "with numpy.savez") from exc
    except OSError as exc:
        raise FedXrayError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _checked_images(images: np.ndarray, name: str) -> np.ndarray:
    """Images must be numbers, (n, h, w) or (n, h, w, c) with h, w > 0 and finite values."""
    if images.dtype.kind not in "uifb":
        raise FedXrayError(f"{name} holds {images.dtype} values: images must be numbers (uint8 ideally)")
    if images.ndim not in (3, 4) or 0 in images.shape[1:]:
        raise FedXrayError(f"{name} has shape {images.shape}: images must be (n, h, w) or (n, h, w, channels) "
                           "with every side above 0")
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        raise FedXrayError(f"{name} holds NaN or infinite values: images must be finite")
    return images


def _checked_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """Labels must be 0 (NORMAL) or 1 (PNEUMONIA), checked before any cast (256 must not wrap to 0)."""
    if labels.ndim not in (1, 2) or (labels.ndim == 2 and labels.shape[1] != 1):
        raise FedXrayError(f"{name} has shape {labels.shape}: labels must be (n,) or (n, 1)")
    if labels.dtype.kind not in "uifb":
        raise FedXrayError(f"{name} holds {labels.dtype} values: labels must be the integers 0 or 1")
    labels = labels.reshape(-1)
    if not np.isin(labels, (0, 1)).all():
        bad = np.unique(labels[~np.isin(labels, (0, 1))])[:3]
        raise FedXrayError(f"{name} holds {', '.join(repr(v.item()) for v in bad)}: labels must be 0 (NORMAL) "
                           "or 1 (PNEUMONIA)")
    return labels.astype(np.int8)


def federation_from_npz(path: str | Path, config: RunConfig, source: str) -> Federation:
    """Make ``config.hospitals`` hospitals from an .npz's train/val splits; tests from its test split.

    How: the train split is divided by :func:`fedcore.partition.dirichlet_partition`
    (or IID); the val split with the same per-class shares, so each hospital's
    validation mirrors its training data; the test split into equal stratified parts
    (3 x 208 for the 624 official test images). The global test set is the union of
    the hospitals' test sets, each as its own scanner rendered it.
    """
    splits = read_npz(path, config.input_size)
    rng = np.random.default_rng(config.seed)
    k = config.hospitals
    train, val, test = splits["train"], splits["val"], splits["test"]
    if min(len(train), len(val), len(test)) < k:
        raise FedXrayError(f"{source} is too small for {k} hospitals: each split needs at least {k} images")
    try:
        if config.partition == "dirichlet":
            train_parts, proportions = partition.dirichlet_partition(train.labels, k, config.alpha, rng)
            val_parts = partition.split_by_proportions(val.labels, proportions, rng)
        else:
            train_parts = partition.iid_partition(len(train), k, rng)
            val_parts = partition.iid_partition(len(val), k, rng)
    except ValueError as exc:
        raise FedXrayError(str(exc)) from exc
    test_parts = partition.stratified_partition(test.labels, k, rng)
    looks = partition.acquisition_params(k, rng) if config.acquisition_shift else None
    hospitals = []
    for i in range(k):
        parts = {"train": train.take(train_parts[i]), "val": val.take(val_parts[i]),
                 "test": test.take(test_parts[i])}
        if looks:
            noise_rng = np.random.default_rng([config.seed, 11, i])
            parts = {s: Split(partition.apply_acquisition(p.images, looks[i], noise_rng), p.labels)
                     for s, p in parts.items()}
        hospitals.append(HospitalData(f"hospital_{i + 1}", **parts))
    global_test = Split(np.concatenate([h.test.images for h in hospitals]),
                        np.concatenate([h.test.labels for h in hospitals]))
    notes = [f"partition={config.partition}" + (f" alpha={config.alpha}" if config.partition == "dirichlet" else "")]
    if looks:
        notes.append("acquisition shift: " + "; ".join(
            f"hospital_{i + 1} contrast {p['contrast']:.2f} gamma {p['gamma']:.2f} noise {p['noise']:.3f}"
            for i, p in enumerate(looks)))
    return Federation(hospitals, global_test, source, notes=notes)


# ----------------------------------------------------------------------------- folders

def federation_from_folders(root: str | Path, size: int) -> Federation:
    """Read the original layout: ROOT/HOSPITAL/hospital_k/{train,val,test}/{NORMAL,PNEUMONIA}/
    and ROOT/GLOBAL_TEST_DATASET/{NORMAL,PNEUMONIA}/.

    Folder names are matched without regard to case; any number of hospitals. A file
    that is not a readable image is skipped and listed in ``Federation.skipped``.

    Raises
    ------
    FedXrayError
        Naming the path, for a missing HOSPITAL or GLOBAL_TEST_DATASET folder, a
        missing split, an unknown class folder, or a hospital without training images.
    """
    root = Path(root)
    hospital_root = _child(root, "HOSPITAL")
    global_root = _child(root, "GLOBAL_TEST_DATASET")
    hospital_dirs = sorted((d for d in hospital_root.iterdir() if d.is_dir()), key=_natural_key)
    if not hospital_dirs:
        raise FedXrayError(f"{hospital_root} holds no hospital folders: add hospital_1/, hospital_2/, ... "
                           "each with train/, val/ and test/")
    skipped: list[tuple[str, str]] = []
    hospitals = []
    for hdir in hospital_dirs:
        parts = {split: read_class_folders(_child(hdir, split), size, skipped) for split in SPLITS}
        if len(parts["train"]) == 0:
            raise FedXrayError(f"{hdir / 'train'} holds no readable images: hospital '{hdir.name}' "
                               "cannot train (put images in NORMAL/ and PNEUMONIA/)")
        if len(parts["test"]) == 0:
            raise FedXrayError(f"{hdir / 'test'} holds no readable images: hospital '{hdir.name}' cannot be evaluated")
        hospitals.append(HospitalData(hdir.name, **parts))
    global_test = read_class_folders(global_root, size, skipped)
    if len(global_test) == 0:
        raise FedXrayError(f"{global_root} holds no readable images: put the global test images in NORMAL/ and PNEUMONIA/")
    return Federation(hospitals, global_test, str(root), skipped=skipped)


def read_class_folders(folder: Path, size: int, skipped: list[tuple[str, str]]) -> Split:
    """All readable images under folder/{NORMAL,PNEUMONIA}/ (any case), resized to ``size``.

    Unreadable files, non-images and loose files outside a class folder are appended
    to ``skipped`` as (path, reason) and do not stop the load.
    """
    images, labels = [], []
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir():
            skipped.append((str(entry), _not_a_file_reason(entry) or "not inside a NORMAL/ or PNEUMONIA/ folder"))
            continue
        name = entry.name.upper()
        if name not in CLASSES:
            raise FedXrayError(f"unknown class folder {entry}: only NORMAL and PNEUMONIA are allowed "
                               "(rename or move it)")
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
    raise FedXrayError(f"missing folder {parent / name}: the expected layout is ROOT/HOSPITAL/hospital_k/"
                       "{train,val,test}/{NORMAL,PNEUMONIA}/ and ROOT/GLOBAL_TEST_DATASET/{NORMAL,PNEUMONIA}/")


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


# ----------------------------------------------------------------------------- arrays

def _gray_uint8(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., :3].mean(axis=-1) if images.shape[-1] >= 3 else images[..., 0]
    if images.ndim != 3:
        raise FedXrayError(f"images must be (n, h, w) or (n, h, w, channels), got shape {images.shape}")
    if images.dtype != np.uint8:
        top = 65535.0 if images.max(initial=0) > 255 else (1.0 if images.max(initial=0) <= 1.0 else 255.0)
        images = np.clip(images.astype(np.float32) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return images


def resize_stack(images: np.ndarray, size: int) -> np.ndarray:
    """Resize (n, h, w) uint8 images to (n, size, size), center-cropping non-square ones."""
    n, h, w = images.shape
    if h == w == size:
        return images
    out = np.empty((n, size, size), np.uint8)
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    for i in range(n):
        img = Image.fromarray(images[i, top:top + side, left:left + side])
        out[i] = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR))
    return out


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (n, s, s) to float32 (n, s, s, 1) in 0..1, the model's input."""
    return (images.astype(np.float32) / 255.0)[..., None]
