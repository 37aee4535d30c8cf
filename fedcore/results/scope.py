"""Who was evaluated on what: a figure's scope as a value, read from the run store's scope text.

The store keeps a scope as text (``global``, ``hospital_2``, ``global:hospital_2``) and every
stored run is read as it is; what the text means is said here once.
"""

from __future__ import annotations

from dataclasses import dataclass

GLOBAL = "global"


@dataclass(frozen=True, order=True)
class Scope:
    """A model evaluated on a test set.

    Attributes
    ----------
    test_set : str
        ``"global"`` (the global test set) or the hospital whose own test set it is.
    model : str
        ``"global"`` (the shared model) or the hospital whose own model it is (local mode).
    """

    test_set: str
    model: str = GLOBAL

    @classmethod
    def parse(cls, text: str, mode: str = "federated") -> Scope:
        """The scope a stored text names; a hospital's row in local mode is its own model."""
        if text == GLOBAL:
            return cls(GLOBAL)
        if text.startswith(GLOBAL + ":"):
            return cls(GLOBAL, text.split(":", 1)[1])
        return cls(text, text if mode == "local" else GLOBAL)

    @property
    def text(self) -> str:
        """The scope as the run store keys it."""
        if self.test_set == GLOBAL:
            return GLOBAL if self.model == GLOBAL else f"{GLOBAL}:{self.model}"
        return self.test_set

    @property
    def on_global_test(self) -> bool:
        """True when the figures come from the global test set (Table 1), not a hospital's."""
        return self.test_set == GLOBAL

    @property
    def hospital(self) -> str | None:
        """The hospital the row is about (its test set or its own model); None for the global
        model on the global test set."""
        if self.test_set != GLOBAL:
            return self.test_set
        return None if self.model == GLOBAL else self.model

    @property
    def label(self) -> str:
        """'Global model', 'Hospital 2', or 'Hospital 2 model' (a hospital's own model)."""
        if self.hospital is None:
            return "Global model"
        name = hospital_label(self.hospital)
        return f"{name} model" if self.on_global_test else name


def hospital_label(name: str) -> str:
    """'hospital_2' -> 'Hospital 2'; a folder's own name otherwise, capitalised."""
    return name.replace("_", " ").capitalize()


def is_global_test(text: str) -> bool:
    """True for a stored scope text on the global test set (``global`` or ``global:<hospital>``)."""
    return Scope.parse(text).on_global_test
