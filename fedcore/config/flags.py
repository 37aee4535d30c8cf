"""The run settings as command-line flags: argparse options, parsing back, a config as flags.

Everything here is read from the settings' declarations (fedcore.config.settings), so a new
RunConfig field is a new flag, with its help, default, choices and range checks, with no code
here.
"""

from __future__ import annotations

import argparse

from fedcore.config.run_config import RunConfig
from fedcore.config.settings import GROUPS, Setting, settings


def add_config_flags(parser: argparse.ArgumentParser, cls: type = RunConfig) -> None:
    """One flag per declared setting of ``cls``, grouped as the README lists them.

    The flags default to absent (``argparse.SUPPRESS``), so :func:`given_settings`
    knows exactly which ones were typed; the defaults come from ``cls`` itself.
    """
    groups = {group: parser.add_argument_group(title) for group, title in GROUPS.items()}
    for s in settings(cls):
        help_text = f"{s.help} (default: {s.default_text()})".replace("%", "%%")
        target = groups.get(s.group, parser)
        if s.kind is bool:
            target.add_argument(
                s.flag,
                dest=s.name,
                action="store_const",
                const=not s.default,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            target.add_argument(
                s.flag,
                dest=s.name,
                type=_parser(s),
                choices=s.choices,
                default=argparse.SUPPRESS,
                metavar=None if s.choices else s.name.upper(),
                help=help_text,
            )


def given_settings(args: argparse.Namespace, cls: type = RunConfig) -> dict:
    """The settings typed on the command line, by field name."""
    return {s.name: getattr(args, s.name) for s in settings(cls) if hasattr(args, s.name)}


def config_from_args(args: argparse.Namespace, cls: type = RunConfig):
    """The config the flags describe: ``cls``'s defaults overridden by the flags typed."""
    return cls(**given_settings(args, cls))


def train_flags(config) -> list[str]:
    """The ``python -m fedcore train`` flags that reproduce ``config``.

    Every setting with a value is written out (a bool only when it differs from its
    default), so the command stays true if a default changes later.
    """
    flags: list[str] = []
    for s in settings(type(config)):
        value = getattr(config, s.name)
        if s.kind is bool:
            flags += [s.flag] if value != s.default else []
        elif value is not None:
            flags += [s.flag, repr(value) if s.kind is float else str(value)]
    return flags


def _parser(s: Setting):
    """The argparse ``type`` of a setting: whole numbers may be typed as 1e3; ranges come later."""
    if s.kind is int:

        def whole(text: str) -> int | float:
            try:
                return int(text)  # exactly as typed: 99999999999999999999999 is not 1e23
            except ValueError:
                value = float(text)
            # '1e20' parses and stays a float, as typed; validation then names the range. 2.5 is
            # refused there.
            return int(value) if value.is_integer() and abs(value) < 2**53 else value

        whole.__name__ = "number"
        return whole
    if s.kind is float:
        return float
    return str
