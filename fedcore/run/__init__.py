"""A whole run: the in-process engine and its modes, child-process launches, the attack
demo, bench, baselines.

May import from fedcore: errors, payload, config, data, model, results, store, strategies,
server, privacy, hospital.
"""
