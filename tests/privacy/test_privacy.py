"""Differential privacy: accounting against dp-accounting, DP-SGD clipping by hand, the
hospital-level
wrapper, settings, the membership audit, and what crosses from hospital to server."""

from __future__ import annotations

import math

import dp_accounting
import keras
import numpy as np
import pytest
import tensorflow as tf
from dp_accounting.pld import PLDAccountant
from dp_accounting.rdp import RdpAccountant

from fedcore import cli, payload
from fedcore.config.run_config import RunConfig
from fedcore.data import HospitalData, Split, load_federation
from fedcore.errors import FedXrayError
from fedcore.hospital.kinds import make_hospital
from fedcore.hospital.training import Hospital
from fedcore.model.networks import build_model
from fedcore.payload import FitOutcome
from fedcore.privacy import accounting, audit, dp_step
from fedcore.privacy import tables as privacy_report
from fedcore.privacy.dp_strategy import DPFedAvg, clip_update, noisy_mean
from fedcore.run import engine
from fedcore.strategies import FedAvg
from tests.conftest import tiny_config

# ------------------------------------------------------------------ accounting


@pytest.mark.parametrize(
    "sigma, q, steps", [(1.1, 32 / 3369, 106), (0.8, 32 / 533, 17 * 10), (2.0, 0.5, 4)]
)
def test_dp_sgd_epsilon_is_dp_accountings_own_answer(sigma, q, steps):
    accountant = RdpAccountant()
    accountant.compose(
        dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
        )
    )

    assert accounting.dp_sgd_epsilon(sigma, q, steps, 1e-5) == pytest.approx(
        accountant.get_epsilon(1e-5), rel=1e-12
    )


def test_epsilon_grows_with_rounds_and_shrinks_with_noise():
    per_round = 20
    by_round = [accounting.dp_sgd_epsilon(1.0, 0.05, per_round * r) for r in range(1, 6)]
    assert all(a < b for a, b in zip(by_round, by_round[1:]))
    assert accounting.dp_sgd_epsilon(2.0, 0.05, 100) < accounting.dp_sgd_epsilon(1.0, 0.05, 100)
    assert accounting.dp_sgd_epsilon(1.0, 0.05, 0) == 0.0

    hospital_level = [accounting.gaussian_rounds_epsilon(3.0, r) for r in range(1, 6)]
    assert all(a < b for a, b in zip(hospital_level, hospital_level[1:]))


@pytest.mark.parametrize("sigma, rounds", [(1.0, 1), (3.0, 10), (10.0, 5)])
def test_hospital_level_epsilon_equals_the_pld_accountant(sigma, rounds):
    pld = PLDAccountant()
    pld.compose(accounting.gaussian_rounds_event(sigma, rounds))

    assert accounting.gaussian_rounds_epsilon(sigma, rounds, 1e-5) == pytest.approx(
        pld.get_epsilon(1e-5), rel=1e-3
    )


def test_noise_solved_for_a_target_meets_it_tightly():
    sigma = accounting.dp_sgd_noise_for_epsilon(8.0, 32 / 533, 170, 1e-5)
    assert accounting.dp_sgd_epsilon(sigma, 32 / 533, 170, 1e-5) <= 8.0
    assert accounting.dp_sgd_epsilon(sigma * 0.99, 32 / 533, 170, 1e-5) > 8.0

    sigma = accounting.gaussian_noise_for_epsilon(4.0, 10, 1e-5)
    assert accounting.gaussian_rounds_epsilon(sigma, 10, 1e-5) == pytest.approx(4.0, rel=1e-6)


# ------------------------------------------------------------------ DP-SGD, by hand


def softmax_regression(lr: float = 1.0) -> keras.Model:
    """logits = x W + b, softmax: per-example gradients are (p - y) x^T and (p - y)."""
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="probs")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    return model


def by_hand(model, x, y):
    kernel, bias = (np.asarray(v) for v in model.get_weights())
    logits = x @ kernel + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = p - y
    return np.einsum("bi,bj->bij", x, dz), dz


