"""Privacy switched on with nothing else set trains with the settings measured to learn, on every
entry point; a setting the user gives wins; and a run that cannot learn is said before it trains."""

import pytest

from fedcore.cli import build_parser
from fedcore.config.flags import config_from_args, train_flags
from fedcore.config.run_config import DP_BATCH_SIZE, DP_LEARNING_RATE, RunConfig
from fedcore.data import load_federation
from fedcore.flower.app_config import from_run_config
from fedcore.privacy import signal


def cli_config(*flags: str) -> RunConfig:
    return config_from_args(build_parser().parse_args(["train", *flags]))


def test_patient_dp_alone_takes_the_privacy_batch_size_and_step_size_on_the_cli():
    config = cli_config("--dp", "patient", "--dp-target-epsilon", "8")
    assert (config.batch, config.lr) == (DP_BATCH_SIZE, DP_LEARNING_RATE) == (1024, 0.5)
    assert cli_config().batch == 32, "without privacy the plain default"
    assert "--batch-size" not in train_flags(config), "the command keeps the default, unset"


def test_patient_dp_alone_takes_group_normalisation_and_a_choice_the_user_makes_wins():
    assert cli_config("--dp", "patient").norm == "group"
    assert cli_config().norm == cli_config("--dp", "hospital").norm == "none"
    assert cli_config("--dp", "patient", "--normalization", "none").norm == "none"
    assert cli_config("--normalization", "group").norm == "group"
    flower = from_run_config({"dp": "patient", "normalization": "auto", "batch-size": 0})
    assert flower.norm == "group"
    flags = train_flags(cli_config("--dp", "patient"))
    assert flags[flags.index("--normalization") + 1] == "auto", "the command keeps it following DP"


def test_a_run_stored_before_normalisation_was_a_setting_rebuilds_without_it():
    stored = RunConfig(dp="patient").to_dict()
    del stored["normalization"]
    assert RunConfig.from_dict(stored).norm == "none"
    assert RunConfig.from_dict(RunConfig(dp="patient").to_dict()).norm == "group"


def test_a_batch_size_the_user_sets_wins_over_the_privacy_default():
    config = cli_config("--dp", "patient", "--batch-size", "256", "--learning-rate", "0.1")
    assert (config.batch, config.lr) == (256, 0.1)


def test_a_flower_run_config_with_privacy_on_takes_the_same_defaults():
    config = from_run_config({"dp": "patient", "dp-target-epsilon": 8.0, "batch-size": 0})
    assert config.batch == DP_BATCH_SIZE
    assert from_run_config({"dp": "patient", "batch-size": 64}).batch == 64


def test_help_says_what_an_unset_batch_size_means():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    (action,) = [a for a in train._actions if a.dest == "batch_size"]
    assert "32; 1024 with patient-level DP" in str(action.default) + " " + action.help


def sites(config: RunConfig) -> list[signal.Site]:
    return signal.sites_of(load_federation(config).summary())


def test_hospital_level_dp_with_three_hospitals_is_said_to_be_unable_to_learn():
    config = RunConfig(dp="hospital", dp_target_epsilon=8.0)
    (warning,) = signal.warnings(config, sites(config))
    assert "cannot learn" in warning and "231 times" in warning and "348 hospitals" in warning


def test_the_measured_patient_dp_run_is_not_warned_about_and_a_small_batch_is():
    config = RunConfig(dp="patient", dp_target_epsilon=8.0)  # seed 42: AUROC 0.93 measured
    assert signal.warnings(config, sites(config)) == []
    small = RunConfig(dp="patient", dp_target_epsilon=8.0, batch_size=32)
    (warning,) = signal.warnings(small, sites(small))
    assert "7.7 times" in warning and "privacy default" in warning


def test_the_warning_follows_the_normalisation_the_run_measured_to_learn_with():
    # Epsilon 2 (ratio 2.2), seed 42: learned with group normalisation (0.87), not without (0.68).
    grouped = RunConfig(dp="patient", dp_target_epsilon=2.0)
    assert signal.warnings(grouped, sites(grouped)) == []
    plain = RunConfig(dp="patient", dp_target_epsilon=2.0, normalization="none")
    (warning,) = signal.warnings(plain, sites(plain))
    assert "not expected to learn" in warning and "2.2 times" in warning
    assert "privacy default" not in warning, "the batch is already the privacy default"
    low = RunConfig(dp="patient", dp_target_epsilon=1.0)  # ratio 4.0: its loss rose (0.81)
    (warning,) = signal.warnings(low, sites(low))
    assert "4.0 times" in warning and "stayed under 3" in warning


def test_a_large_hospital_with_a_handful_of_one_class_is_named_before_training():
    config = RunConfig(dp="patient", dp_target_epsilon=8.0, seed=3)  # AUROC 0.835
    (warning,) = signal.warnings(config, sites(config))
    assert warning.startswith("hospital_1 holds 49% of the images but only 9 of its rarer")


def test_no_warning_without_privacy():
    assert signal.warnings(RunConfig(), sites(RunConfig())) == []


@pytest.mark.parametrize("backbone", ["cnn"])
def test_the_weight_counts_the_prediction_uses_are_the_models(backbone):
    from fedcore.model.networks import build_model

    built = build_model(RunConfig(backbone=backbone))
    assert sum(w.size for w in built.initial_weights) == signal.MODEL_WEIGHTS[backbone]
