"""Train: configure and start a run (a child process) or the attack demo, then watch it learn, stop
it or resume it."""

import streamlit as st

from dashboard import attack_demo_panel, data, run_form
from dashboard import live_run as live_view
from dashboard.first_open import offer_default_run
from fedcore.run import launch

store = data.store()
runs = data.runs()
active = launch.active_run(store)
chosen = st.session_state.get(data.RUN_KEY)
shown = active or next((r for r in runs if r["id"] == chosen), None) or (runs[0] if runs else None)

st.title("Train a federation")

if shown is None:
    # First open: the one-click start comes before the form, which is 600 px tall on a wide
    # screen and 1,300 px on a phone.
    offer_default_run(
        "Start the default federation in one click, or pick its settings below and press **Start "
        "training**. The run then appears here, live: progress round by round (which hospital is "
        "training, the time left), then the global and per-hospital accuracy, AUROC, loss, "
        "sensitivity, specificity and F1 as curves that grow by one round at a time.",
        key="first_open_train",
    )

# ---------------------------------------------------------------- the attack demo, in one click
attack_demo_panel.offer(store, busy=active is not None)

# ---------------------------------------------------------------- the run configuration
# Open until there is a run to show. Then folded: opening it when a run stops or ends pushed
# the curves and the Resume button 400 px down under the viewer's eyes (and their click).
run_form.render(store, runs, expanded=not runs)

# ---------------------------------------------------------------- the live view
if shown is None:
    st.stop()
attack_demo_panel.show(shown["id"])
live_view.show(shown["id"])
