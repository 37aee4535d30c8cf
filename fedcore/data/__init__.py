"""The hospitals' data: the embedded PneumoniaMNIST, a user's folders or .npz, their partition.

May import from fedcore: errors, npy, config, imaging.
"""

from fedcore.data.arrays import resize_stack, to_model_input
from fedcore.data.federation import (
    ASSETS,
    EMBEDDED_NPZ,
    SAMPLES_DIR,
    cap_training,
    check_both_classes,
    federation_from_npz,
    load_federation,
)
from fedcore.data.folders import (
    MAX_FOLDER_ENTRIES,
    check_folder_budget,
    federation_from_folders,
    read_class_folders,
)
from fedcore.data.npz import MAX_NPZ_BYTES, read_npz
from fedcore.data.splits import CLASSES, SPLITS, Federation, HospitalData, Split

__all__ = [
    "ASSETS",
    "CLASSES",
    "EMBEDDED_NPZ",
    "MAX_FOLDER_ENTRIES",
    "MAX_NPZ_BYTES",
    "SAMPLES_DIR",
    "SPLITS",
    "Federation",
    "HospitalData",
    "Split",
    "cap_training",
    "check_both_classes",
    "check_folder_budget",
    "federation_from_folders",
    "federation_from_npz",
    "load_federation",
    "read_class_folders",
    "read_npz",
    "resize_stack",
    "to_model_input",
]
