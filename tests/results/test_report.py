"""The printed report says which model, at which size and from which initial weights, its figures
come from."""

from fedcore.results import text


def test_the_report_names_the_model_and_its_initial_weights(tiny_run):
    store, run_id = tiny_run
    printed = text.text_report(store.snapshot(run_id))
    assert "Model: cnn at 28 px; initial weights: random initialisation" in printed.splitlines()[1]
