"""The Train page's "New run" form, drawn from the run settings' declarations
(fedcore.config.settings).

The main settings have a hand-made layout; every widget takes its default, choices,
range and help from the setting's declaration, and any declared setting not placed
by hand is drawn under Advanced by its kind, so a new RunConfig field appears here
with no code. Start validates the config and starts it as a child process.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data, estimate
from fedcore.config.run_config import DEFAULT_IMAGE_SIZE, EMBEDDED, RunConfig
from fedcore.config.settings import Setting, settings
from fedcore.errors import FedXrayError
from fedcore.run import launch, serving

MODELS = {
    "cnn": "Small CNN (fast on a CPU)",
    "efficientnetv2s": "EfficientNetV2-S (the original design)",
    "mobilenetv3small": "MobileNetV3-Small",
}
IMAGE_SIZES = [None, 28, 32, 64, 96, 100, 128, 160, 224]
# Settings drawn by hand below, by widget key (the page tests use these keys).
PLACED = {
    "mode": "f_mode",
    "rounds": "f_rounds",
    "local_epochs": "f_epochs",
    "seed": "f_seed",
    "backbone": "f_backbone",
    "image_size": "f_size",
    "max_per_hospital": "f_cap",
    "data": "f_folder",
    "hospitals": "f_hospitals",
    "partition": "f_partition",
    "alpha": "f_alpha",
    "batch_size": "f_batch",
    "learning_rate": "f_lr",
    "threshold": "f_thr",
    "weights": "f_weights",
    "class_weighting": "f_cw",
    "acquisition_shift": "f_shift",
    "dp": "f_dp",
    "dp_target_epsilon": "f_eps",
    "dp_noise_multiplier": "f_sigma",
    "dp_clip_norm": "f_clip",
    "dp_delta": "f_delta",
    "dp_budget": "f_budget",
    "audit_every": "f_audit",
}
KEEP = {"persist_state": "session"}
# Under Advanced, by hand: what a judge changes (the aggregation rule, a simulated attack); the
# rest of the declared settings sit one step further, under Expert, in plain words.
ADVANCED = ("strategy", "attack", "attackers")
PLAIN_LABELS = {
    "adam_epsilon": "Optimizer epsilon (Adam)",
    "rare_class_share": "Rare-class share of each batch",
    "lr_schedule": "Learning-rate schedule",
    "balanced_softmax": "Correct for each hospital's class balance",
    "target_sensitivity": "Target sensitivity (0 = balance sensitivity and specificity)",
    "fraction_fit": "Share of hospitals that train each round",
    "proximal_mu": "FedProx pull towards the shared model (mu)",
    "server_learning_rate": "Server step size",
    "normalization": "Normalisation after each convolution",
    "server_momentum": "Server momentum",
    "trim_beta": "Trimmed mean: share cut at each end",
    "krum_byzantine": "Krum: attackers to tolerate",
    "krum_select": "Krum: updates kept",
    "attack_scale": "Attack strength",
}


def unplaced(cls: type = RunConfig) -> list[Setting]:
    """The declared settings the hand-made layout does not place: drawn under Advanced."""
    return [s for s in settings(cls) if s.name not in PLACED]


def widget(container, s: Setting, label: str, key: str | None = None, **options):
    """One setting's widget, with its declared default, choices, range and help; returns the config
    value.

    An optional number shows 0 for None ("0 = <what None means>"), and 0 is read back as None;
    ``default`` replaces the declared default in the form.
    """
    key = key or f"f_{s.name}"
    value = options.pop("default", s.default)
    kwargs = {"key": key, "help": options.pop("help", s.help), **KEEP, **options}
    if s.choices is not None:
        return container.selectbox(label, s.choices, index=s.choices.index(s.default), **kwargs)
    if s.kind is bool:
        return container.toggle(label, s.default, **kwargs)
    if s.kind is str:
        return container.text_input(label, s.default, **kwargs)
    low = s.minimum if s.minimum is not None else s.above
    high = s.maximum if s.maximum is not None else s.below
    if s.optional:
        label, low = f"{label} (0 = {s.none})", 0
    low, high = kwargs.pop("min_value", low), kwargs.pop("max_value", high)
    value = value if value is not None else 0
    if s.kind is int:
        got = container.number_input(
            label,
            None if low is None else int(low),
            None if high is None else int(high),
            int(value),
            **kwargs,
        )
        return (int(got) or None) if s.optional else int(got)
    got = container.number_input(
        label,
        None if low is None else float(low),
        None if high is None else float(high),
        float(value),
        **{"format": "%g", **kwargs},
    )
    return (float(got) or None) if s.optional else float(got)


def render(store, runs: list[dict], expanded: bool) -> None:
    """The "New run" expander: the settings, a time estimate, and Start.

    Parameters
    ----------
    store : RunStore
    runs : list of dict
        The store's runs (a past run of the same model and size gives a measured estimate).
    expanded : bool
        Open the form (no run is training).
    """
    with st.expander("New run", expanded=expanded, icon=":material/tune:"):
        values = _settings_widgets()
        config = RunConfig(**values)
        _privacy_check(config)
        _time_estimate(config, runs)
        if st.button("Start training", type="primary", icon=":material/play_arrow:"):
            try:
                # launch.start validates, after the data root check: a path outside the root
                # gets the same answer whatever is there.
                st.session_state[data.RUN_KEY] = launch.start(config, store)
                st.rerun()
            except FedXrayError as exc:
                st.error(f"Not started: {serving.public_text(str(exc))}", icon=":material/block:")


def _settings_widgets() -> dict:
    """Every setting's widget, the main ones laid out by hand; their values by field name."""
    s = {x.name: x for x in settings(RunConfig)}
    v: dict = {}
    a, b, c, e = st.columns(4)
    v["mode"] = a.segmented_control(
        "Mode",
        s["mode"].choices,
        default=s["mode"].default,
        required=True,
        key="f_mode",
        help=s["mode"].help,
        **KEEP,
    )
    v["rounds"] = widget(b, s["rounds"], "Rounds", "f_rounds")
    v["local_epochs"] = widget(c, s["local_epochs"], "Local epochs per round", "f_epochs")
    v["seed"] = widget(e, s["seed"], "Seed", "f_seed")

    a, b, c = st.columns([2, 1, 1])
    v["backbone"] = widget(
        a, s["backbone"], "Model", "f_backbone", format_func=lambda m: f"{m} · {MODELS[m]}"
    )
    v["image_size"] = b.selectbox(
        "Image size",
        IMAGE_SIZES,
        key="f_size",
        help=s["image_size"].help,
        **KEEP,
        format_func=lambda size: (
            f"model default ({DEFAULT_IMAGE_SIZE[v['backbone']]} px)"
            if size is None
            else f"{size} px"
        ),
    )
    v["max_per_hospital"] = widget(
        c, s["max_per_hospital"], "Max training images per hospital", "f_cap", step=50
    )
    v.update(_data_widgets(s))

    advanced, private = st.columns([1, 8])
    with advanced.popover("Advanced", icon=":material/settings:"):
        v["batch_size"] = widget(st, s["batch_size"], "Batch size", "f_batch")
        v["learning_rate"] = widget(st, s["learning_rate"], "Learning rate", "f_lr", format="%.5f")
        v["threshold"] = st.slider(
            "Decision threshold P(pneumonia)",
            0.05,
            0.95,
            s["threshold"].default,
            0.01,
            key="f_thr",
            help=s["threshold"].help,
            **KEEP,
        )
        v["weights"] = st.selectbox(
            "Initial weights",
            ("random", "imagenet"),
            key="f_weights",
            help=s["weights"].help,
            **KEEP,
        )
        for name in ADVANCED:
            v[name] = widget(st, s[name], s[name].words.capitalize())
        with st.expander("Expert", icon=":material/science:"):
            v["class_weighting"] = widget(st, s["class_weighting"], "Class weighting", "f_cw")
            v["acquisition_shift"] = widget(
                st, s["acquisition_shift"], "Scanner differences between hospitals", "f_shift"
            )
            for other in unplaced(RunConfig):
                if other.name not in ADVANCED:
                    label = PLAIN_LABELS.get(other.name, other.words.capitalize())
                    v[other.name] = widget(st, other, label)
    with private.popover("Privacy", icon=":material/shield_lock:"):
        v.update(_privacy_widgets(s))
    return v


