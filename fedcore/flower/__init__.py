"""The same federation on Flower: ClientApp, ServerApp, SuperNode with a warm executor.

Written on Flower's public Message API; what flwr offers only in its internal modules (the
warm executor's Runtime API calls, shorter fixed waits, SecAgg+'s legacy workflow) is in
flwr_internals alone.

May import from fedcore: errors, payload, config, data, model, results, store, strategies,
server, privacy, hospital.
"""
