"""What a figure means: binary metrics, the federated operating point, Tables 1 and 2.

May import from fedcore: errors, config.
"""
