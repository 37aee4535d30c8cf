"""What a dashboard served beyond this machine allows: the rules the web server enforces through
fedcore.

The dashboard is *exposed* when ``FEDXRAY_PASSWORD`` is set: that is how it is served to
people on a network (README, "Serving the dashboard to judges on a network"), and the
dashboard refuses to listen on a non-loopback address without it. Then every page asks
for the password, and a run may only read data under ``FEDXRAY_DATA_ROOT``: the Train
form's data field must not let a visitor train on, or probe for, any server path.
"""

from __future__ import annotations

import os
from pathlib import Path

from fedcore.errors import FedXrayError

PASSWORD_ENV = "FEDXRAY_PASSWORD"
DATA_ROOT_ENV = "FEDXRAY_DATA_ROOT"


def exposed() -> bool:
    """True when the dashboard is served to a network (``FEDXRAY_PASSWORD`` set, not empty)."""
    return bool(os.environ.get(PASSWORD_ENV))


def check_data_root(data: str) -> None:
    """Refuse, when exposed, a data path outside ``FEDXRAY_DATA_ROOT``, before looking at it.

    The containment is checked on the resolved path (``..`` and symbolic links cannot
    escape), and before the path's existence, so that the message is the same for a
    path that exists and one that does not: a visitor learns nothing about the server.

    Parameters
    ----------
    data : str
        The data folder or .npz as typed (``embedded`` is always allowed; the caller
        skips it).

    Raises
    ------
    FedXrayError
        When exposed and the path is not under the data root, or no root is set.
    """
    if not exposed():
        return
    root = os.environ.get(DATA_ROOT_ENV)
    if not root:
        raise FedXrayError(
            "this dashboard is served to a network and no data folder is shared "
            f"({DATA_ROOT_ENV} is not set): use the embedded data"
        )
    root_path = Path(root).expanduser().resolve()
    if not Path(data.strip()).expanduser().resolve().is_relative_to(root_path):
        raise FedXrayError(
            f"this dashboard is served to a network: only folders under {root_path} "
            f"(the shared {DATA_ROOT_ENV}) can be used, e.g. {root_path / 'my_hospitals'}"
        )