def test_per_example_gradients_and_clipping_match_a_hand_computation():
    # Prepare
    model = softmax_regression()
    model.set_weights([np.zeros((3, 2), np.float32), np.zeros(2, np.float32)])  # p = (0.5, 0.5)
    x = np.array([[1.0, 2.0, 0.5], [0.01, 0.0, 0.02], [-3.0, 4.0, 1.0]], np.float32)
    y = np.array([[1, 0], [0, 1], [0, 1]], np.float32)
    kernel_grads, bias_grads = by_hand(model, x, y)
    norms = np.sqrt((kernel_grads**2).sum((1, 2)) + (bias_grads**2).sum(1))
    clip = 1.0
    assert norms[1] < clip < norms[0]  # one example inside the ball, the others outside

    # Execute
    grads = dp_step.per_example_gradients(model, tf.constant(x), tf.constant(y))
    clipped, measured = dp_step.clip_per_example(grads, clip)

    # Assert
    np.testing.assert_allclose(grads[0].numpy(), kernel_grads, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grads[1].numpy(), bias_grads, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(measured.numpy(), norms, rtol=1e-5)
    factor = np.minimum(1.0, clip / norms)
    np.testing.assert_allclose(
        clipped[0].numpy(), kernel_grads * factor[:, None, None], rtol=1e-5, atol=1e-7
    )
    after = np.sqrt(sum((c.numpy() ** 2).reshape(3, -1).sum(1) for c in clipped))
    np.testing.assert_allclose(after, np.minimum(norms, clip), rtol=1e-5)


def test_group_normalisation_keeps_each_images_gradient_its_own():
    # Per-example clipping bounds one image only if its gradient ignores the rest of the batch:
    # batch normalisation would fail this, group normalisation (the DP default) must not.
    built = build_model(RunConfig(dp="patient"))
    assert [layer.name for layer in built.extractor.layers if "gn" in layer.name] == [
        "gn1",
        "gn2",
        "gn3",
        "gn4",
    ]
    built.head.get_layer("dropout").rate = 0.0  # dropout's draw would differ between the calls
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((4, 28, 28, 1)), tf.float32)
    y = tf.constant(np.eye(2)[[0, 1, 1, 0]], tf.float32)
    together = dp_step.per_example_gradients(built.model, x, y)
    alone = dp_step.per_example_gradients(built.model, x[2:3], y[2:3])
    for in_batch, by_itself in zip(together, alone):
        np.testing.assert_allclose(in_batch[2].numpy(), by_itself[0].numpy(), rtol=1e-4, atol=1e-5)


def test_dp_step_applies_the_weighted_mean_of_clipped_gradients_plus_seeded_noise():
    model = softmax_regression(lr=1.0)
    x = np.array([[1.0, 2.0, 0.5], [0.01, 0.0, 0.02], [-3.0, 4.0, 1.0]], np.float32)
    y = np.array([[1, 0], [0, 1], [0, 1]], np.float32)
    w = np.array(
        [1.0, 0.25, 0.5], np.float32
    )  # class weights over the largest, applied after clipping
    clip, denominator = 0.5, 4.0
    kernel_grads, bias_grads = by_hand(model, x, y)
    factor = (
        np.minimum(1.0, clip / np.sqrt((kernel_grads**2).sum((1, 2)) + (bias_grads**2).sum(1))) * w
    )
    expected = model.get_weights()[0] - (kernel_grads * factor[:, None, None]).sum(0) / denominator
    step = dp_step.DPTrainer(model, keras.optimizers.SGD(1.0)).step
    start = model.get_weights()

    step(x, y, w, clip, 0.0, denominator, tf.constant([1, 2]))
    np.testing.assert_allclose(model.get_weights()[0], expected, rtol=1e-5, atol=1e-6)

    noisy = []
    for _ in range(2):
        model.set_weights(start)
        step(x, y, w, clip, 3.0, denominator, tf.constant([1, 2]))
        noisy.append(model.get_weights()[0])
    np.testing.assert_array_equal(noisy[0], noisy[1])  # same seed, same noise
    assert not np.allclose(noisy[0], expected, atol=1e-3)


def test_noise_has_the_stated_scale():
    sums = [tf.zeros((200, 100)), tf.zeros((50,))]
    out = dp_step.noisy_mean(sums, 0.5, 2.0, 4.0, tf.constant([3, 4]))
    std = np.std(out[0].numpy())
    assert std == pytest.approx(2.0 * 0.5 / 4.0, rel=0.03)
    assert not np.allclose(out[0].numpy()[0, :50], out[1].numpy())  # each variable its own stream


