"""The dashboard served to a network: the password gate on every page, and the data folders it
allows.

Real Streamlit (AppTest runs app.py) and the real launcher's data check; nothing mocked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import access
from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.run import launch, serving

APP = Path(__file__).resolve().parents[2] / "app.py"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def exposed(store, monkeypatch, tmp_path):
    """The dashboard as served to judges: a password and a shared data root."""
    monkeypatch.setenv(serving.PASSWORD_ENV, PASSWORD)
    root = tmp_path / "shared"
    (root / "fed" / "HOSPITAL").mkdir(parents=True)
    (root / "fed" / "GLOBAL_TEST_DATASET").mkdir()
    monkeypatch.setenv(serving.DATA_ROOT_ENV, str(root))
    return root


def sign_in(password: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.text_input[0].input(password)
    at.button[0].click()
    at.run()
    return at


def test_an_exposed_dashboard_shows_only_the_password_field(exposed):
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == [access.SIGN_IN_TITLE]
    assert len(at.text_input) == 1 and at.text_input[0].label == "Password"
    # No page was run, and none is registered: a page's URL cannot reach one either.
    assert not at.selectbox and not at.tabs
    with pytest.raises(ValueError, match=r"Known pages: \['Sign in'\]"):
        at.switch_page("views/runs.py")


def test_a_wrong_password_is_refused(exposed):
    at = sign_in("guess")
    assert [e.value for e in at.error] == ["Wrong password."]
    assert len(at.text_input) == 1 and at.text_input[0].label == "Password"


def test_the_right_password_opens_every_page_for_the_session(exposed):
    at = sign_in(PASSWORD)
    assert not at.exception and not at.error
    assert at.title[0].value == "FedXray", "the Overview page is shown"
    at.switch_page("views/runs.py")
    at.run()
    assert not at.exception and at.title[0].value == "Runs"
    assert not [w for w in at.text_input if w.label == "Password"]


def test_without_a_password_the_dashboard_opens_directly(store, monkeypatch):
    monkeypatch.delenv(serving.PASSWORD_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception
    assert not [w for w in at.text_input if w.label == "Password"]


def test_exposed_the_data_field_accepts_only_folders_under_the_data_root(exposed, tmp_path, store):
    serving.check_data_root(str(exposed / "fed"))
    outside = tmp_path / "elsewhere"
    (outside / "HOSPITAL").mkdir(parents=True)
    (outside / "GLOBAL_TEST_DATASET").mkdir()
    messages = set()
    # An existing folder, a missing one and an escape through '..' get the same answer:
    # a visitor learns nothing about which server paths exist.
    for data in (
        str(outside),
        str(tmp_path / "missing"),
        str(exposed / ".." / "elsewhere"),
        "/etc",
    ):
        with pytest.raises(FedXrayError, match="served to a network") as caught:
            launch.start(RunConfig(data=data), store)
        messages.add(str(caught.value))
    assert len(messages) == 1
    assert store.list_runs() == [], "a refused run leaves nothing in the store"


def test_exposed_the_form_gives_one_answer_for_every_path_outside_the_data_root(
    exposed, tmp_path, store
):
    """What the Train form says names nothing about what is there: a system folder, a file, an
    empty folder, a missing one, a link inside the root to /etc, a way out through '..'."""
    (tmp_path / "empty").mkdir()
    (exposed / "etc").symlink_to("/etc")
    at = sign_in(PASSWORD)
    at.switch_page("views/train.py").run()
    at.radio(key="f_source").set_value("My folder or .npz").run()
    answers = {}
    for data in (
        "/etc",
        "/etc/passwd",
        "/root/.ssh",
        str(tmp_path / "empty"),
        str(tmp_path / "missing"),
        str(exposed / "etc"),
        str(exposed / ".." / "empty"),
    ):
        at.text_input(key="f_folder").set_value(data).run()
        next(b for b in at.button if b.label == "Start training").click().run()
        assert not at.exception
        answers[data] = " ".join(e.value for e in at.error)
    assert len(set(answers.values())) == 1, answers
    assert "only folders under" in answers["/etc"]
    assert store.list_runs() == []


def test_exposed_without_a_data_root_only_the_embedded_data_trains(exposed, monkeypatch, store):
    monkeypatch.delenv(serving.DATA_ROOT_ENV)
    with pytest.raises(FedXrayError, match="use the embedded data"):
        launch.start(RunConfig(data=str(exposed / "fed")), store)


@pytest.mark.parametrize(
    "page",
    [
        "views/overview.py",
        "views/train.py",
        "views/fairness.py",
        "views/privacy.py",
        "views/runs.py",
    ],
)
def test_a_damaged_store_never_shows_a_traceback(tmp_path, monkeypatch, page):
    home = tmp_path / "home"
    home.mkdir()
    (home / "fedxray.sqlite").write_bytes(b"this is not a database" * 200)
    monkeypatch.setenv("FEDCORE_HOME", str(home))
    monkeypatch.delenv(serving.PASSWORD_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=30)
    if page != "views/overview.py":
        at.switch_page(page)  # through app.py's router, as a real server serves every page
    at.run()
    assert not at.exception, "no traceback, only the app's own message"
    assert len(at.error) == 1 and "move it aside" in at.error[0].value


def test_exposed_a_damaged_store_shows_no_server_path(tmp_path, monkeypatch, exposed):
    home = tmp_path / "home"
    (home / "fedxray.sqlite").unlink(missing_ok=True)
    home.mkdir(exist_ok=True)
    (home / "fedxray.sqlite").write_bytes(b"this is not a database" * 200)
    monkeypatch.setenv("FEDCORE_HOME", str(home))
    at = sign_in(PASSWORD)
    assert not at.exception
    assert len(at.error) == 1 and str(tmp_path) not in at.error[0].value


def served_without_password_at(address: str, monkeypatch) -> AppTest:
    """The app as a server listening on ``address`` would run it, with no password set."""
    from streamlit import config

    monkeypatch.delenv(serving.PASSWORD_ENV, raising=False)
    before = config.get_option("server.address")
    config.set_option("server.address", address)
    try:
        at = AppTest.from_file(APP, default_timeout=30)
        at.run()
    finally:
        config.set_option("server.address", before)
    return at


def test_listening_beyond_loopback_without_a_password_is_refused(store, monkeypatch):
    at = served_without_password_at("0.0.0.0", monkeypatch)
    assert not at.exception
    assert len(at.error) == 1 and serving.PASSWORD_ENV in at.error[0].value
    assert [t.value for t in at.title] == ["FedXray"] and not at.text_input


def test_listening_on_every_interface_counts_as_a_network(store, monkeypatch):
    """`--server.address ""` listens on every interface: not the loopback."""
    at = served_without_password_at("", monkeypatch)
    assert not at.exception
    assert len(at.error) == 1 and "every network interface" in at.error[0].value
    assert not at.text_input and not at.button


@pytest.mark.parametrize(
    "address,loopback",
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("localhost", True),
        ("", False),
        (None, False),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("judges.example.org", False),
    ],
)
def test_only_a_loopback_address_serves_without_a_password(monkeypatch, address, loopback):
    monkeypatch.delenv(serving.PASSWORD_ENV, raising=False)
    assert serving.on_loopback(address) is loopback
    assert serving.access_mode(address) == (serving.OPEN if loopback else serving.REFUSED)
    monkeypatch.setenv(serving.PASSWORD_ENV, PASSWORD)
    assert serving.access_mode(address) == serving.PASSWORD


def test_the_web_server_admits_a_session_by_the_same_rule_as_the_pages(monkeypatch):
    from streamlit import config

    monkeypatch.delenv(serving.PASSWORD_ENV, raising=False)
    address = config.get_option("server.address")
    try:
        config.set_option("server.address", "127.0.0.1")
        assert access.may_act("any session")
        config.set_option("server.address", "0.0.0.0")
        assert not access.may_act("any session")
        monkeypatch.setenv(serving.PASSWORD_ENV, PASSWORD)
        assert not access.may_act("a session the server does not know")
    finally:
        config.set_option("server.address", address)


def test_exposed_a_message_keeps_no_server_path_or_exception_name(exposed):
    message = (
        "the 'best' checkpoint /home/fedxray/runs/20261127-1/best.npz of run 20261127-1 is "
        "damaged (BadZipFile): move it aside; internal error (FileNotFoundError: "
        "'/root/w.weights.h5'); 2/2 rounds; ROOT/HOSPITAL/hospital_k/{train,val,test}; "
        f"only folders under {exposed}"
    )
    shown = serving.public_text(message)
    assert "/home" not in shown and "/root" not in shown and "Error" not in shown, shown
    assert "…/best.npz" in shown and "'…/w.weights.h5'" in shown
    assert "2/2 rounds" in shown and "ROOT/HOSPITAL/hospital_k/{train,val,test}" in shown
    assert str(exposed) in shown, "the shared data root is meant to be seen"


def test_unexposed_a_message_is_shown_whole(monkeypatch):
    monkeypatch.delenv(serving.PASSWORD_ENV, raising=False)
    message = "cannot write /root/runs/x/best.npz (OSError: disk full)"
    assert serving.public_text(message) == message


def test_streamlit_run_serves_app_py_through_the_web_gate():
    """`streamlit run app.py` must find the st.App (else no middleware guards the server), and
    the Runtime methods the gate wraps or calls must still be there."""
    import inspect

    from streamlit.runtime import Runtime
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(APP)
    assert found.is_asgi_app and found.app_name == "app", found
    assert list(inspect.signature(Runtime.handle_backmsg).parameters) == [
        "self",
        "session_id",
        "msg",
        "client",
    ]
    for name in ("is_active_session", "get_app_session", "uploaded_file_mgr", "media_file_mgr"):
        assert hasattr(Runtime, name), name
