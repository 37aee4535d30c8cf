"""Cached models and sample scores for the Diagnose page (TensorFlow is imported on first use)."""

from __future__ import annotations

import streamlit as st

from dashboard import data


@st.cache_resource(show_spinner="Loading the shipped model…")
def shipped_model():
    """The default federation's checkpoint shipped in assets/model
    (fedcore.diagnosis.score.load_shipped_model)."""
    return data.diagnosis_engine().load_shipped_model()


@st.cache_data(show_spinner="Scoring the 16 sample radiographs…", max_entries=16)
def _sample_probabilities(key: tuple, _loaded) -> list[dict]:
    # key (run, checkpoint, model, round) names the weights; _loaded is not hashed.
    return [
        {"sample": s.name, "truth": s.truth, "P(pneumonia)": s.probability}
        for s in data.diagnosis_engine().score_samples(_loaded)
    ]


def sample_scores(loaded, threshold: float) -> list[dict]:
    """The 16 held-out samples through ``loaded`` (scored once per checkpoint), called at
    ``threshold``.

    Parameters
    ----------
    loaded : fedcore.diagnosis.score.LoadedModel
    threshold : float
        The decision threshold: the federated operating point when the round has one.
    """
    from fedcore.data import CLASSES

    scored = _sample_probabilities(
        (loaded.run_id, loaded.checkpoint, loaded.model_name, loaded.server_round), loaded
    )
    return [
        {
            **s,
            "call": CLASSES[int(s["P(pneumonia)"] >= threshold)],
            "correct": CLASSES[int(s["P(pneumonia)"] >= threshold)] == s["truth"],
        }
        for s in scored
    ]
