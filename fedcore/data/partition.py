"""Seeded splits of a labelled pool into hospitals, and per-hospital scanner looks.

Pure numpy. A partition is a list of index arrays, one per hospital, disjoint and
together covering every index of the pool.
"""

from __future__ import annotations

import numpy as np

# A Dirichlet draw can leave a hospital nearly empty; redraw until each has this share
# of an equal split, so every hospital can train and be evaluated.
MIN_SHARE_OF_EQUAL = 0.2
MAX_REDRAWS = 1000


def iid_partition(n: int, hospitals: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle ``range(n)`` and deal it into ``hospitals`` near-equal parts."""
    return [np.sort(part) for part in np.array_split(rng.permutation(n), hospitals)]


def dirichlet_proportions(
    classes: int, hospitals: int, alpha: float, rng: np.random.Generator
) -> np.ndarray:
    """Per-class shares of each hospital: row c sums to 1 over hospitals.

    Parameters
    ----------
    classes, hospitals : int
    alpha : float
        Dirichlet concentration; small alpha gives each class to few hospitals.
    rng : np.random.Generator

    Returns
    -------
    np.ndarray, shape (classes, hospitals)
    """
    return rng.dirichlet(np.full(hospitals, alpha), size=classes)


def split_by_proportions(
    labels: np.ndarray, proportions: np.ndarray, rng: np.random.Generator
) -> list[np.ndarray]:
    """Give hospital k the share ``proportions[c, k]`` of each class c's shuffled indices."""
    labels = np.asarray(labels).ravel()
    hospitals = proportions.shape[1]
    parts: list[list[np.ndarray]] = [[] for _ in range(hospitals)]
    for c in range(proportions.shape[0]):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cuts = (np.cumsum(proportions[c])[:-1] * len(idx)).round().astype(int)
        for k, chunk in enumerate(np.split(idx, cuts)):
            parts[k].append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def dirichlet_partition(
    labels: np.ndarray, hospitals: int, alpha: float, rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray]:
    """Non-IID split by label with unequal sizes (Hsu et al., 2019).

    Redraws until every hospital holds at least ``MIN_SHARE_OF_EQUAL`` of an equal share.
    With many hospitals at a small alpha (100 at 0.5) some hospital is nearly empty in
    every draw; then the last draw is kept and :func:`top_up` fills the small hospitals
    from the largest, so that any number of hospitals up to the images can be made.

    Returns
    -------
    parts : list of np.ndarray
        Sorted indices of each hospital.
    proportions : np.ndarray, shape (classes, hospitals)
        Each class's shares of the hospitals, to split further pools (e.g. validation) the same way.
    """
    labels = np.asarray(labels).ravel()
    classes = int(labels.max()) + 1
    floor = int(np.ceil(MIN_SHARE_OF_EQUAL * len(labels) / hospitals))
    for _ in range(MAX_REDRAWS):
        proportions = dirichlet_proportions(classes, hospitals, alpha, rng)
        parts = split_by_proportions(labels, proportions, rng)
        if min(len(p) for p in parts) >= floor:
            return parts, proportions
    parts = top_up(parts, floor, rng)
    counts = np.array(
        [[np.count_nonzero(labels[p] == c) for p in parts] for c in range(classes)], np.float64
    )
    return parts, counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def top_up(parts: list[np.ndarray], floor: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Fill each hospital under ``floor``, smallest first, with random images of the largest.

    The donor's images are a sample of its own mix, so a topped-up hospital keeps the
    skew of the one it borrows from; the partition stays disjoint and complete.
    """
    parts = [np.asarray(p) for p in parts]
    for k in np.argsort([len(p) for p in parts], kind="stable"):
        while len(parts[k]) < floor:
            donor = int(np.argmax([len(p) for p in parts]))
            take = min(floor - len(parts[k]), len(parts[donor]) - floor)
            moved = rng.choice(len(parts[donor]), take, replace=False)
            parts[k] = np.concatenate([parts[k], parts[donor][moved]])
            parts[donor] = np.delete(parts[donor], moved)
    return [np.sort(p) for p in parts]


def stratified_partition(
    labels: np.ndarray, hospitals: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Equal-size parts with the pool's class balance in each (the original's 208-image sets)."""
    labels = np.asarray(labels).ravel()
    order = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    )
    return [np.sort(order[k::hospitals]) for k in range(hospitals)]


def acquisition_params(hospitals: int, rng: np.random.Generator) -> list[dict]:
    """One scanner look per hospital: contrast, gamma and noise level.

    Hospital 1 keeps the images as they are (the reference scanner); the others get a
    visibly different but plausible rendering.
    """
    params = [{"contrast": 1.0, "gamma": 1.0, "noise": 0.0}]
    for _ in range(1, hospitals):
        params.append(
            {
                "contrast": float(rng.uniform(0.7, 1.3)),
                "gamma": float(rng.uniform(0.7, 1.5)),
                "noise": float(rng.uniform(0.01, 0.05)),
            }
        )
    return params


def apply_acquisition(images: np.ndarray, params: dict, rng: np.random.Generator) -> np.ndarray:
    """Render uint8 images as another scanner would: contrast about the mean, gamma, noise.

    Parameters
    ----------
    images : np.ndarray of uint8, shape (n, h, w)
    params : dict
        contrast, gamma, noise (std on the 0..1 scale), from :func:`acquisition_params`.
    rng : np.random.Generator
        Source of the sensor noise.

    Returns
    -------
    np.ndarray of uint8, same shape.
    """
    x = images.astype(np.float32) / 255.0
    mean = x.mean(axis=(1, 2), keepdims=True)
    x = np.clip((x - mean) * params["contrast"] + mean, 0.0, 1.0) ** params["gamma"]
    if params["noise"] > 0:
        x = x + rng.normal(0.0, params["noise"], size=x.shape).astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