def test_dp_class_weights_balance_a_nearly_one_class_hospital():
    # 9 NORMAL among 2,321 (seed 3's hospital_1): the plain hospitals' cap of 10 would let
    # PNEUMONIA outweigh NORMAL 13 to 1 in every DP step; clipping already bounds each example.
    labels = np.array([0] * 9 + [1] * 2312, np.int8)
    images = np.zeros((len(labels), 28, 28), np.uint8)
    split = Split(images[:4], np.array([0, 1, 0, 1], np.int8))
    config = tiny_config(dp="patient")
    hospital = make_hospital(
        HospitalData("h", Split(images, labels), split, split), build_model(config), config, 0
    )
    weights = hospital._example_weight
    assert weights.max() == pytest.approx(1.0)
    assert weights[labels == 0].sum() == pytest.approx(weights[labels == 1].sum(), rel=1e-4)


def test_poisson_batches_have_the_sampling_rate():
    rng = np.random.default_rng(0)
    sizes = [len(dp_step.poisson_batch(1000, 0.05, rng)) for _ in range(400)]
    assert np.mean(sizes) == pytest.approx(50, rel=0.05)
    assert np.std(sizes) > 3  # Poisson, not fixed-size


# ------------------------------------------------------------------ hospital-level wrapper


def test_clip_update_scales_the_whole_update_to_the_norm():
    update = [np.array([3.0, 0.0]), np.array([[4.0]])]  # norm 5
    clipped, norm = clip_update(update, 1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(clipped[0], [0.6, 0.0])
    np.testing.assert_allclose(clipped[1], [[0.8]])
    small, _ = clip_update([np.array([0.3, 0.4])], 1.0)
    np.testing.assert_allclose(small[0], [0.3, 0.4])


def test_dp_fedavg_averages_clipped_updates_unweighted_then_adds_seeded_noise():
    # Prepare: hospital A moves by 10 (clipped to 1), B by 0.5; counts would favour A 99:1.
    global_weights = [np.zeros(2, np.float32), np.ones((1, 1), np.float32)]
    a = [np.array([6.0, 8.0], np.float32), np.ones((1, 1), np.float32)]
    b = [np.array([0.0, 0.5], np.float32), np.ones((1, 1), np.float32)]
    exact = DPFedAvg(FedAvg(), hospitals=3, noise_multiplier=1e-12, clip_norm=1.0, seed=0)

    # Execute
    merged = exact.aggregate_fit(1, [(a, 99), (b, 1)], global_weights)

    # Assert: (clip(A) + clip(B) + 0) / 3, the fixed denominator counting the absent hospital
    np.testing.assert_allclose(
        merged[0], (np.array([0.6, 0.8]) + np.array([0.0, 0.5])) / 3, rtol=1e-6
    )
    np.testing.assert_allclose(merged[1], [[1.0]])
    assert merged[0].dtype == np.float32
    assert exact.last_update_norms == pytest.approx([10.0, 0.5])

    noisy = DPFedAvg(FedAvg(), hospitals=3, noise_multiplier=2.0, clip_norm=1.0, seed=5)
    first = noisy.aggregate_fit(4, [(a, 99), (b, 1)], global_weights)
    again = noisy.aggregate_fit(4, [(a, 99), (b, 1)], global_weights)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.allclose(first[0], merged[0], atol=1e-3)


def test_hospital_level_noise_std_is_sigma_c_over_k():
    updates = [[np.zeros(100_000)] for _ in range(2)]
    mean = noisy_mean(updates, 4, clip_norm=0.5, noise_multiplier=2.0, rng=np.random.default_rng(1))
    assert np.std(mean[0]) == pytest.approx(2.0 * 0.5 / 4, rel=0.02)


def test_dp_fedavg_reports_the_accountants_epsilon():
    wrapper = DPFedAvg(FedAvg(), 3, noise_multiplier=4.0, clip_norm=1.0, delta=1e-6)
    spent = wrapper.spent(7)
    assert spent["epsilon"] == accounting.gaussian_rounds_epsilon(4.0, 7, 1e-6)
    assert spent["delta"] == 1e-6
    assert wrapper.configure_fit(1, []) == FedAvg().configure_fit(1, [])


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"dp": "patient", "dp_noise_multiplier": -1.0}, "noise multiplier must be positive"),
        ({"dp": "patient", "dp_noise_multiplier": 0.0}, "noise multiplier must be positive"),
        ({"dp": "hospital", "dp_clip_norm": 0.0}, "clipping norm must be positive"),
        ({"dp": "patient", "dp_delta": 1.0}, "delta must be between 0 and 1"),
        ({"dp": "patient", "dp_delta": 0.0}, "delta must be between 0 and 1"),
        ({"dp": "patient", "dp_target_epsilon": -2.0}, "target epsilon must be positive"),
        ({"dp": "everything"}, "unknown privacy mode"),
        ({"dp": "patient", "backbone": "mobilenetv3small"}, "needs the cnn backbone"),
        ({"backbone": "efficientnetv2s", "normalization": "group"}, "is for the cnn backbone"),
        ({"dp": "hospital", "mode": "local"}, "needs mode federated"),
        ({"audit_every": -1}, "audit every"),
    ],
)
def test_bad_privacy_settings_are_refused_with_a_message(overrides, words):
    with pytest.raises(FedXrayError, match=words):
        RunConfig(**overrides).validate()


