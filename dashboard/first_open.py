"""What a page shows before any run has a round: what it will show, and one click to start."""

from __future__ import annotations

import streamlit as st

from dashboard import data
from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.run import launch
from fedcore.run.serving import public_text

TRAIN_PAGE = "views/train.py"


def offer_default_run(what: str, key: str) -> None:
    """Say what the page will show, and start the default federation in one click.

    Parameters
    ----------
    what : str
        One or two sentences: what this page shows once a run has completed a round.
    key : str
        The button's widget key (one per page).

    Notes
    -----
    While a run is training the button gives way to a link to the Train page, where
    that run is shown live; a second run would be refused anyway (one trains at a time).
    """
    st.info(what, icon=":material/info:")
    store = data.store()
    active = launch.active_run(store)
    if active is not None:
        st.page_link(
            TRAIN_PAGE,
            label=f"Run {active['id']} is training: watch it on the Train page",
            icon=":material/model_training:",
        )
        return
    if st.button(
        "Start the default federation",
        key=key,
        type="primary",
        icon=":material/play_arrow:",
        help="3 hospitals from the embedded PneumoniaMNIST, non-IID, 10 rounds, the small CNN: "
        "under a minute on a laptop CPU (39 s on 2 cores here)",
    ):
        try:
            st.session_state[data.RUN_KEY] = launch.start(RunConfig(), store)
        except FedXrayError as exc:
            st.error(f"Not started: {public_text(str(exc))}", icon=":material/block:")
            return
        st.switch_page(TRAIN_PAGE)
