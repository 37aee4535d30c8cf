"""fedcore: the federated-learning engine behind FedXray.

Hospitals train a shared pneumonia classifier on their own chest X-rays and send back only
model weights and counts; a server aggregates them. This package never imports streamlit: the
dashboard reads what the engine writes to the run store.
"""

import os

# TensorFlow's start-up notices (oneDNN, CPU features) say nothing a user can act on; set before
# any module of the package imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
