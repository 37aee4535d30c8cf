"""Who may open the dashboard, and what a visitor sees when a page fails.

By default the server listens on 127.0.0.1 only (.streamlit/config.toml) and no password
is asked: only this machine's user can reach it. Served to a network
(``FEDXRAY_PASSWORD`` set, see fedcore.run.serving), every page is behind the password, asked
once per browser session; what no page script can refuse (uploads, the server's metrics) is
refused by the web server itself (dashboard/web_gate.py), by the same rule, :func:`may_act`.
A page that fails shows a short message of its own; the traceback goes to the server's log,
never to the browser (``client.showErrorDetails`` is "none" for whatever escapes this).
"""

from __future__ import annotations

import hmac
import logging
import os
import time

import streamlit as st
from streamlit import runtime

from fedcore.errors import FedXrayError
from fedcore.run import serving

GRANTED_KEY = "access_granted"
SIGN_IN_TITLE = "FedXray: sign in"
# Slows a password guesser to one try a second per session; a person does not notice.
WRONG_PASSWORD_DELAY_S = 1.0
log = logging.getLogger("fedxray.dashboard")


def allowed_pages(pages: list) -> list:
    """``pages`` when this browser session may see them, else only the password page.

    The navigation is built from what this returns, so a locked session cannot reach a
    page by its URL either.
    """
    mode = serving.access_mode(st.get_option("server.address"))
    if mode == serving.REFUSED:
        return [st.Page(_refuse_unprotected, title="FedXray", icon=":material/lock:")]
    if mode == serving.OPEN or st.session_state.get(GRANTED_KEY):
        return pages
    return [st.Page(_ask_password, title="Sign in", icon=":material/lock:")]


def may_act(session_id: str) -> bool:
    """Whether the browser session ``session_id`` may use the dashboard (what
    :func:`allowed_pages` decides for its pages), for the web server's own answers.

    False for a session the server does not know (closed, or never opened).
    """
    mode = serving.access_mode(st.get_option("server.address"))
    if mode != serving.PASSWORD:
        return mode == serving.OPEN
    session = runtime.get_instance().get_app_session(session_id) if runtime.exists() else None
    if session is None:
        return False
    state = session.session_state
    return GRANTED_KEY in state and bool(state[GRANTED_KEY])


def run_page(navigation) -> None:
    """Run the chosen page; an error becomes a short message, its details the server log's."""
    try:
        navigation.run()
    except FedXrayError as exc:  # e.g. a damaged run store: the message says what to do
        log.error("page failed: %s", exc)
        st.error(
            f"This page cannot be shown: {serving.public_text(str(exc))}", icon=":material/error:"
        )
    except Exception:
        log.exception("page failed")
        st.error(
            "Something went wrong while drawing this page. Reload it; if it happens again, the "
            "server's "
            "log has the details.",
            icon=":material/error:",
        )


def _ask_password() -> None:
    st.title(SIGN_IN_TITLE)
    st.caption("This dashboard is password protected.")
    with st.form("sign_in"):
        entered = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    expected = os.environ.get(serving.PASSWORD_ENV, "")
    if hmac.compare_digest(entered.encode(), expected.encode()):
        st.session_state[GRANTED_KEY] = True
        st.rerun()
    time.sleep(WRONG_PASSWORD_DELAY_S)
    st.error("Wrong password.", icon=":material/lock:")


def _refuse_unprotected() -> None:
    address = st.get_option("server.address")
    st.title("FedXray")
    st.error(
        f"This server listens on {address or 'every network interface'} without a password: set "
        f"{serving.PASSWORD_ENV} (and {serving.DATA_ROOT_ENV}) before serving it to a network, or "
        "listen "
        "on 127.0.0.1.",
        icon=":material/lock:",
    )
