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


def check_site_data(data: str) -> Path:
    """Refuse a hospital site's data path whose layout cannot be one hospital, before it joins.

    Parameters
    ----------
    data : str
        One hospital's folder (``train/ val/ test/``, each ``NORMAL/ PNEUMONIA/``: one
        ``HOSPITAL/hospital_k`` of the original layout) or a MedMNIST-format ``.npz``.

    Returns
    -------
    Path
        The path, expanded.

    Raises
    ------
    FedXrayError
        For an empty or missing path, a file that is not a .npz, a whole federation's folder,
        or a folder without train/, val/ and test/ holding NORMAL/ and PNEUMONIA/.
    """
    if not data.strip():
        raise FedXrayError("--data is empty: give this hospital's folder or .npz")
    path = Path(data.strip()).expanduser()
    if not path.exists():
        raise FedXrayError(
            f"data path '{path}' does not exist: give this hospital's folder or .npz"
        )
    if path.is_file():
        if path.suffix.lower() != ".npz":
            raise FedXrayError(f"'{path}' is a file but not a .npz: give a folder or a .npz")
        return path
    names = {p.name.lower(): p for p in path.iterdir() if p.is_dir()}
    if "hospital" in names:
        raise FedXrayError(
            f"'{path}' is a whole federation's folder: give this hospital's own folder, "
            f"e.g. {names['hospital'] / 'hospital_1'}"
        )
    for split in ("train", "val", "test"):
        if split not in names:
            raise FedXrayError(
                f"'{path}' has no {split}/ folder: a hospital's folder holds train/, val/ and "
                "test/, each with NORMAL/ and PNEUMONIA/"
            )
        classes = {p.name.upper() for p in names[split].iterdir() if p.is_dir()}
        missing = [c for c in ("NORMAL", "PNEUMONIA") if c not in classes]
        if missing:
            raise FedXrayError(
                f"'{names[split]}' has no {' or '.join(m + '/' for m in missing)} folder: each "
                "split holds NORMAL/ and PNEUMONIA/"
            )
    return path
