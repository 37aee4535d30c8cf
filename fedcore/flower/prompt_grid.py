"""The ServerApp's Grid, collecting replies as they arrive.

Flower's own ``Grid.send_and_receive`` looks for replies every 3 s; on rounds of a few
seconds that is most of a round. :class:`PromptGrid` wraps the Grid the ServerApp is given
and does the same with the public ``push_messages`` / ``pull_messages``, every 0.1 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flwr.app import Message
from flwr.serverapp import Grid

from fedcore.flower.site_watch import SiteWatch

# Seconds between the ServerApp's asks for replies: a reply waits 0.05 s on average.
REPLY_POLL = 0.1


class PromptGrid(Grid):
    """A Grid whose ``send_and_receive`` asks for replies every ``poll`` seconds.

    Everything else is the wrapped Grid's. SecAgg+'s workflow gets this Grid too, so
    its four key-exchange steps are as prompt as training and evaluation.
    """

    def __init__(self, grid: Grid, poll: float = REPLY_POLL, watch: SiteWatch | None = None):
        self.grid, self.poll, self.watch = grid, poll, watch

    def set_run(self, run) -> None:
        self.grid.set_run(run)

    @property
    def run(self):
        return self.grid.run

    def create_message(self, *args, **kwargs) -> Message:
        return self.grid.create_message(*args, **kwargs)

    def get_node_ids(self):
        return self.grid.get_node_ids()

    def push_messages(self, messages):
        return self.grid.push_messages(messages)

    def pull_messages(self, message_ids):
        return self.grid.pull_messages(message_ids)

    def send_and_receive(
        self, messages, *, timeout: float | None = None, meanwhile: Callable[[], None] | None = None
    ) -> list[Message]:
        """Push ``messages``, then pull replies until all came or ``timeout`` seconds passed;
        ``meanwhile`` runs once the messages are out, while the nodes work on them."""
        messages = list(messages)
        ids = list(self.push_messages(messages))
        pending = {message_id for message_id in ids if message_id}
        sent = {i: m for i, m in zip(ids, messages) if i}
        self._tell(
            "asked", *[(m.metadata.dst_node_id, m.metadata.message_type) for m in sent.values()]
        )
        if meanwhile is not None:
            meanwhile()
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending:
            arrived = list(self.pull_messages(pending))
            replies += arrived
            pending -= {reply.metadata.reply_to_message_id for reply in arrived}
            for reply in arrived:
                asked = sent.get(reply.metadata.reply_to_message_id)
                if asked is not None:
                    node, kind = asked.metadata.dst_node_id, asked.metadata.message_type
                    self._tell("answered", (node, kind, reply.has_error()))
            if pending and deadline is not None and time.monotonic() >= deadline:
                late = [sent[i].metadata for i in pending]
                self._tell("answered", *[(m.dst_node_id, m.message_type, True) for m in late])
                break
            if pending:
                self._tell("waiting", ())
                time.sleep(self.poll)
        return replies

    def _tell(self, what: str, *calls: tuple) -> None:
        """Tell the site watch, if there is one, ``what`` happened (once per tuple of arguments)."""
        if self.watch is not None:
            for args in calls:
                getattr(self.watch, what)(*args)
