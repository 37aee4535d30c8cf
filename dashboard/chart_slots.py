"""Two stacked slots per live chart, so a new round's figure is drawn behind the one on screen.

Streamlit names a Plotly chart after its figure, so a chart whose figure changes is a new
element: the browser drops the old plot and mounts a new one, which is blank until Plotly
has sized and drawn it. Watched in Chromium with both cores busy, looks caught some curves
blank at 1 or 2 of a run's 9 round ends, and in CI all six at once.

Each chart therefore has two slots stacked in one grid cell. A new figure goes into the slot
that is not in front, and that slot comes to the front: until its plot is drawn it is
transparent and the previous figure, still drawn in the other slot, shows through; once
drawn, its opaque background covers the previous one. The figure in the back slot is sent
again unchanged each refresh, so the browser keeps its plot instead of redrawing it.

:func:`next_slots` decides what each slot holds (pure); :data:`FRONT_MARKER`, written into
the front slot, stacks the slots and puts the front one on top.
"""

from __future__ import annotations

from typing import Any, Hashable

# Container keys: Streamlit gives a keyed container the class st-key-<key>.
CELL_KEY = "curves_cell_{name}"
SLOT_KEY = "curves_slot_{index}_{name}"
# The class of the marker written into the front slot (:data:`FRONT_MARKER`).
FRONT_CLASS = "fx-front-slot"


def next_slots(previous: dict | None, owner: Hashable, token: Hashable, figures: Any) -> dict:
    """What the two slots hold after this refresh.

    Parameters
    ----------
    previous : dict or None
        What :func:`next_slots` returned at the last refresh of this browser session.
    owner : hashable
        Whose figures these are (the run); another owner starts again from one slot, so a
        curve of another run never shows through.
    token : hashable
        Names the figures (the rounds done and the hospitals drawn): the same token means the
        same figures as at the last refresh.
    figures : any
        The figures for ``token``.

    Returns
    -------
    dict
        ``owner``, ``front`` (0 or 1: the slot on top, holding ``figures``) and ``slots``: per
        slot ``None`` or ``{"token", "figures"}``.
    """
    fresh = {"token": token, "figures": figures}
    if previous is None or previous["owner"] != owner:
        return {"owner": owner, "front": 0, "slots": [fresh, None]}
    front = previous["front"]
    if previous["slots"][front]["token"] == token:
        return previous
    slots = list(previous["slots"])
    slots[1 - front] = fresh
    return {"owner": owner, "front": 1 - front, "slots": slots}


def _stack_css() -> str:
    cell = f"div[class*='st-key-{CELL_KEY.format(name='')}']"
    return (
        "<style>"
        f"{cell} {{ display: grid !important; grid-template-columns: minmax(0, 1fr); }}"
        f"{cell} > div {{ grid-area: 1 / 1; width: 100%; min-width: 0; }}"
        f"{cell} > div:has(.{FRONT_CLASS}) {{ z-index: 1; }}"
        f"div[data-testid='stElementContainer']:has(.{FRONT_CLASS}) {{ display: none; }}"
        "</style>"
    )


# Written into the front slot after its chart. Its style stacks each cell's two slots in one
# place and puts the slot holding the marker on top; the marker's own element takes no room.
# It sits in the page, not in Streamlit's event container where a style-only st.html would go
# (and which a whole-page rerun empties first, unstacking the slots for a moment). While a
# refresh moves the front, both slots hold a marker and the later one in the page is on top:
# the new figure when it went to slot 1, the previous one until the refresh ends when it went
# to slot 0; an older figure is never on top.
FRONT_MARKER = _stack_css() + f"<span class='{FRONT_CLASS}'></span>"
