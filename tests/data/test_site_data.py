"""Each site's own data: exported files read back as the in-process federation, folders, caps."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fedcore.data import cap_training, load_federation
from fedcore.data.site import export_sites, load_global_test, load_hospital
from fedcore.errors import FedXrayError
from tests.conftest import tiny_config


def test_exported_sites_read_back_as_the_in_process_federation(tmp_path):
    # Prepare
    config = tiny_config(max_per_hospital=40)
    federation = load_federation(config)

    # Execute
    paths = export_sites(config, tmp_path)
    hospitals = [load_hospital(paths[h.name], config.input_size)[0] for h in federation.hospitals]
    global_test = load_global_test(paths["global_test"], config.input_size)

    # Assert
    for got, want in zip(hospitals, federation.hospitals):
        assert got.name == want.name
        for split in ("train", "val", "test"):
            np.testing.assert_array_equal(getattr(got, split).images, getattr(want, split).images)
            np.testing.assert_array_equal(getattr(got, split).labels, getattr(want, split).labels)
    np.testing.assert_array_equal(global_test.labels, federation.global_test.labels)


def test_a_hospital_folder_is_read_with_its_name(tmp_path):
    # Prepare: hospital_7/{train,val,test}/{NORMAL,PNEUMONIA}/ with one image each
    root = tmp_path / "hospital_7"
    for split in ("train", "val", "test"):
        for label in ("NORMAL", "PNEUMONIA"):
            (root / split / label).mkdir(parents=True)
            Image.fromarray(np.full((40, 40), 100, np.uint8)).save(root / split / label / "a.png")

    # Execute
    data, skipped = load_hospital(root, 28)

    # Assert
    assert data.name == "hospital_7" and skipped == []
    assert data.train.images.shape == (2, 28, 28) and sorted(data.train.labels.tolist()) == [0, 1]


def test_a_missing_data_path_says_what_to_set(tmp_path):
    with pytest.raises(FedXrayError, match="data-path"):
        load_hospital(tmp_path / "nowhere", 28)


def test_cap_training_keeps_at_most_the_cap_and_is_a_no_op_below_it(tmp_path):
    # Prepare
    config = tiny_config(max_per_hospital=None)
    data = load_federation(config).hospitals[1]

    # Execute
    capped = cap_training(data, 30, seed=7, index=1)

    # Assert
    assert len(capped.train) == 30 and len(capped.test) == len(data.test)
    assert cap_training(capped, 30, seed=7, index=1) is capped
