"""Privacy: DP accounting and steps, the DP strategy wrapper, the audit, privacy tables.

May import from fedcore: errors, quiet, config, data, model, store, strategies, server.
"""