def _data_widgets(s: dict[str, Setting]) -> dict:
    source = st.radio(
        "Data",
        ("Embedded PneumoniaMNIST", "My folder or .npz"),
        horizontal=True,
        key="f_source",
        **KEEP,
    )
    if source == "My folder or .npz":
        folder = st.text_input(
            "Data folder or .npz path",
            key="f_folder",
            help=s["data"].help,
            **KEEP,
            placeholder="/data/fedxray  (ROOT/HOSPITAL/hospital_k/{train,val,test}/"
            "{NORMAL,PNEUMONIA} and ROOT/GLOBAL_TEST_DATASET)",
        )
        return {"data": folder}  # a folder brings its own hospitals and split
    a, b, c = st.columns(3)
    partition = b.segmented_control(
        "Partition",
        s["partition"].choices,
        default=s["partition"].default,
        required=True,
        key="f_partition",
        help=s["partition"].help,
        **KEEP,
    )
    return {
        "data": EMBEDDED,
        "hospitals": widget(a, s["hospitals"], "Hospitals", "f_hospitals", max_value=10),
        "partition": partition,
        "alpha": c.slider(
            "Dirichlet α (smaller = more skewed)",
            0.05,
            5.0,
            s["alpha"].default,
            0.05,
            key="f_alpha",
            disabled=partition != "dirichlet",
            help=s["alpha"].help,
            **KEEP,
        ),
    }


