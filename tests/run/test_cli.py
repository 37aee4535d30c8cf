"""The CLI as a user runs it: train, runs, report, diagnose, compare, and its error messages."""

import os
import subprocess
import sys

from fedcore.cli import main
from fedcore.data import SAMPLES_DIR


def _cli(home, *args, timeout=300):
    env = {**os.environ, "FEDCORE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "fedcore", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_train_prints_tables_and_writes_json(tmp_path):
    out = _cli(
        tmp_path,
        "train",
        "--rounds",
        "2",
        "--max-per-hospital",
        "120",
        "--json",
        str(tmp_path / "r.json"),
    )
    assert out.returncode == 0, out.stderr
    assert "round  2/2" in out.stdout
    assert "Table 1. Global model on the global test set" in out.stdout
    assert "Table 2. Per hospital" in out.stdout
    assert "Sensitivity" in out.stdout and "Specificity" in out.stdout and "F1 avg" in out.stdout
    import json

    data = json.loads((tmp_path / "r.json").read_text())
    assert data["run"]["status"] == "finished" and len(data["rounds"]) == 2
    assert data["run"]["config"]["max_per_hospital"] == 120


def test_runs_report_csv_and_diagnose(tiny_run, tmp_path, capsys):
    store, run_id = tiny_run
    home = str(store.home)
    assert main(["--home", home, "runs"]) == 0
    assert run_id in capsys.readouterr().out
    assert (
        main(["--home", home, "report", run_id, "--round", "best", "--csv", str(tmp_path / "t")])
        == 0
    )
    text = capsys.readouterr().out
    assert "Table 1" in text and "hospital_3" in text
    table1 = (tmp_path / "t_table1.csv").read_text()
    assert "Sensitivity (recall)" in table1 and "Global model" in table1
    assert "Threshold" in table1.splitlines()[0], "a table says its threshold"
    assert (tmp_path / "t_table2.csv").read_text().count("hospital_") == 3
    rounds = (tmp_path / "t_rounds.csv").read_text().splitlines()
    assert rounds[0].startswith("run,round,model,test_set,threshold,threshold_rule")
    assert len(rounds) == 1 + 2 * 4, "every round x scope: the global model and 3 hospitals"
    assert text.rstrip().splitlines()[-2].startswith("Health: "), "the report ends on health"
    image = next((SAMPLES_DIR / "PNEUMONIA").iterdir())
    assert main(["--home", home, "diagnose", str(image), "--run", run_id]) == 0
    text = capsys.readouterr().out
    assert "P(pneumonia) = " in text and "not a medical device" in text


def test_user_errors_are_one_line_without_traceback(tmp_path, capsys):
    home = str(tmp_path / "home")
    assert main(["--home", home, "train", "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: data path") and "Traceback" not in err
    assert main(["--home", home, "report", "no-such-run"]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["--home", home, "diagnose", str(tmp_path / "notes.txt")]) == 2
    assert "no run has completed a round" in capsys.readouterr().err
    assert main(["--home", home, "train", "--rounds", "0"]) == 2
    assert "rounds must be between 1 and 10000 (got 0)" in capsys.readouterr().err


def test_diagnose_rejects_a_non_image(tiny_run, tmp_path, capsys):
    store, run_id = tiny_run
    (tmp_path / "notes.txt").write_text("hello")
    assert (
        main(["--home", str(store.home), "diagnose", str(tmp_path / "notes.txt"), "--run", run_id])
        == 2
    )
    assert "not a readable image" in capsys.readouterr().err


def test_compare_runs_each_strategy_and_both_references_on_one_split(tmp_path):
    out = _cli(
        tmp_path,
        "compare",
        "--rounds",
        "1",
        "--max-per-hospital",
        "100",
        "--strategy",
        "fedavg,fedprox",
    )
    assert out.returncode == 0, out.stderr
    for row in (
        "federated fedavg",
        "federated fedprox",
        "centralized",
        "local hospital_1",
        "local (mean)",
    ):
        assert row in out.stdout
    assert "centralized - federated fedprox global AUROC" in out.stdout
    assert "Warning" not in out.stderr, (
        out.stderr
    )  # the local rows have no operating point: "-", no numpy warning
    assert (
        "unknown strategy fedmagic"
        in _cli(tmp_path, "compare", "--strategy", "fedavg,fedmagic").stderr
    )
