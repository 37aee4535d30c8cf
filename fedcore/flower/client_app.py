"""Flower ClientApp: a hospital's SuperNode runs fedcore's hospital side
(:class:`fedcore.hospital.training.Hospital`).

Which hospital this is comes from the SuperNode's node config, never from the server::

    flower-supernode ... --node-config 'partition-id=0 data-path="/data/hospital_1.npz"'

- ``data-path``: the hospital's folder or .npz (see :mod:`fedcore.data.site`);
- ``partition-id``: its position in the federation, which seeds its local steps as in
  an in-process run (default 0);
- ``hospital``: its display name (default the folder name or file stem).

The run's hyper-parameters come from the run config. What leaves is weights, the
number of training images, a few training figures, the class counts per split and
evaluation metrics: never images or labels. With ``secure-aggregation`` the weights
leave masked by SecAgg+ (``secaggplus_mod``).
"""

from __future__ import annotations

import numpy as np
from flwr.app import ArrayRecord, Context, Message
from flwr.client import NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable

from fedcore.errors import FedXrayError
from fedcore.flower.app_config import from_run_config
from fedcore.flower.packing import pack, unpack
from fedcore.strategies.drift import CONTROL_KEY

# Where a SuperNode keeps its hospital's SCAFFOLD control variate between rounds (context.state).
CONTROL_STATE = "scaffold-control"
# The hospital of the run this process serves and its weight shapes, by (run id, node config).
_hospitals: dict[tuple, object] = {}


class HospitalClient(NumPyClient):
    """One hospital behind Flower's NumPyClient interface.

    Parameters
    ----------
    hospital : fedcore.hospital.training.Hospital
        The hospital's data and the compiled model.
    shapes : list of tuple
        The model's weight shapes: weights travel packed into one array (fedcore.flower.packing).
    state : RecordDict
        The node's context state, kept by the SuperNode between messages.
    """

    def __init__(self, hospital, shapes: list[tuple], state=None):
        self.hospital = hospital
        self.shapes = shapes
        self.state = state

    def fit(self, parameters, config):
        """Train the global weights locally for the round ``config['server-round']``.

        The parameters are the packed global weights, then under SCAFFOLD the server's
        packed control variate (a run config carries only scalars); this hospital's own
        control variate is kept in the node's context state between rounds.
        """
        # The strategy's scalar instructions (learning rate, FedProx's mu), as the in-process loop
        # passes them.
        instructions = {
            key.replace("-", "_"): config[key]
            for key in ("learning-rate", "proximal-mu")
            if key in config
        }
        if config.get("scaffold-control"):
            instructions[CONTROL_KEY] = unpack(parameters[1], self.shapes)
            if CONTROL_STATE in self.state:
                self.hospital.control = self.state[CONTROL_STATE].to_numpy_ndarrays()
        outcome = self.hospital.fit(
            unpack(parameters[0], self.shapes), int(config["server-round"]), instructions
        )
        if self.hospital.control is not None:
            self.state[CONTROL_STATE] = ArrayRecord(
                numpy_ndarrays=[np.asarray(c) for c in self.hospital.control]
            )
        return (
            [pack(outcome.weights)],
            outcome.num_examples,
            {**self._identity(), **outcome.metrics, **self._counts()},
        )

    def get_properties(self, config):
        """Who this hospital is; asked before round 1, when building it loads its data and model."""
        return self._identity()

    def evaluate(self, parameters, config):
        """Metrics of the global weights on this hospital's test split with its test counts over the
        threshold grid, and its validation counts over the same grid (the server chooses the
        operating
        point from their sum, then reads this hospital's figures there from its test counts)."""
        weights = unpack(parameters[0], self.shapes)
        metrics = self.hospital.evaluate_report(weights)
        counts = self.hospital.validation_counts(weights)
        return metrics["loss"], metrics["n"], {**self._identity(), **metrics, **counts}

    def _identity(self) -> dict:
        return {"hospital": self.hospital.name, "partition-id": self.hospital.index}

    def _counts(self) -> dict:
        # Class counts per split: what the dashboard's data summary shows for every run.
        return {
            f"count:{split}:{label}": n
            for split, counts in self.hospital.data.summary().items()
            for label, n in counts.items()
        }


def client_fn(context: Context):
    """This SuperNode's hospital: its data from the node config, the model from the run config.

    In the warm executor (:mod:`fedcore.flower.executor`) the hospital is built at the
    run's first message and kept for its later ones, as the in-process engine keeps its
    hospitals for a run; under ``flwr-clientapp`` every message builds it again.
    """
    key = (context.run_id, tuple(sorted(context.node_config.items())))
    if key not in _hospitals:
        _hospitals.clear()  # one run at a time: a new run's hospital replaces the last one's
        _hospitals[key] = _build_hospital(context)
    hospital, shapes = _hospitals[key]
    return HospitalClient(hospital, shapes, context.state).to_client()


def _build_hospital(context: Context) -> tuple:
    # Imported here so that SecAgg+'s key-exchange messages, which never reach
    # client_fn, do not pay for loading TensorFlow in a short-lived process.
    from fedcore.data import cap_training
    from fedcore.data.site import load_hospital
    from fedcore.hospital.kinds import make_hospital
    from fedcore.model.networks import build_model

    config = from_run_config(context.run_config)
    node = context.node_config
    if "data-path" not in node:
        raise FedXrayError(
            "this SuperNode has no data-path in its node config: start it with "
            "--node-config 'partition-id=0 data-path=\"/path/to/hospital\"'"
        )
    index = int(node.get("partition-id", 0))
    data, _ = load_hospital(str(node["data-path"]), config.input_size, node.get("hospital"))
    data = cap_training(data, config.max_per_hospital, config.seed, index)
    built = build_model(config)
    return make_hospital(data, built, config, index), [w.shape for w in built.initial_weights]


def secure_aggregation_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Apply Flower's ``secaggplus_mod`` when the run asked for secure aggregation."""
    if context.run_config.get("secure-aggregation", False):
        return secaggplus_mod(msg, context, call_next)
    return call_next(msg, context)


app = ClientApp(client_fn=client_fn, mods=[secure_aggregation_mod])
