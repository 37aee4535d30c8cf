"""The files the command line writes for the user (``--json``, ``--csv``, ``--html``): checked
before anything runs, and written whole or not at all.

Each file is written to a temp file beside it, flushed to disk, and renamed over the old one
only once every file of the set is written: a full disk, a crash or Ctrl-C midway leaves the
old files as they were, never a partial one, and no temp file. A link is followed (the file it
points to is replaced); a path under /dev or /proc (``/dev/stdout``) and what is not a regular
file (a pipe) are written as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

from fedcore.errors import FedXrayError


def check_output_file(path: str) -> None:
    """Refuse an output path that cannot be written, before anything runs (the result would be
    lost).

    Raises
    ------
    FedXrayError
        For a folder, a path in a folder that does not exist, or one not writable.
    """
    target = Path(path)
    if target.is_dir():
        raise FedXrayError(
            f"{target} is a folder: give a file path for the output, e.g. {target / 'result.json'}"
        )
    folder = target.parent
    if not folder.is_dir():
        raise FedXrayError(
            f"cannot write {target}: the folder {folder} does not exist (create it first)"
        )
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise FedXrayError(f"cannot write {target}: permission denied (choose another path)")


def write_outputs(texts: dict[str, str]) -> None:
    """Write each path's text, all of them or none (see the module's docstring).

    Parameters
    ----------
    texts : dict of str to str
        File path to its whole content, written as UTF-8.

    Raises
    ------
    OSError
        From the first write that failed, once the temp files are removed.
    """
    staged: dict[Path, Path] = {}
    try:
        for path, text in texts.items():
            target = Path(os.path.realpath(path))
            if Path(path).absolute().parts[1:2] in (("dev",), ("proc",)) or (
                target.exists() and not target.is_file()
            ):
                # A device, a pipe or /dev/stdout (whatever it is redirected to) is never replaced.
                Path(path).write_text(text, encoding="utf-8")
                continue
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            # "x": never follow or truncate a file someone else put there; the umask sets its mode.
            with open(tmp, "x", encoding="utf-8") as out:
                staged[target] = tmp
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        raise
    for target, tmp in staged.items():
        os.replace(tmp, target)
