"""The hospitals' data: the embedded PneumoniaMNIST federation, a user's folders, or a user's .npz.

Everything is held as uint8 grayscale at the model's input size, so a folder of
thousands of full-resolution radiographs costs size*size bytes an image in memory.
Labels: 0 = NORMAL, 1 = PNEUMONIA.

- :mod:`~fedcore.data.splits`: the types (Split, HospitalData, Federation);
- :mod:`~fedcore.data.npz`: the MedMNIST-format .npz reader and its checks;
- :mod:`~fedcore.data.folders`: the ROOT/HOSPITAL folder layout reader;
- :mod:`~fedcore.data.arrays`: image stacks to the model's grid and input;
- :mod:`~fedcore.data.federation`: a run's federation, divided, checked and capped.

The names other modules use are importable from ``fedcore.data`` itself.
"""

from fedcore.data.arrays import resize_stack, to_model_input
from fedcore.data.federation import (ASSETS, EMBEDDED_NPZ, SAMPLES_DIR, cap_training, check_both_classes,
                                     federation_from_npz, load_federation)
from fedcore.data.folders import federation_from_folders, read_class_folders
from fedcore.data.npz import MAX_NPZ_BYTES, read_npz
from fedcore.data.splits import CLASSES, SPLITS, Federation, HospitalData, Split

__all__ = [
    "ASSETS", "CLASSES", "EMBEDDED_NPZ", "MAX_NPZ_BYTES", "SAMPLES_DIR", "SPLITS", "Federation", "HospitalData",
    "Split", "cap_training", "check_both_classes", "federation_from_folders", "federation_from_npz",
    "load_federation", "read_class_folders", "read_npz", "resize_stack", "to_model_input",
]
