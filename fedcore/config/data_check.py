"""Whether a data setting names something that can train, checked before any run starts."""

from __future__ import annotations

from pathlib import Path

from fedcore.errors import FedXrayError

EMBEDDED = "embedded"


def check_data(data: str) -> None:
    """Refuse a data setting that cannot train, before any process starts.

    Parameters
    ----------
    data : str
        ``embedded``, a folder, or a .npz path, as typed by the user.

    Raises
    ------
    FedXrayError
        For an empty setting, a missing path, an empty folder, or a folder without the
        HOSPITAL/ and GLOBAL_TEST_DATASET/ sub-folders.
    """
    if data == EMBEDDED:
        return
    if not data.strip():
        raise FedXrayError(
            "the data folder path is empty: type a folder path, or choose the embedded data"
        )
    path = Path(data.strip()).expanduser()
    if not path.exists():
        raise FedXrayError(
            f"data path '{path}' does not exist: give a folder in the ROOT/HOSPITAL/hospital_k/"
            "{train,val,test} layout, a MedMNIST-format .npz, or 'embedded'"
        )
    if path.is_dir():
        names = {p.name.upper() for p in path.iterdir()}
        if not names:
            raise FedXrayError(
                f"the folder '{path}' is empty: it needs HOSPITAL/hospital_k/{{train,val,test}}/"
                "{NORMAL,PNEUMONIA}/ and GLOBAL_TEST_DATASET/{NORMAL,PNEUMONIA}/"
            )
        missing = [n for n in ("HOSPITAL", "GLOBAL_TEST_DATASET") if n not in names]
        if missing:
            raise FedXrayError(
                f"the folder '{path}' has no {' or '.join(m + '/' for m in missing)} sub-folder: "
                "it needs HOSPITAL/hospital_k/{train,val,test}/ and GLOBAL_TEST_DATASET/"
            )
    elif path.suffix.lower() != ".npz":
        raise FedXrayError(
            f"'{path}' is a file but not a .npz: give a folder or a MedMNIST-format .npz"
        )
