"""Flower ClientApp: a hospital's SuperNode runs fedcore's hospital side
(:class:`fedcore.hospital.training.Hospital`) with Flower's Message API.

Which hospital this is comes from the SuperNode's node config, never from the server::

    flower-supernode ... --node-config 'partition-id=0 data-path="/data/hospital_1.npz"'

- ``data-path``: the hospital's folder or .npz (see :mod:`fedcore.data.site`);
- ``partition-id``: its position in the federation, which seeds its local steps as in
  an in-process run (default 0);
- ``hospital``: its display name (default the folder name or file stem).

The run's hyper-parameters come from the run config. Three handlers answer the server:
``query`` (load the hospital before round 1, say who it is), ``train`` and ``evaluate``.
What they send back is laid out in :mod:`fedcore.flower.records`: weights, the number of
training images, a few training figures, the class counts per split and evaluation
metrics; never images or labels. With ``secure-aggregation`` the weights leave masked
by SecAgg+ (:func:`fedcore.flower.secagg_legacy.secure_aggregation_mod`).
"""

from __future__ import annotations

import numpy as np
from flwr.app import ArrayRecord, Context, Message
from flwr.clientapp import ClientApp

from fedcore.errors import FedXrayError
from fedcore.flower import records
from fedcore.flower.app_config import from_run_config
from fedcore.flower.secagg_legacy import secure_aggregation_mod
from fedcore.strategies.drift import CONTROL_KEY

# Where a SuperNode keeps its hospital's SCAFFOLD control variate between rounds (context.state).
CONTROL_STATE = "scaffold-control"
# The hospital of the run this process serves and its weight shapes, by (run id, node config).
_hospitals: dict[tuple, tuple] = {}

app = ClientApp()


@app.query()
def describe(msg: Message, context: Context) -> Message:
    """Load this hospital's data, build its model and trace its steps (before round 1, as the
    in-process engine does); reply who it is."""
    hospital, _ = _hospital(context)
    hospital.warm_up()
    return Message(records.identity(hospital.name, hospital.index), reply_to=msg)


@app.train(mods=[secure_aggregation_mod])
def train(msg: Message, context: Context) -> Message:
    """Train the global weights on this hospital's images for the message's round.

    Under SCAFFOLD the message also holds the server's control variate; this hospital's
    own control variate is kept in the node's context state between rounds, or comes with the
    message where the server gives it back (the first round of a resumed run).
    """
    hospital, shapes = _hospital(context)
    weights, config, control = records.read_instructions(msg.content, shapes)
    # The strategy's scalar instructions (learning rate, FedProx's mu), as the in-process
    # loop passes them.
    instructions = {
        key.replace("-", "_"): value for key, value in config.items() if key != records.SERVER_ROUND
    }
    if control is not None:
        instructions[CONTROL_KEY] = control
        own = records.read_own_control(msg.content, shapes)
        if own is not None:
            hospital.control = own
        elif CONTROL_STATE in context.state:
            hospital.control = context.state[CONTROL_STATE].to_numpy_ndarrays()
    outcome = hospital.fit(weights, int(config[records.SERVER_ROUND]), instructions)
    if hospital.control is not None:
        context.state[CONTROL_STATE] = ArrayRecord([np.asarray(c) for c in hospital.control])
    content = records.train_reply(hospital.name, hospital.index, outcome, hospital.data.summary())
    return Message(content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """The global weights' metrics on this hospital's test images, with its test and validation
    counts over the threshold grid.

    The server chooses the operating point from the hospitals' summed validation counts,
    then reads each hospital's figures there from its test counts.
    """
    hospital, shapes = _hospital(context)
    weights, _, _ = records.read_instructions(msg.content, shapes)
    metrics = hospital.evaluate_report(weights) | hospital.validation_counts(weights)
    return Message(records.evaluate_reply(hospital.name, hospital.index, metrics), reply_to=msg)


def _hospital(context: Context) -> tuple:
    """This SuperNode's hospital and its model's weight shapes, built at the run's first message.

    In the warm executor (:mod:`fedcore.flower.executor`) it is kept for the run's later
    messages, as the in-process engine keeps its hospitals for a run; under
    ``flwr-clientapp`` every message builds it again.
    """
    key = (context.run_id, tuple(sorted(context.node_config.items())))
    if key not in _hospitals:
        _hospitals.clear()  # one run at a time: a new run's hospital replaces the last one's
        _hospitals[key] = _build_hospital(context)
    return _hospitals[key]


def _build_hospital(context: Context) -> tuple:
    # Imported here so that SecAgg+'s key-exchange messages, which never reach a
    # handler, do not pay for loading TensorFlow in a short-lived process.
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
