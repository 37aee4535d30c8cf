"""What one .npy member of a zip holds, read from its header before any of its data."""

from __future__ import annotations

from typing import IO

import numpy as np


def npy_header(member: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from an open .npy stream's header, either format version."""
    version = np.lib.format.read_magic(member)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read_header(member)
    return shape, dtype
