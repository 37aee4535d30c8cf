"""The same federation on Flower: ClientApp, ServerApp, SuperNode with a warm executor.

May import from fedcore: errors, payload, config, data, model, results, store, strategies,
server, privacy, hospital.
"""