# The privacy level the DP defaults were measured to learn at (docs/privacy.md): the form's
# target when privacy is switched on, so the run's label says what it protects.
MEASURED_EPSILON = 8.0


def _privacy_widgets(s: dict[str, Setting]) -> dict:
    dp = st.segmented_control(
        "Differential privacy",
        s["dp"].choices,
        default=s["dp"].default,
        required=True,
        key="f_dp",
        help=s["dp"].help + " (patient: cnn only)",
        **KEEP,
    )
    off = dp == "off"
    target = widget(
        st,
        s["dp_target_epsilon"],
        "Target ε after all rounds",
        "f_eps",
        disabled=off,
        step=0.5,
        default=MEASURED_EPSILON,
    )
    target = None if off else target
    return {
        "dp": dp,
        "dp_target_epsilon": target,
        "dp_noise_multiplier": widget(
            st,
            s["dp_noise_multiplier"],
            "Noise multiplier σ",
            "f_sigma",
            disabled=off or bool(target),
        ),
        "dp_clip_norm": widget(st, s["dp_clip_norm"], "Clipping norm C", "f_clip", disabled=off),
        "dp_delta": widget(st, s["dp_delta"], "δ", "f_delta", disabled=off, format="%.0e"),
        "dp_budget": widget(
            st, s["dp_budget"], "Stop when ε would exceed", "f_budget", disabled=off, step=0.5
        ),
        "audit_every": widget(
            st, s["audit_every"], "Membership audit every N rounds (0 = off)", "f_audit"
        ),
    }


def _privacy_check(config: RunConfig) -> None:
    """With privacy on: the settings it trains with (its defaults unless set), and in words
    why it cannot learn when the predicted noise drowns the signal."""
    if config.dp == "off":
        return
    defaults = config.batch_size is None and config.learning_rate is None
    optimizer = "SGD with momentum" if config.dp == "patient" else "Adam"
    st.caption(
        f":material/shield_lock: Privacy on ({data.privacy_label(config.to_dict())}): trains "
        f"with batch size **{config.batch}**, {optimizer} at learning rate **{config.lr:g}**, "
        f"clipping norm **{config.dp_clip_norm:g}**, **{config.rounds}** rounds"
        + (", group normalisation" if config.norm == "group" else "")
        + (" (the privacy defaults, measured to learn at ε 8)." if defaults else ".")
    )
    for warning in estimate.privacy_warnings(config):
        st.warning(warning, icon=":material/warning:")


def _time_estimate(config: RunConfig, runs: list[dict]) -> None:
    """The caption under the form: about how long a round and the run take here."""
    n_train, n_eval = estimate.images(
        data.default_federation(), config.max_per_hospital, config.hospitals
    )
    match = estimate.comparable_run(runs, config)
    measured = estimate.per_image_ms(data.snapshot(match)) if match else None
    per_round = estimate.round_seconds(
        config.backbone,
        config.image_size,
        round(n_train * config.fraction),
        n_eval,
        config.epochs,
        measured,
        config.dp,
    )
    total = per_round * config.rounds
    if config.dp == "patient" and not measured:
        total += estimate.DP_FIRST_ROUND_SECONDS
    st.caption(
        f":material/timer: About **{estimate.format_seconds(per_round)} per round** on this "
        "machine, "
        f"{estimate.format_seconds(total)} for {config.rounds} rounds "
        f"({'measured in an earlier run' if measured else 'from reference timings'}; "
        f"{n_train:,} training images{'' if config.data == EMBEDDED else ' in the embedded data'})."
    )
