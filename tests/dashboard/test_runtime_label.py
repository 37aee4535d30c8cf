"""A run trained over Flower says so on Train and in the Runs table; an in-process run says that."""

from __future__ import annotations

from tests.conftest import tiny_config
from tests.dashboard.test_app_pages import assert_clean, open_page

REST = {"accuracy": 0.8, "auroc": 0.9, "loss": 0.4, "sensitivity": 0.9, "specificity": 0.7}


def stored_run(store, runtime: str | None) -> str:
    config = tiny_config()
    if runtime:
        config.extra["runtime"] = runtime  # as fedcore.flower.app_config records it
    run_id = store.create_run(config.to_dict(), 1, "federated")
    store.record_round(run_id, 1, {"global": REST, "hospital_1": REST}, {}, {}, 1.0, 1)
    store.finish(run_id, "finished")
    return run_id


def test_the_runtime_is_said_on_train_and_in_runs(store):
    stored_run(store, None)
    flower = stored_run(store, "flower")  # the newest: Train shows it
    at = open_page("views/train.py")
    assert_clean(at)
    assert any("over Flower" in c.value and flower in c.value for c in at.caption)
    at.switch_page("views/runs.py")
    at.run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert sorted(table["runtime"]) == ["Flower", "in-process"]
    assert table.loc[table["id"] == flower, "runtime"].item() == "Flower"


def test_train_shows_each_flower_sites_state(store):
    config = tiny_config()
    config.extra["runtime"] = "flower"
    run_id = store.create_run(config.to_dict(), 3, "federated")
    names = ["hospital_1", "hospital_2"]
    split = {"NORMAL": 40, "PNEUMONIA": 60}
    summary = {n: {"train": split, "val": split, "test": split} for n in names}
    store.set_data_summary(run_id, {"hospitals": summary, "global_test": split})
    for r, taking_part in ((1, names), (2, names[:1])):
        fit = {"_round": {"participants": taking_part}}
        metrics = {"global": REST} | {n: REST for n in taking_part}
        store.record_round(run_id, r, metrics, {}, fit, 1.0, r)
    store.event(
        run_id,
        "hospital_dropped",
        "hospital_2 dropped out",
        2,
        "warning",
        {"hospital": "hospital_2"},
    )
    at = open_page("views/train.py")
    assert_clean(at)
    sites = next(d.value for d in at.dataframe if "state" in d.value.columns)
    assert list(sites["state"]) == ["taking part", "dropped in round 2"]
    assert list(sites["rounds taken part"]) == [2, 1]
    store.finish(run_id, "stopped")
