"""`python -m fedcore site` and `serve`: a wrong input is one line and status 2 before anything
joins; a site started with the kit takes part in a round."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from fedcore.cli import main
from fedcore.data import CLASSES
from fedcore.flower import superlink
from fedcore.store import RunStore
from testkit.loopback import LoopbackFederation
from tests.flower.flower_support import flower_run_config, sites, small_config


def one_line_error(capsys, argv: list[str]) -> str:
    """Run the CLI; assert status 2 and one 'error:' line; that line."""
    status = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("error: "), (status, err)
    return err[0]


def layout(root, *folders: str):
    for folder in folders:
        (root / folder).mkdir(parents=True)
    return root


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: tmp / "absent", "does not exist"),
        (lambda tmp: layout(tmp / "all", "HOSPITAL/hospital_1"), "whole federation's folder"),
        (lambda tmp: layout(tmp / "h", "train/NORMAL", "train/PNEUMONIA"), "no val/ folder"),
        (
            lambda tmp: layout(tmp / "h", "train/NORMAL", "val/NORMAL", "test/NORMAL"),
            "train' has no PNEUMONIA/ folder",
        ),
        (
            lambda tmp: layout(
                tmp / "h", *(f"{s}/{c}" for s in ("train", "val", "test") for c in CLASSES)
            ),
            "no readable train images",
        ),
        (lambda tmp: tmp / "notes.txt", "not a .npz"),
    ],
    ids=["missing", "federation", "no-val", "no-class", "empty", "not-npz"],
)
def test_a_site_with_bad_data_says_what_is_wrong_in_one_line(tmp_path, capsys, make, says):
    (tmp_path / "notes.txt").write_text("not images")
    line = one_line_error(capsys, ["site", "--data", str(make(tmp_path))])
    assert says in line


def test_a_site_without_certificates_an_address_or_its_key_says_so(tmp_path, capsys):
    data = tmp_path / "h.npz"
    np.savez(data, train_images=np.zeros((1, 28, 28), np.uint8))
    line = one_line_error(capsys, ["site", "--data", str(data), "--superlink", "10.1.2.3:9093"])
    assert "--certificates" in line
    line = one_line_error(
        capsys, ["site", "--data", str(data), "--certificates", str(tmp_path / "certs")]
    )
    assert "no ca.pem" in line
    line = one_line_error(capsys, ["site", "--data", str(data), "--superlink", "server.org"])
    assert "is not HOST:PORT" in line
    line = one_line_error(capsys, ["site", "--data", str(data), "--auth-key", "absent"])
    assert "no private key at absent" in line


def test_serve_refuses_a_global_test_set_it_cannot_read(tmp_path, capsys):
    line = one_line_error(capsys, ["serve", "--global-test", str(tmp_path / "absent.npz")])
    assert "global test set" in line


def test_a_site_started_with_the_kit_joins_a_one_round_federation(tmp_path):
    # Prepare: one hospital's file, served and joined with the kit's two commands
    config = small_config(rounds=1, max_per_hospital=20, hospitals=1)
    hospitals, global_test = sites(config, tmp_path / "sites")

    # Execute
    with LoopbackFederation(tmp_path / "kit", hospitals, global_test, kit=True) as federation:
        federation.run(flower_run_config(config, **{"min-hospitals": 1}), timeout=300)
        site_log = federation.log("supernode-0")
    assert federation.leftovers() == []

    # Assert: the site said what it holds before joining, and its round was recorded
    assert "site hospital_1: " in site_log and "joining the SuperLink at 127.0.0.1" in site_log
    (run,) = RunStore(federation.store_home).list_runs()
    assert run["status"] == "finished", run["error"]
    assert run["rounds_done"] == 1


def test_serve_becomes_this_pythons_superlink_with_the_servers_inputs(tmp_path, monkeypatch):
    # Prepare: a two-image global test set; os.execve recorded instead of run
    test_set = tmp_path / "global_test.npz"
    np.savez(test_set, test_images=np.zeros((2, 28, 28), np.uint8), test_labels=np.array([0, 1]))
    became = {}
    monkeypatch.setattr(
        superlink.os, "execve", lambda path, argv, env: became.update(argv=argv, env=env)
    )
    monkeypatch.setenv("PATH", "/usr/bin")

    # Execute
    superlink.serve(str(test_set), "127.0.0.1", 9093, None, auth=True, home=str(tmp_path))

    # Assert: flower-superlink of this Python, which finds this Python's flower-superexec, told
    # where the global test set and the run store are
    bin_dir = str(Path(sys.executable).parent)
    assert became["argv"][0] == f"{bin_dir}/flower-superlink"
    assert {"--insecure", "--enable-supernode-auth"} <= set(became["argv"])
    assert became["env"]["PATH"].split(os.pathsep)[0] == bin_dir
    assert became["env"][superlink.GLOBAL_TEST_ENV] == str(test_set.resolve())
    assert became["env"]["FEDCORE_HOME"] == str(tmp_path.resolve())