def test_cli_refuses_bad_settings_before_anything_runs(store, capsys):
    code = cli.main(["--home", str(store.home), "train", "--dp", "patient", "--dp-delta", "1.5"])
    assert code == cli.EXIT_USER_ERROR
    assert "delta must be between 0 and 1" in capsys.readouterr().err
    assert store.list_runs() == []


def test_cli_flags_reach_the_config():
    args = cli.build_parser().parse_args(
        [
            "train",
            "--dp",
            "hospital",
            "--dp-noise-multiplier",
            "3",
            "--dp-clip-norm",
            "0.2",
            "--dp-delta",
            "1e-6",
            "--dp-target-epsilon",
            "8",
            "--audit-every",
            "2",
        ]
    )
    config = cli.config_from_args(args)
    assert (
        config.dp,
        config.dp_noise_multiplier,
        config.dp_clip_norm,
        config.dp_delta,
        config.dp_target_epsilon,
        config.audit_every,
    ) == ("hospital", 3.0, 0.2, 1e-6, 8.0, 2)


# ------------------------------------------------------------------ membership audit


def test_attack_figures_on_known_losses():
    perfect = audit.attack(np.array([0.01, 0.02, 0.03]), np.array([1.0, 2.0]))
    assert perfect["auroc"] == 1.0 and perfect["advantage"] == 1.0
    rng = np.random.default_rng(0)
    same = audit.attack(rng.exponential(size=4000), rng.exponential(size=4000))
    assert abs(same["auroc"] - 0.5) < 0.03 and same["advantage"] < 0.06
    assert math.isnan(audit.attack(np.array([0.1]), np.array([]))["auroc"])
    assert audit.advantage_bound(0.0, 0.0) == 0.0
    assert 0.46 < audit.advantage_bound(1.0, 1e-5) < 0.47


def test_audit_finds_members_of_a_model_overfit_on_a_tiny_training_set():
    """The audit can fail: 40 training images, 150 epochs, no DP: the attack must see them."""
    config = tiny_config(rounds=1, hospitals=1, partition="iid", max_per_hospital=40, seed=3)
    hospital = load_federation(config).hospitals[0]
    built = build_model(config)
    x, y = (
        Hospital(hospital, built, config, 0)._x_train,
        keras.utils.to_categorical(hospital.train.labels, 2),
    )
    untrained = audit.audit_hospitals(built, {"global": built.initial_weights}, [hospital])[
        hospital.name
    ]
    built.model.fit(x, y, batch_size=8, epochs=150, verbose=0)

    result = audit.audit_hospitals(built, {"global": built.model.get_weights()}, [hospital])[
        hospital.name
    ]

    assert result["members"] == 40 and result["non_members"] == len(hospital.val)
    # 40 members against 524 non-members: the AUROC's standard error is about 0.045.
    assert result["auroc"] > 0.62 and result["advantage"] > 0.25, result
    assert abs(untrained["auroc"] - 0.5) < 0.12, untrained


def test_audit_command_records_an_event(tiny_run, capsys):
    store, run_id = tiny_run
    assert cli.main(["--home", str(store.home), "audit", run_id]) == 0
    assert "attack AUROC" in capsys.readouterr().out
    audits = privacy_report.audit_frame(store.snapshot(run_id))
    assert set(audits["hospital"]) == {"hospital_1", "hospital_2", "hospital_3"}
    assert audits["auroc"].between(0, 1).all()
    assert privacy_report.AUDIT_EVENT == audit.EVENT


# ------------------------------------------------------------------ what crosses to the server


