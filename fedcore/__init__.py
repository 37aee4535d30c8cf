"""fedcore: the federated-learning engine behind FedXray.

Hospitals train a shared pneumonia classifier on their own chest X-rays and send back only
model weights and counts; a server aggregates them. This package never imports streamlit: the
dashboard reads what the engine writes to the run store.
"""

__version__ = "0.1.0"
