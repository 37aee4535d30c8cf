"""The server side: aggregation and global evaluation, the round recorder, the best round.

May import from fedcore: errors, payload, data, model, results, store, strategies.
"""