@pytest.mark.parametrize("dp", ["off", "patient"])
def test_what_a_hospital_sends_is_model_shaped_arrays_a_count_and_scalars(dp):
    config = tiny_config(dp=dp, max_per_hospital=48)
    federation = load_federation(config)
    built = build_model(config)
    hospital = make_hospital(federation.hospitals[0], built, config, 0)
    outcome = hospital.fit(built.initial_weights, 1)

    shapes = [w.shape for w in built.model.get_weights()]
    payload.check(outcome, shapes)  # raises on anything else
    assert [w.shape for w in outcome.weights] == shapes
    assert outcome.num_examples == 48
    assert all(isinstance(v, (int, float)) for v in outcome.metrics.values())
    images, labels = hospital.data.train.images, hospital.data.train.labels
    for w in outcome.weights:
        assert w.shape not in (
            images.shape,
            labels.shape,
            hospital._x_train.shape,
            hospital._y_train.shape,
        )
    if dp == "patient":
        assert math.isnan(outcome.metrics["train_loss"])  # a training-data statistic: not released
        assert outcome.metrics["epsilon"] > 0
    manifest = payload.manifest(outcome.weights)
    assert manifest["arrays"] == len(shapes) and manifest["bytes"] == outcome.payload_bytes()


def test_payload_check_refuses_images_labels_and_non_scalar_metrics():
    shapes = [(3, 3, 1, 4), (4,)]
    good = [np.zeros(s, np.float32) for s in shapes]
    payload.check(FitOutcome(good, 10, {"train_loss": 0.3}), shapes)
    images = np.zeros((10, 28, 28), np.uint8)
    with pytest.raises(ValueError, match="not the model"):
        payload.check(FitOutcome(good + [images], 10), shapes)
    with pytest.raises(ValueError, match="not floating-point"):
        payload.check(FitOutcome([np.zeros(s, np.uint8) for s in shapes], 10), shapes)
    with pytest.raises(ValueError, match="not a number"):
        payload.check(FitOutcome(good, 10, {"labels": [0, 1, 1]}), shapes)


# ------------------------------------------------------------------ runs end to end


def test_patient_level_run_records_cumulative_epsilon_per_hospital(store):
    config = tiny_config(
        dp="patient", max_per_hospital=60, dp_noise_multiplier=1.3, batch_size=16, audit_every=2
    )
    result = engine.run(config, store, log=lambda line: None)
    assert result.status == "finished", result.error

    snap = store.snapshot(result.run_id)
    epsilon = privacy_report.epsilon_frame(snap)
    assert set(epsilon["hospital"]) == {"hospital_1", "hospital_2", "hospital_3"}
    for _, per in epsilon.groupby("hospital"):
        assert per["epsilon"].is_monotonic_increasing and per["epsilon"].iloc[0] > 0
    steps_per_round = math.ceil(60 / 16)
    expected = accounting.dp_sgd_epsilon(1.3, 16 / 60, 2 * steps_per_round, 1e-5)
    assert epsilon[epsilon["round"] == 2]["epsilon"].tolist() == pytest.approx([expected] * 3)
    fit = snap["rounds"][0]["fit"]
    assert fit["_round"]["payload"]["arrays"] == len(build_model(config).initial_weights)
    assert all(
        fit[h]["bytes_sent"] == fit["_round"]["payload"]["bytes"]
        for h in ("hospital_1", "hospital_2")
    )
    assert any(e["kind"] == "privacy" for e in snap["events"])
    assert not privacy_report.audit_frame(snap).empty  # audit_every=2 audited round 2


def test_hospital_level_run_and_a_target_epsilon(store):
    config = tiny_config(dp="hospital", dp_target_epsilon=20.0, dp_clip_norm=0.5)
    result = engine.run(config, store, log=lambda line: None)
    assert result.status == "finished", result.error

    epsilon = privacy_report.epsilon_frame(store.snapshot(result.run_id))
    final = epsilon[epsilon["round"] == 2]["epsilon"]
    assert final.max() == pytest.approx(20.0, rel=1e-6)
    assert (epsilon[epsilon["round"] == 1]["epsilon"] < final.max()).all()


def test_resumed_patient_level_run_equals_an_uninterrupted_one(store):
    config = tiny_config(dp="patient", max_per_hospital=40)
    whole = engine.run(config, store, log=lambda line: None)
    stop = engine.StopSignal()
    first = engine.run(
        config,
        store,
        stop=stop,
        log=lambda line: stop.set() if line.startswith("round  1/") else None,
    )
    assert first.status == "stopped" and first.rounds_done == 1

    resumed = engine.run(store=store, resume=first.run_id, log=lambda line: None)

    assert resumed.status == "finished", resumed.error
    a = store.load_checkpoint(whole.run_id, "last")[1]["global"]
    b = store.load_checkpoint(first.run_id, "last")[1]["global"]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
