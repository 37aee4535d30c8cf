"""FedXray dashboard: `streamlit run app.py`. A router over the page scripts in views/, nothing
else.

`streamlit run app.py` finds ``app`` below and serves this file through it, so that the web
server refuses, from its start, what no page can (dashboard/web_gate.py); each browser
session then runs this file as its script (``__main__``).
"""

import streamlit as st
from starlette.middleware import Middleware

from dashboard import access, web_gate

if __name__ != "__main__":
    app = st.App(__file__, middleware=[Middleware(web_gate.SignInGate)], lifespan=web_gate.lifespan)
else:
    from dashboard.data import RUN_KEY

    st.set_page_config(page_title="FedXray", page_icon=":material/radiology:", layout="wide")
    st.session_state.setdefault(RUN_KEY, None)
    OVERVIEW = "views/overview.py"

    def _to_overview() -> None:
        # Streamlit serves the default page at '/' only: a bookmarked /overview lands on it,
        # with its query (the run shown), and the navigation bar marks Overview.
        st.switch_page(OVERVIEW, query_params=st.query_params.to_dict())

    pages = [
        # url_path: the default page's name must differ from the /overview alias below.
        st.Page(OVERVIEW, title="Overview", icon=":material/hub:", url_path="home", default=True),
        st.Page("views/train.py", title="Train", icon=":material/model_training:"),
        st.Page("views/fairness.py", title="Fairness", icon=":material/balance:"),
        st.Page("views/privacy.py", title="Privacy", icon=":material/shield_lock:"),
        st.Page("views/diagnose.py", title="Diagnose", icon=":material/radiology:"),
        st.Page("views/runs.py", title="Runs", icon=":material/history:"),
        st.Page(_to_overview, title="Overview", url_path="overview", visibility="hidden"),
    ]
    # Behind the password when served to a network (dashboard/access.py); errors in plain words.
    access.run_page(st.navigation(access.allowed_pages(pages), position="top"))
