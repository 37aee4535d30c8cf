"""A run's federation: the embedded PneumoniaMNIST or a user's .npz divided among hospitals, or
a user's folders, then checked and capped the same way whichever source it came from.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from fedcore.config.run_config import EMBEDDED, RunConfig
from fedcore.data import partition
from fedcore.data.folders import federation_from_folders
from fedcore.data.npz import read_npz
from fedcore.data.splits import Federation, HospitalData, Split
from fedcore.errors import FedXrayError

# The embedded data and the sample radiographs ship in the repository's assets/.
ASSETS = Path(__file__).resolve().parents[2] / "assets"
EMBEDDED_NPZ = ASSETS / "pneumoniamnist" / "pneumoniamnist.npz"
SAMPLES_DIR = ASSETS / "samples"


def load_federation(config: RunConfig) -> Federation:
    """The federation a run's config names.

    Parameters
    ----------
    config : RunConfig
        Uses data, hospitals, partition, alpha, acquisition_shift, max_per_hospital,
        input_size and seed.

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
            raise FedXrayError(
                f"{path} is neither a folder in the ROOT/HOSPITAL/hospital_k/"
                "{train,val,test} layout nor a MedMNIST-format .npz"
            )
    check_both_classes(fed.global_test, f"the global test set of {fed.source}")
    config.check_hospitals(len(fed.hospitals))
    fed.hospitals = [
        cap_training(h, config.max_per_hospital, config.seed, i)
        for i, h in enumerate(fed.hospitals)
    ]
    return fed


def cap_training(data: HospitalData, cap: int | None, seed: int, index: int) -> HospitalData:
    """At most ``cap`` training images, stratified, drawn by (seed, index).

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
        raise FedXrayError(
            f"{where} holds no {' or '.join(absent)} image ({counts}): AUROC, which chooses the "
            f"best round, needs both classes; add {' and '.join(absent)} images to it"
        )


def federation_from_npz(path: str | Path, config: RunConfig, source: str) -> Federation:
    """``config.hospitals`` hospitals from an .npz's splits.

    The train split is divided by :func:`fedcore.data.partition.dirichlet_partition` (or IID);
    the val split with the same per-class shares, so each hospital's validation mirrors its
    training data; the test split into equal stratified parts (3 x 208 for the 624 official test
    images). The global test set is the union of the hospitals' test sets, each as its own
    scanner rendered it.
    """
    splits = read_npz(path, config.input_size)
    rng = np.random.default_rng(config.seed)
    k = config.hospitals
    train, val, test = splits["train"], splits["val"], splits["test"]
    if min(len(train), len(val), len(test)) < k:
        raise FedXrayError(
            f"{source} is too small for {k} hospitals: each split needs at least {k} images"
        )
    try:
        if config.partition == "dirichlet":
            train_parts, proportions = partition.dirichlet_partition(
                train.labels, k, config.alpha, rng
            )
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
        parts = {
            "train": train.take(train_parts[i]),
            "val": val.take(val_parts[i]),
            "test": test.take(test_parts[i]),
        }
        if looks:
            noise_rng = np.random.default_rng([config.seed, 11, i])
            parts = {
                s: Split(partition.apply_acquisition(p.images, looks[i], noise_rng), p.labels)
                for s, p in parts.items()
            }
        hospitals.append(HospitalData(f"hospital_{i + 1}", **parts))
    global_test = Split(
        np.concatenate([h.test.images for h in hospitals]),
        np.concatenate([h.test.labels for h in hospitals]),
    )
    notes = [
        f"partition={config.partition}"
        + (f" alpha={config.alpha}" if config.partition == "dirichlet" else "")
    ]
    if looks:
        notes.append(
            "acquisition shift: "
            + "; ".join(
                f"hospital_{i + 1} contrast {p['contrast']:.2f} gamma {p['gamma']:.2f} "
                f"noise {p['noise']:.3f}"
                for i, p in enumerate(looks)
            )
        )
    return Federation(hospitals, global_test, source, notes=notes)
