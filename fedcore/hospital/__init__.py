"""The hospital side: local training (plain and DP-SGD) and simulated attackers.

May import from fedcore: errors, payload, config, data, model, results, strategies, privacy.
"""
