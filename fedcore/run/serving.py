"""What a dashboard served beyond this machine allows: the rules the web server enforces through
fedcore.

The dashboard is *exposed* when ``FEDXRAY_PASSWORD`` is set: that is how it is served to
people on a network (README, "Serving the dashboard to judges on a network"). Then every
browser session must sign in before it may do anything, and a run may only read data under
``FEDXRAY_DATA_ROOT``: the Train form's data field must not let a visitor train on, or probe
for, any server path. Without a password the dashboard serves only a server that listens on
the loopback; on any other address (the empty one listens on every interface) it refuses
every session.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from fedcore.errors import FedXrayError

PASSWORD_ENV = "FEDXRAY_PASSWORD"
DATA_ROOT_ENV = "FEDXRAY_DATA_ROOT"

# How a browser session is admitted (access_mode).
OPEN = "open"  # loopback, no password: this machine's user, every session admitted
PASSWORD = "password"  # exposed: a session is admitted once it has signed in
REFUSED = "refused"  # beyond the loopback without a password: no session is admitted

# An absolute or home path in a message: starts a word, or follows a quote, '(', '[' or '='.
_PATH = re.compile(r"(?:(?<=^)|(?<=[\s'\"`(\[=]))~?/[\w.~-][^\s'\"`)\],;:]*")
# An exception's class name: alone in brackets (` (BadZipFile)`), before its text in brackets
# (`(KeyError: `), or any name ending in Error or Exception (`OSError: `).
_EXCEPTION = re.compile(
    r"\s?\(\s*[A-Z][a-z]\w*[A-Z]\w*\s*\)"
    r"|(?<=\()[A-Z][a-z]\w*[A-Z]\w*: "
    r"|\b[A-Z]\w*(?:Error|Exception)\b(?::\s*)?"
)


def exposed() -> bool:
    """True when the dashboard is served to a network (``FEDXRAY_PASSWORD`` set, not empty)."""
    return bool(os.environ.get(PASSWORD_ENV))


def on_loopback(address: str | None) -> bool:
    """Whether a server listening on ``address`` can be reached from this machine only.

    ``localhost`` and any loopback IP (127.0.0.0/8, ::1) are; an empty or missing address
    (Streamlit then listens on every interface), a host name or any other IP is not.
    """
    address = (address or "").strip()
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def access_mode(address: str | None) -> str:
    """How a server listening on ``address`` admits a browser session: OPEN, PASSWORD or REFUSED.

    Parameters
    ----------
    address : str or None
        Streamlit's ``server.address``.
    """
    if exposed():
        return PASSWORD
    return OPEN if on_loopback(address) else REFUSED


def public_text(message: str) -> str:
    """``message`` as a browser may see it: when exposed, no server path and no exception name.

    A path under ``FEDXRAY_DATA_ROOT`` stays whole (that folder is shared on purpose); any
    other keeps only its last part (``…/best.npz``). Unexposed, the browser is this machine's
    user and the message is returned as it is.
    """
    if not exposed():
        return message
    root = _data_root()

    def hide(match: re.Match) -> str:
        path = match.group().rstrip(".")
        tail = match.group()[len(path) :]
        if root is not None and Path(path).expanduser().is_relative_to(root):
            return path + tail
        return "…/" + Path(path).name + tail

    return _EXCEPTION.sub("", _PATH.sub(hide, message))


def check_data_root(data: str) -> None:
    """Refuse, when exposed, a data path outside ``FEDXRAY_DATA_ROOT``, before looking at it.

    The containment is checked on the resolved path (``..`` and symbolic links cannot
    escape), and before anything else about the path, so that the message is the same for
    every path outside the root: one that exists or not, a file, an empty folder. A visitor
    learns nothing about the server.

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
    root = _data_root()
    if root is None:
        raise FedXrayError(
            "this dashboard is served to a network and no data folder is shared "
            f"({DATA_ROOT_ENV} is not set): use the embedded data"
        )
    if not Path(data.strip()).expanduser().resolve().is_relative_to(root):
        raise FedXrayError(
            f"this dashboard is served to a network: only folders under {root} "
            f"(the shared {DATA_ROOT_ENV}) can be used, e.g. {root / 'my_hospitals'}"
        )


def _data_root() -> Path | None:
    root = os.environ.get(DATA_ROOT_ENV)
    return Path(root).expanduser().resolve() if root else None
