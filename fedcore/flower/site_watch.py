"""What each site is doing inside a round, as the ServerApp sees it, kept in the run's heartbeat.

The server knows when it asked a site for something and when the site answered, and the
SuperLink knows which sites are connected. Train shows it beside each site's round-by-round
history (fedcore.results.sites). The heartbeat is written while the server waits for replies,
at most every :data:`fedcore.server.recorder.HEARTBEAT_SECONDS`, so it costs the round nothing
on its way.
"""

from __future__ import annotations

import time

from flwr.app import MessageType

from fedcore.server.recorder import RoundRecorder

# A site's state while it works on a message, and once it answered it, by message type.
WORKING = {
    MessageType.QUERY: "loading its data",
    MessageType.TRAIN: "training",
    MessageType.EVALUATE: "evaluating",
}
DONE = {MessageType.QUERY: "ready", MessageType.TRAIN: "trained", MessageType.EVALUATE: "evaluated"}


class SiteWatch:
    """Each SuperNode's state inside the round, named by the roster once it said who it is.

    Parameters
    ----------
    books : RoundRecorder
        Its :attr:`~fedcore.server.recorder.RoundRecorder.sites` are kept here.
    names : dict
        SuperNode id -> hospital name (the roster's, filled in as the sites answer the query).
    """

    def __init__(self, books: RoundRecorder, names: dict[int, str]):
        self.books, self.names = books, names
        self._nodes: dict[int, dict] = {}

    def connected(self, nodes: list[int]) -> None:
        """The SuperNodes the SuperLink has now: a site it lost is 'not connected'."""
        for node_id, site in self._nodes.items():
            if node_id not in nodes:
                site["state"] = "not connected"
        self._write()

    def asked(self, node_id: int, message_type: str) -> None:
        """The server sent the site a message: it works on it from now."""
        site = self._nodes.setdefault(node_id, {"contact": None})
        site.update(state=WORKING.get(message_type, message_type), since=time.time())
        self._publish()

    def answered(self, node_id: int, message_type: str, error: bool) -> None:
        """The site's reply came (or the SuperLink's error in its place)."""
        site = self._nodes.setdefault(node_id, {"contact": None})
        now = time.time()
        if error:
            site.update(state="no answer", since=now)
        else:
            site.update(state=DONE.get(message_type, "answered"), since=now, contact=now)
        self._publish()

    def waiting(self) -> None:
        """The server waits for replies: a good moment to write the heartbeat."""
        self._write()

    def _publish(self) -> None:
        # The recorder's copy is kept current, so that every heartbeat it writes (a new step's,
        # or the throttled one below) says what the sites do now.
        self.books.sites = {
            self.names.get(node_id, f"SuperNode {node_id}"): dict(site)
            for node_id, site in sorted(self._nodes.items())
        }

    def _write(self) -> None:
        self._publish()
        self.books.sites_changed()
