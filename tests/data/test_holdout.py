"""The 16 sample radiographs shown on the Diagnose page are unseen: none has a twin in the embedded
train or val data."""

import io

import numpy as np
from PIL import Image

from fedcore.data import EMBEDDED_NPZ, SAMPLES_DIR
from fedcore.diagnosis.lookalike import TWIN_DISTANCE, sample_paths, twin_distances
from fedcore.imaging.decode import decode_image, load_image


def test_no_sample_has_a_twin_in_the_embedded_train_or_val_split():
    samples = sample_paths(SAMPLES_DIR)
    assert len(samples) == 16
    with np.load(EMBEDDED_NPZ) as npz:
        splits = {split: npz[f"{split}_images"] for split in ("train", "val", "test")}
    for path in samples:
        view = load_image(path, 28)
        for split, images in splits.items():
            nearest = twin_distances(view, images).min()
            assert nearest >= TWIN_DISTANCE, (
                f"{path.name} has a twin in {split} at {nearest:.2f} grey levels"
            )


def test_the_twin_distance_finds_the_same_radiograph_resized_and_recompressed():
    path = sample_paths(SAMPLES_DIR)[0]
    view = load_image(path, 28)
    # The same radiograph through another resize and JPEG round trip, as MedMNIST made its copy.
    image = Image.open(path).convert("L")
    big = image.resize((image.width // 4, image.height // 4))
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=75)
    again = decode_image(buffer.getvalue(), 28)
    other = load_image(sample_paths(SAMPLES_DIR)[-1], 28)
    distances = twin_distances(view, np.stack([again, other]))
    assert distances[0] < TWIN_DISTANCE <= distances[1]


def test_embedded_counts_after_the_hold_out():
    with np.load(EMBEDDED_NPZ) as npz:
        assert len(npz["train_labels"]) == 4694 and int(npz["train_labels"].sum()) == 3486
        assert len(npz["val_labels"]) == 522 and int(npz["val_labels"].sum()) == 389
        assert len(npz["test_labels"]) == 624 and int(npz["test_labels"].sum()) == 390
