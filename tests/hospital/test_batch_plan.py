"""The hospitals' batch plan: the rarer class in every batch, the hospital's loss unchanged."""

import numpy as np

from fedcore.hospital.batches import batch_plan


def _skewed(rare: int = 9, common: int = 2312) -> np.ndarray:
    # Seed 3's hospital_1: 9 NORMAL (0) among 2,321 images.
    return np.array([0] * rare + [1] * common)


def test_every_batch_holds_its_share_of_the_rare_class():
    labels = _skewed()
    plan = batch_plan(labels, 32, 0.25, np.random.default_rng(0))
    sizes = [len(index) for index, _ in plan]
    assert sizes == [
        min(32, len(labels) - i) for i in range(0, len(labels), 32)
    ]  # same batches as plain
    for index, _ in plan:
        assert (labels[index] == 0).sum() == max(1, round(0.25 * len(index)))
    # Every rare image is used, in turn, before any is used again.
    first_pass = np.concatenate([index[labels[index] == 0] for index, _ in plan])[:9]
    assert sorted(first_pass) == list(range(9))


def test_the_weights_keep_each_class_at_its_own_share_of_the_loss():
    labels = _skewed()
    plan = batch_plan(labels, 32, 0.25, np.random.default_rng(1))
    for index, factor in plan:
        # Within a batch each class weighs its share of the hospital: the batch loss is unbiased.
        for c in (0, 1):
            share = (labels == c).mean()
            np.testing.assert_allclose(
                factor[labels[index] == c].sum(), share * len(index), rtol=1e-5
            )
    total = {c: sum(f[labels[i] == c].sum() for i, f in plan) for c in (0, 1)}
    np.testing.assert_allclose([total[0], total[1]], [9, 2312], rtol=1e-5)


def test_plain_shuffling_when_no_class_is_rare_or_one_is_absent():
    for labels, share in (
        (np.array([0] * 40 + [1] * 60), 0.25),
        (_skewed(), 0.0),
        (np.ones(50, int), 0.25),
    ):
        plan = batch_plan(labels, 32, share, np.random.default_rng(7))
        order = np.random.default_rng(7).permutation(len(labels))  # the draw the engine always made
        np.testing.assert_array_equal(np.concatenate([index for index, _ in plan]), order)
        assert all((factor == 1).all() for _, factor in plan)
