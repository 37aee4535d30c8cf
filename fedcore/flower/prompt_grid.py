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

    def __init__(self, grid: Grid, poll: float = REPLY_POLL):
        self.grid, self.poll = grid, poll
        # Told what was sent and what came back, once the ServerApp has one (its roster names).
        self.watch: SiteWatch | None = None

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
        sent = {i: m for i, m in zip(ids, messages) if i}
        pending = set(sent)
        if self.watch is not None:
            for message in sent.values():
                self.watch.asked(message.metadata.dst_node_id, message.metadata.message_type)
        if meanwhile is not None:
            meanwhile()
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending:
            arrived = list(self.pull_messages(pending))
            replies += arrived
            pending -= {reply.metadata.reply_to_message_id for reply in arrived}
            for reply in arrived:
                self._answered(sent.get(reply.metadata.reply_to_message_id), reply.has_error())
            if pending and deadline is not None and time.monotonic() >= deadline:
                for message_id in pending:
                    self._answered(sent[message_id], True)
                break
            if pending:
                if self.watch is not None:
                    self.watch.waiting()
                time.sleep(self.poll)
        return replies

    def _answered(self, asked: Message | None, error: bool) -> None:
        """Tell the site watch, if any, that the node ``asked`` answered (or why not, ``error``)."""
        if self.watch is not None and asked is not None:
            self.watch.answered(asked.metadata.dst_node_id, asked.metadata.message_type, error)
