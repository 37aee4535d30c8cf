"""The web server's half of the password gate: what no page script can refuse.

The page scripts show a session that has not signed in only the password field
(dashboard/access.py), but Streamlit's server answers some requests without running a
script: it stores a file PUT to ``/_stcore/upload_file/<session>/<file>`` for any open
session, whatever page it shows, and answers ``/_stcore/metrics`` to anyone. So the server
itself is wrapped (``st.App`` in app.py, the ASGI middleware Streamlit supports), from its
start, before any session has run a page:

- an upload is refused (403, before its body is read) unless its session may act
  (:func:`dashboard.access.may_act`);
- the metrics are refused unless the server is open to this machine's user only;
- before sign-in a session's websocket may only ask for its page to run (or stop, or keep
  alive): not to clear the server's caches, read its git details or request upload URLs;
- what a closed session held is freed. Streamlit keeps a closed session's uploads and
  images until the session is dropped from its reconnect store
  (``server.disconnectedSessionTTL``), and never frees them after that: this does.

The websocket check and the freeing go through Streamlit's ``Runtime`` (its public
``handle_backmsg``, ``is_active_session``, ``uploaded_file_mgr`` and ``media_file_mgr``);
tests/browser/test_access_browser.py checks against a real server that they still hold.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

import streamlit as st
from streamlit import runtime

from dashboard import access
from fedcore.run import serving

UPLOAD_PATH = "/_stcore/upload_file/"
METRICS_PATH = "/_stcore/metrics"
# What a session's websocket may ask before it has signed in: run its page (the password
# form), stop that run, say it is still there.
BEFORE_SIGN_IN = frozenset({"rerun_script", "stop_script", "app_heartbeat"})
# How often closed sessions are looked for, in seconds at most: as often as Streamlit's reconnect
# window when that is shorter, so a session is freed within about twice the window.
SWEEP_EVERY_S = 10.0
log = logging.getLogger("fedxray.dashboard")


class SignInGate:
    """ASGI middleware: refuse the uploads and metrics a session may not have (403)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not _allowed(scope["method"], scope["path"]):
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await send({"type": "http.response.body", "body": b"Sign in first."})
            return
        await self.app(scope, receive, send)


@asynccontextmanager
async def lifespan(_app):
    """Guard the running server's websocket messages and free closed sessions, while it
    serves."""
    server = runtime.get_instance()
    seen: dict[str, float | None] = {}
    _guard_back_messages(server, seen)
    sweeper = asyncio.create_task(_free_closed_sessions(server, seen))
    try:
        yield
    finally:
        sweeper.cancel()


def _allowed(method: str, path: str) -> bool:
    if UPLOAD_PATH in path and method != "OPTIONS":
        session_id = path.split(UPLOAD_PATH, 1)[1].split("/", 1)[0]
        return access.may_act(session_id)
    if path.rstrip("/").endswith(METRICS_PATH):
        return serving.access_mode(st.get_option("server.address")) == serving.OPEN
    return True


def _guard_back_messages(server, seen: dict[str, float | None]) -> None:
    """Drop what a session that has not signed in may not ask; note every session seen."""
    handle = server.handle_backmsg

    def guarded(session_id, msg, **kwargs):
        seen[session_id] = None
        kind = msg.WhichOneof("type")
        if kind not in BEFORE_SIGN_IN and not access.may_act(session_id):
            log.info("dropped a %s message from a session that has not signed in", kind)
            return None
        return handle(session_id, msg, **kwargs)

    server.handle_backmsg = guarded


async def _free_closed_sessions(server, seen: dict[str, float | None]) -> None:
    """Free the uploads and images of every session closed for longer than Streamlit keeps
    it for a reconnect."""
    every_s = min(SWEEP_EVERY_S, max(1.0, float(st.get_option("server.disconnectedSessionTTL"))))
    keep_s = st.get_option("server.disconnectedSessionTTL") + every_s
    while True:
        await asyncio.sleep(every_s)
        now, freed = time.monotonic(), []
        for session_id, closed_at in list(seen.items()):
            if server.is_active_session(session_id):
                seen[session_id] = None
            elif closed_at is None:
                seen[session_id] = now
            elif now - closed_at > keep_s:
                freed.append(session_id)
        for session_id in freed:
            del seen[session_id]
            server.uploaded_file_mgr.remove_session_files(session_id)
            server.media_file_mgr.clear_session_refs(session_id)
        if freed:
            server.media_file_mgr.remove_orphaned_files()
