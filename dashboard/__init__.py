"""The Streamlit dashboard's building blocks: theme, cached store reads, figure builders.

Pages in ``views/`` are short layout scripts over these; nothing here trains, and
nothing here imports TensorFlow (the Diagnose page loads it on demand).
"""
