"""Cached models and sample scores for the Diagnose page (TensorFlow is imported on first use)."""

from __future__ import annotations

import streamlit as st

from dashboard import data


@st.cache_resource(show_spinner="Loading the shipped model…")
def shipped_model():
    """The default federation's checkpoint shipped in assets/model (fedcore.diagnosis.load_shipped_model)."""
    return data.diagnosis_engine().load_shipped_model()


@st.cache_data(show_spinner="Scoring the 16 sample radiographs…", max_entries=16)
def _sample_scores(key: tuple, _loaded) -> list[dict]:
    # key (run, checkpoint, model, round) names the weights; _loaded is not hashed.
    return [{"sample": s.name, "truth": s.truth, "call": s.label, "P(pneumonia)": s.probability,
             "correct": s.correct} for s in data.diagnosis_engine().score_samples(_loaded)]


def sample_scores(loaded) -> list[dict]:
    """The 16 held-out samples through ``loaded``, computed once per checkpoint."""
    return _sample_scores((loaded.run_id, loaded.checkpoint, loaded.model_name, loaded.server_round), loaded)
