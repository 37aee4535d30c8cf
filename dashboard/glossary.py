"""One plain sentence for each technical term a judge meets, used as tooltips on every page."""

GLOSSARY = {
    "accuracy": "Share of test X-rays the model calls right (NORMAL or PNEUMONIA).",
    "auroc": (
        "How well the model ranks pneumonia above healthy lungs, whatever the threshold: 0.5 is a "
        "coin toss, 1.0 is perfect."
    ),
    "sensitivity": "Share of the X-rays with pneumonia that the model finds (recall).",
    "specificity": "Share of the healthy X-rays that the model calls NORMAL.",
    "loss": "The training objective on the test set (cross-entropy): lower is better.",
    "f1": "The balance of precision and sensitivity for pneumonia, 0 to 1.",
    "operating point": (
        "The threshold on P(pneumonia) the server chose from counts the hospitals send (never "
        "their images): the one that best balances sensitivity and specificity on their "
        "validation X-rays."
    ),
    "threshold": "An X-ray is called PNEUMONIA when the model's P(pneumonia) is at or above it.",
    "non-iid": (
        "The hospitals' patients differ: one sees mostly pneumonia, another mostly healthy lungs."
    ),
    "epsilon": (
        "The privacy budget of differential privacy: how much one patient's X-ray can change "
        "what leaves a hospital. Smaller is more private; 8 or less is a common bar."
    ),
    "fedavg": "The server averages the hospitals' models, weighting each by its number of images.",
    "scaffold": (
        "FedAvg with a correction for each hospital's drift towards its own patients, so "
        "unlike hospitals still agree on one model."
    ),
    "dirichlet": (
        "How the embedded data is shared out: a random, unequal share of each class per "
        "hospital; the smaller α, the more unequal."
    ),
}
