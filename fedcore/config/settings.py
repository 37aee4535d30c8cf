"""How a run setting is declared once, and what every entry point reads from that declaration.

A :class:`fedcore.config.run_config.RunConfig` field declared with :func:`setting` carries its
help text, choices, range and group next to its default, as nanoGPT keeps every
default in one commented block. The CLI flags (fedcore.config.flags), the dashboard form
(dashboard.run_form), the Flower run config (fedcore.flower.app_config), the range checks
of ``RunConfig.validate`` and the README's options table (:func:`markdown_table`) are
all read from :func:`settings`, so adding a setting is adding one field.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

GROUPS = {
    "model": "model",
    "data": "data and hospitals",
    "training": "training",
    "strategy": "strategy and simulated attacks (README, Strategies)",
    "privacy": "differential privacy (docs/privacy.md)",
}


@dataclass(frozen=True)
class Setting:
    """One run setting as declared on the config class.

    Attributes
    ----------
    name : str
        The field name (``local_epochs``); the flag is ``--local-epochs``.
    kind : type
        int, float, str or bool.
    default : object
        The field's default.
    help : str
        One sentence for ``--help``, the form and the README.
    optional : bool
        None is allowed; ``none`` says what it means.
    none : str
        What None (no flag, 0 in the form and in Flower) stands for.
    choices : tuple or None
        The allowed values of a str setting.
    minimum, maximum : float or None
        Inclusive bounds.
    above, below : float or None
        Exclusive bounds.
    group : str
        A key of GROUPS: where the setting is listed.
    flower : bool
        Whether a Flower run config may set it (a SuperNode's data is its own node config).
    why : str
        Appended to the out-of-range message (what the bound protects).
    label : str
        How messages name it when the field name is too terse (``the DP clipping norm``).
    """

    name: str
    kind: type
    default: object
    help: str
    optional: bool = False
    none: str = ""
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    group: str = "training"
    flower: bool = True
    why: str = ""
    label: str = ""

    @property
    def key(self) -> str:
        """The kebab-case name: the flag without dashes and the Flower run-config key."""
        return self.name.replace("_", "-")

    @property
    def words(self) -> str:
        """The name as messages say it (``local epochs``)."""
        return self.label or self.name.replace("_", " ")

    @property
    def flag(self) -> str:
        """The CLI flag; a bool that is on by default is turned off with ``--no-NAME``."""
        return f"--no-{self.key}" if self.kind is bool and self.default else f"--{self.key}"

    def default_text(self) -> str:
        """The default in words, as ``--help`` and the README show it."""
        if self.default is None:
            return self.none
        if self.kind is bool:
            return "on" if self.default else "off"
        return _number(self.default) if self.kind in (int, float) else str(self.default)

    def problem(self, value) -> str | None:
        """Why ``value`` cannot be this setting's value, or None when it can."""
        if value is None:
            return None if self.optional else f"{self.words} must be set"
        if self.choices is not None and value not in self.choices:
            return (
                f"unknown {self.words} '{value}': choose one of {', '.join(map(str, self.choices))}"
            )
        if self.kind in (int, float):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                return f"{self.words} must be a finite number (got {value})"
            if self.kind is int and value != int(value):
                return f"{self.words} must be a whole number (got {value})"
            bounds = self.bounds_text()
            low_ok = (self.minimum is None or value >= self.minimum) and (
                self.above is None or value > self.above
            )
            high_ok = (self.maximum is None or value <= self.maximum) and (
                self.below is None or value < self.below
            )
            if not (low_ok and high_ok):
                return f"{self.words} must be {bounds} (got {value})" + (
                    f": {self.why}" if self.why else ""
                )
        return None

    def bounds_text(self) -> str:
        """'at least 1', 'positive', 'between 0 and 1, exclusive', … ('' when unbounded)."""
        low, high = (
            self.minimum if self.minimum is not None else self.above,
            (self.maximum if self.maximum is not None else self.below),
        )
        if low is not None and high is not None:
            exclusive = self.above is not None and self.below is not None
            return f"between {_number(low)} and {_number(high)}" + (
                ", exclusive" if exclusive else ""
            )
        if self.above == 0:
            return "positive"
        if low is not None:
            return (
                f"at least {_number(low)}" if self.minimum is not None else f"above {_number(low)}"
            )
        if high is not None:
            return (
                f"at most {_number(high)}" if self.maximum is not None else f"below {_number(high)}"
            )
        return ""


def setting(default, help: str, **declared) -> dataclasses.Field:
    """A config field with its declaration (see :class:`Setting` for the keywords).

    Parameters
    ----------
    default : object
        The field's default.
    help : str
        What the setting does, in one sentence.
    **declared
        none, choices, minimum, maximum, above, below, group, flower, why, label.
    """
    return dataclasses.field(default=default, metadata={"setting": {"help": help, **declared}})


def settings(cls) -> list[Setting]:
    """Every declared setting of a config class, in declaration order.

    Fields without a :func:`setting` declaration (``extra``) are not settings.
    """
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        declared = f.metadata.get("setting")
        if declared is None:
            continue
        args = [a for a in typing.get_args(hints[f.name]) if a is not type(None)]
        optional = type(None) in typing.get_args(hints[f.name])
        kind = args[0] if optional else hints[f.name]
        out.append(Setting(f.name, kind, f.default, optional=optional, **declared))
    return out


def markdown_table(cls) -> str:
    """The README's options table: flag, default, allowed values and help, grouped.

    ``python -m fedcore settings --markdown`` prints it; a test checks the README holds it.
    """
    rows = ["| option | default | allowed | what it does |", "|---|---|---|---|"]
    for group, title in GROUPS.items():
        rows.append(f"| **{title}** | | | |")
        for s in (s for s in settings(cls) if s.group == group):
            allowed = "\\|".join(map(str, s.choices)) if s.choices else s.bounds_text()
            rows.append(f"| `{s.flag}` | {s.default_text()} | {allowed} | {s.help} |")
    return "\n".join(rows)


def _number(value: float) -> str:
    # 2147483647 as it is typed, not 2.14748e+09; 1e-05 as Python writes it.
    return (
        str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
    )
