"""Silence a third-party logger for the length of a block."""

from __future__ import annotations

import logging
from contextlib import contextmanager


@contextmanager
def quiet_logger(name: str, level: int = logging.ERROR):
    """Raise logger ``name`` to ``level`` inside the block, then restore it.

    For notices a library prints on every call that the user cannot act on (each use
    says which and why).
    """
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)
