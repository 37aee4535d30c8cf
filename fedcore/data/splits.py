"""The data as held in memory: one split's images and labels, one hospital's splits, the federation.

Images are uint8 grayscale at the model's input size; labels 0 = NORMAL, 1 = PNEUMONIA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CLASSES = ("NORMAL", "PNEUMONIA")
SPLITS = ("train", "val", "test")


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
