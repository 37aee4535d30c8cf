import numpy as np
import pytest

from fedcore.config.run_config import RunConfig
from fedcore.data import load_federation, partition


def _labels(n=1000, share=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random(n) > share).astype(int)


@pytest.mark.parametrize("hospitals", [2, 3, 5])
def test_dirichlet_partition_is_disjoint_complete_and_seeded(hospitals):
    labels = _labels()
    parts, props = partition.dirichlet_partition(labels, hospitals, 0.5, np.random.default_rng(1))
    joined = np.concatenate(parts)
    assert len(joined) == len(labels) and len(np.unique(joined)) == len(labels)
    assert props.shape == (2, hospitals)
    again, _ = partition.dirichlet_partition(labels, hospitals, 0.5, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    other, _ = partition.dirichlet_partition(labels, hospitals, 0.5, np.random.default_rng(2))
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other))
    assert min(len(p) for p in parts) >= partition.MIN_SHARE_OF_EQUAL * len(labels) / hospitals


def test_small_alpha_is_more_skewed_than_large_alpha():
    labels = _labels(3000)

    def skew(alpha):
        parts, _ = partition.dirichlet_partition(labels, 3, alpha, np.random.default_rng(3))
        return np.std([labels[p].mean() for p in parts])

    assert skew(0.1) > skew(100.0)


def test_iid_and_stratified_partitions():
    labels = _labels(999)
    iid = partition.iid_partition(999, 3, np.random.default_rng(0))
    assert sorted(np.concatenate(iid).tolist()) == list(range(999))
    strat = partition.stratified_partition(labels, 3, np.random.default_rng(0))
    assert sorted(np.concatenate(strat).tolist()) == list(range(999))
    assert [len(p) for p in strat] == [333, 333, 333]
    rates = [labels[p].mean() for p in strat]
    assert max(rates) - min(rates) < 0.01


def test_acquisition_shift_changes_other_hospitals_only():
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8), dtype=np.uint8)
    looks = partition.acquisition_params(3, np.random.default_rng(0))
    same = partition.apply_acquisition(images, looks[0], np.random.default_rng(0))
    np.testing.assert_array_equal(same, images)
    shifted = partition.apply_acquisition(images, looks[1], np.random.default_rng(0))
    assert shifted.dtype == np.uint8 and shifted.shape == images.shape
    assert np.abs(shifted.astype(int) - images).mean() > 2


def test_embedded_federation_layout():
    fed = load_federation(RunConfig())
    assert [h.name for h in fed.hospitals] == ["hospital_1", "hospital_2", "hospital_3"]
    # Train and val come from the official train/val splits, once, less the 16 samples' twins (held
    # out).
    assert sum(len(h.train) for h in fed.hospitals) == 4694
    assert sum(len(h.val) for h in fed.hospitals) == 522
    # Tests: the 624 official test images in three stratified parts of 208.
    assert [len(h.test) for h in fed.hospitals] == [208, 208, 208]
    assert len(fed.global_test) == 624
    assert fed.global_test.class_counts() == {"NORMAL": 234, "PNEUMONIA": 390}
    # Non-IID: the hospitals' PNEUMONIA shares differ widely.
    shares = [h.train.labels.mean() for h in fed.hospitals]
    assert max(shares) - min(shares) > 0.3
    again = load_federation(RunConfig())
    assert all(
        np.array_equal(a.train.images, b.train.images)
        for a, b in zip(fed.hospitals, again.hospitals)
    )


def test_max_per_hospital_and_image_size():
    fed = load_federation(RunConfig(max_per_hospital=50, image_size=40))
    assert all(len(h.train) <= 50 for h in fed.hospitals)
    assert fed.hospitals[0].train.images.shape[1:] == (40, 40)


def test_a_hundred_hospitals_at_alpha_half_are_topped_up_to_the_floor():
    # Prepare: no Dirichlet(0.5) draw over 100 hospitals leaves every one above the floor
    labels = _labels(4700)

    # Execute
    parts, props = partition.dirichlet_partition(labels, 100, 0.5, np.random.default_rng(0))

    # Assert: disjoint, complete, every hospital at the floor, proportions that match the parts
    joined = np.concatenate(parts)
    assert len(joined) == len(labels) and len(np.unique(joined)) == len(labels)
    assert min(len(p) for p in parts) >= np.ceil(partition.MIN_SHARE_OF_EQUAL * len(labels) / 100)
    np.testing.assert_allclose(props.sum(axis=1), 1.0)
    np.testing.assert_allclose(
        props[1] * (labels == 1).sum(), [(labels[p] == 1).sum() for p in parts]
    )
    assert np.std([labels[p].mean() for p in parts]) > 0.2  # still non-IID
