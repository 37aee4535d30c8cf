"""SCAFFOLD's control variate of each hospital, kept by the server as the hospital holds it.

A hospital keeps its own control variate c_i between rounds in its SuperNode's context, which
lasts as long as the Flower run: a run resumed after its SuperLink restarted is a new Flower
run, whose hospitals would start again from zero where an uninterrupted run goes on. The
server sees every hospital's update, so it computes each c_i with the hospital's own arithmetic
(:func:`fedcore.strategies.drift.control_update`), keeps them in the run's server checkpoint
under ``control/<hospital>`` as the in-process engine does, and sends a hospital its own back
where its node may not hold it. Nothing new leaves a hospital.
"""

from __future__ import annotations

import numpy as np

from fedcore.payload import FitOutcome
from fedcore.strategies.drift import CONTROL_KEY, control_update, local_steps, zero_control

PREFIX = "control/"


class HospitalControls:
    """Each hospital's c_i by name, and which node holds it.

    Parameters
    ----------
    state : dict or None
        A server checkpoint's arrays (:func:`fedcore.server.resume.read_server_state`); its
        ``control/<hospital>`` entries are the hospitals' c_i after the round it was saved with.
    epochs, batch : int
        The run's local epochs and batch size, which give a hospital's K local steps.
    """

    def __init__(self, state: dict[str, list] | None, epochs: int, batch: int):
        self.epochs, self.batch = epochs, batch
        self.controls = {
            key.removeprefix(PREFIX): [np.asarray(c, np.float32) for c in value]
            for key, value in (state or {}).items()
            if key.startswith(PREFIX)
        }
        # The node that holds each hospital's current c_i: the one whose update the server last
        # saw. A node of a restarted SuperNode, or of another Flower run, starts from zero.
        self.holders: dict[str, int] = {}
        self.sent: dict[int, list[np.ndarray]] = {}

    def to_send(self, nodes: list[int], names: dict[int, str]) -> dict[int, list[np.ndarray]]:
        """This round's own control variates to send: to each node whose hospital's c_i the
        server knows and the node may not hold."""
        self.sent = {
            n: self.controls[names[n]]
            for n in nodes
            if names.get(n) in self.controls and self.holders.get(names[n]) != n
        }
        return self.sent

    def after_round(
        self,
        nodes: list[int],
        names: dict[int, str],
        outcomes: dict[str, FitOutcome],
        start: list[np.ndarray],
        asked: dict,
    ) -> None:
        """Each hospital's c_i after this round's update from ``start`` with the strategy's
        instructions ``asked`` (the server's c and the learning rate), as the hospital computed it
        (:meth:`fedcore.hospital.training.Hospital.fit`, with K from its example count).

        A node asked that gave no update may have changed its c_i unseen: it is sent the
        server's again the next time.
        """
        for node in nodes:
            name = names.get(node)
            if name is None:
                continue
            if name not in outcomes:
                if self.holders.get(name) == node:
                    del self.holders[name]
                continue
            outcome = outcomes[name]
            base = self.sent.get(node)
            if base is None:
                held = self.holders.get(name) == node and name in self.controls
                base = self.controls[name] if held else zero_control(start)
            steps = local_steps(outcome.num_examples, self.epochs, self.batch)
            self.controls[name] = control_update(
                base, asked[CONTROL_KEY], start, outcome.weights, steps, asked["learning_rate"]
            )
            self.holders[name] = node

    def state(self) -> dict[str, list[np.ndarray]]:
        """The hospitals' c_i for the round's server checkpoint."""
        return {f"{PREFIX}{name}": control for name, control in self.controls.items()}
