"""Each update's norm, cosines and flag on literal updates (Prepare / Execute / Assert)."""

import numpy as np
import pytest

from fedcore.server.update_geometry import (
    flag_reasons,
    geometry,
    medians_of_others,
    robust_z,
    short_reason,
)


def _honest(rng, n=8, size=50):
    direction = rng.normal(size=size)
    return np.stack([direction + 0.3 * rng.normal(size=size) for _ in range(n)])


def test_norms_and_cosines_are_those_computed_by_hand():
    # Prepare: three updates in the plane; the others' coordinate-wise median of update 0 is
    # the median of (0, 2) and (0, 1) = (0, 1.5).
    updates = np.array([[3.0, 4.0], [0.0, 2.0], [0.0, 1.0]])
    aggregate = np.array([1.0, 0.0])
    # Execute
    per = geometry(updates, aggregate)
    # Assert
    assert per[0]["update_norm"] == pytest.approx(5.0)
    assert per[0]["cos_aggregate"] == pytest.approx(0.6)
    assert per[0]["cos_median"] == pytest.approx(0.8)
    assert per[1]["cos_aggregate"] == pytest.approx(0.0)


def test_a_scaled_update_is_flagged_for_its_norm_in_words():
    updates = _honest(np.random.default_rng(0))
    updates[3] *= 9.8
    per = geometry(updates, updates.mean(axis=0))
    assert [p["flagged"] for p in per] == [0, 0, 0, 1, 0, 0, 0, 0]
    assert per[3]["flag_reason"].startswith("update 9.")
    assert per[3]["flag_reason"].endswith("x the median norm")


def test_a_sign_flipped_update_is_flagged_for_pointing_away():
    updates = _honest(np.random.default_rng(1))
    updates[5] *= -1
    per = geometry(updates, updates.mean(axis=0))
    assert [p["flagged"] for p in per] == [0, 0, 0, 0, 0, 1, 0, 0]
    assert per[5]["flag_reason"].startswith("points away from the others: cosine -0.")


def test_honest_updates_of_different_sizes_are_not_flagged():
    # Norms 1 to 2.5 and cosines 0.2 to 0.9: hospitals that differ, none an outlier.
    norms = np.array([1.0, 1.5, 2.0, 2.5, 1.2])
    cosines = np.array([0.2, 0.5, 0.9, 0.7, 0.4])
    assert flag_reasons(norms, cosines) == [""] * 5


def test_two_hospitals_are_never_flagged():
    updates = np.array([[1.0, 0.0], [-50.0, 0.0]])
    assert [p["flagged"] for p in geometry(updates, updates.mean(axis=0))] == [0, 0]


def test_the_robust_z_score_ignores_the_outlier_and_floors_the_mad():
    z = robust_z(np.array([1.0, 1.0, 1.0, 1.0, 10.0]), scale_floor=0.1)
    assert z[-1] == pytest.approx(90.0)
    assert z[:4].tolist() == [0.0] * 4


def test_a_reason_shortens_for_a_legend():
    reason = "update 9.8x the median norm; points away from the others: cosine -0.94"
    assert short_reason(reason) == "9.8x norm, cosine -0.94"


def test_an_inflated_image_count_is_flagged_in_words():
    updates = _honest(np.random.default_rng(2))
    counts = np.array([300, 120, 800, 5000, 250, 400, 2100, 150])
    per = geometry(updates, updates.mean(axis=0), counts)
    assert [p["flagged"] for p in per] == [0, 0, 0, 1, 0, 0, 0, 0]
    assert per[3]["flag_reason"] == "claims 5000 images, 14.3x the median"
    assert short_reason(per[3]["flag_reason"]) == "14.3x images"


@pytest.mark.parametrize("n", [2, 3, 4, 7, 10])
def test_the_medians_of_the_others_equal_numpy_median_without_each(n):
    rng = np.random.default_rng(n)
    updates = rng.normal(size=(n, 40))
    updates[:, :5] = np.round(updates[:, :5])  # ties
    for k in range(n):
        np.testing.assert_allclose(
            medians_of_others(updates)[k], np.median(np.delete(updates, k, axis=0), axis=0)
        )
