"""Remove the 16 sample radiographs' twins from the embedded train and val splits.

The samples in assets/samples/ are full-resolution copies of images that are also in
PneumoniaMNIST (center-cropped and resized to 28x28). Shown on the Diagnose page, they
must be images the model never trained on, so this script rewrites
assets/pneumoniamnist/pneumoniamnist.npz from the unchanged MedMNIST file with every
train or val image within ``TWIN_DISTANCE`` of a sample left out (the test split is
kept whole: it is the official benchmark and holds no twin). It prints what it removed.

Usage: python scripts/holdout_samples.py [--source ../shared/data/pneumoniamnist.npz]
The output is byte-identical for the same source (fixed zip timestamps).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fedcore.data import EMBEDDED_NPZ, SAMPLES_DIR  # noqa: E402
from fedcore.diagnosis.lookalike import TWIN_DISTANCE, sample_paths, twin_distances  # noqa: E402
from fedcore.imaging.decode import load_image  # noqa: E402

KEYS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels")
HELD_OUT_SPLITS = ("train", "val")


def find_twins(arrays: dict, samples: list[Path]) -> list[tuple[str, str, int, float]]:
    """(sample name, split, index, distance) for every train/val image within TWIN_DISTANCE of a
    sample."""
    twins = []
    for path in samples:
        view = load_image(path, 28)
        for split in HELD_OUT_SPLITS:
            distances = twin_distances(view, arrays[f"{split}_images"])
            for index in np.flatnonzero(distances < TWIN_DISTANCE):
                twins.append(
                    (f"{path.parent.name}/{path.name}", split, int(index), float(distances[index]))
                )
    return twins


def write_npz(path: Path, arrays: dict) -> None:
    """np.savez_compressed with a fixed timestamp, so the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key in KEYS:
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "pneumoniamnist.npz",
        help="the unchanged MedMNIST PneumoniaMNIST file (sha256 in assets/SHA256SUMS.source)",
    )
    parser.add_argument("--out", type=Path, default=EMBEDDED_NPZ)
    args = parser.parse_args(argv)
    with np.load(args.source) as npz:
        arrays = {key: npz[key] for key in KEYS}
    twins = find_twins(arrays, sample_paths(SAMPLES_DIR))
    for split in HELD_OUT_SPLITS:
        drop = [index for _, s, index, _ in twins if s == split]
        arrays[f"{split}_images"] = np.delete(arrays[f"{split}_images"], drop, axis=0)
        arrays[f"{split}_labels"] = np.delete(arrays[f"{split}_labels"], drop, axis=0)
    write_npz(args.out, arrays)
    print("| sample | split | index | distance |\n|---|---|---|---|")
    for name, split, index, distance in sorted(twins, key=lambda t: (t[1], t[2])):
        print(f"| {name} | {split} | {index} | {distance:.2f} |")
    for split in ("train", "val", "test"):
        labels = arrays[f"{split}_labels"].ravel()
        print(
            f"{split}: {len(labels)} images ({int((labels == 0).sum())} NORMAL / "
            f"{int((labels == 1).sum())} PNEUMONIA)"
        )
    print(
        f"sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}  {args.out.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
