"""Train: configure and start a run (a child process), then watch it learn, stop it or resume it."""

import streamlit as st

from dashboard import data, estimate, live_view
from dashboard.first_open import offer_default_run
from fedcore import launch
from fedcore.config import DEFAULT_IMAGE_SIZE, EMBEDDED, RunConfig
from fedcore.errors import FedXrayError

MODELS = {"cnn": "Small CNN (fast on a CPU)", "efficientnetv2s": "EfficientNetV2-S (the original design)",
          "mobilenetv3small": "MobileNetV3-Small"}
d = RunConfig()
store = data.store()
runs = data.runs()
active = launch.active_run(store)

st.title("Train a federation")

# ---------------------------------------------------------------- the run configuration
with st.expander("New run", expanded=active is None, icon=":material/tune:"):
    keep = {"persist_state": "session"}
    a, b, c, e = st.columns(4)
    mode = a.segmented_control("Mode", ("federated", "centralized", "local"), default=d.mode, required=True,
                               key="f_mode", help="centralized pools every image (the upper reference); "
                               "local trains each hospital alone", **keep)
    rounds = b.number_input("Rounds", 1, 500, d.rounds, key="f_rounds", **keep)
    local_epochs = c.number_input("Local epochs per round", 1, 50, d.local_epochs, key="f_epochs", **keep)
    seed = e.number_input("Seed", 0, 2**31 - 1, d.seed, key="f_seed", **keep)

    a, b, c = st.columns([2, 1, 1])
    backbone = a.selectbox("Model", list(MODELS), key="f_backbone", format_func=lambda m: f"{m} · {MODELS[m]}", **keep)
    sizes = [None, 28, 32, 64, 96, 100, 128, 160, 224]
    image_size = b.selectbox("Image size", sizes, key="f_size", format_func=lambda s: (
        f"model default ({DEFAULT_IMAGE_SIZE[backbone]} px)" if s is None else f"{s} px"), **keep)
    cap = c.number_input("Max training images per hospital", 0, 100_000, 0, step=50, key="f_cap",
                         help="0 = all; a small cap gives a quick look", **keep)

    source = st.radio("Data", ("Embedded PneumoniaMNIST", "My folder or .npz"), horizontal=True, key="f_source", **keep)
    if source == "My folder or .npz":
        folder = st.text_input("Data folder or .npz path", key="f_folder", placeholder="/data/fedxray  (ROOT/HOSPITAL/"
                               "hospital_k/{train,val,test}/{NORMAL,PNEUMONIA} and ROOT/GLOBAL_TEST_DATASET)", **keep)
        hospitals, partition, alpha = d.hospitals, d.partition, d.alpha
    else:
        folder = EMBEDDED
        a, b, c = st.columns(3)
        hospitals = a.number_input("Hospitals", 1, 10, d.hospitals, key="f_hospitals", **keep)
        partition = b.segmented_control("Partition", ("dirichlet", "iid"), default=d.partition, required=True,
                                        key="f_partition", help="dirichlet: non-IID by label, unequal sizes", **keep)
        alpha = c.slider("Dirichlet α (smaller = more skewed)", 0.05, 5.0, d.alpha, 0.05, key="f_alpha",
                         disabled=partition != "dirichlet", **keep)

    advanced, private = st.columns([1, 8])
    with advanced.popover("Advanced", icon=":material/settings:"):
        batch_size = st.number_input("Batch size", 1, 1024, d.batch_size, key="f_batch", **keep)
        learning_rate = st.number_input("Learning rate (0 = model default)", 0.0, 1.0, 0.0, format="%.5f",
                                        key="f_lr", **keep)
        threshold = st.slider("Decision threshold P(pneumonia)", 0.05, 0.95, d.threshold, 0.01, key="f_thr", **keep)
        weights = st.selectbox("Initial weights", ("random", "imagenet"), key="f_weights",
                               help="imagenet downloads once; offline it falls back to random with a notice", **keep)
        class_weighting = st.toggle("Class weighting", d.class_weighting, key="f_cw", **keep)
        shift = st.toggle("Acquisition shift (each hospital its own scanner look)", False, key="f_shift", **keep)
    with private.popover("Privacy", icon=":material/shield_lock:"):
        dp = st.segmented_control("Differential privacy", ("off", "patient", "hospital"), default=d.dp,
                                  required=True, key="f_dp", help="patient: DP-SGD at each hospital (cnn only; "
                                  "use batch size 1024); hospital: noise on the shared updates", **keep)
        target = st.number_input("Target ε after all rounds (0 = set the noise instead)", 0.0, 100.0, 8.0, 0.5,
                                 key="f_eps", disabled=dp == "off", **keep)
        sigma = st.number_input("Noise multiplier σ", 0.01, 100.0, d.dp_noise_multiplier, key="f_sigma",
                                disabled=dp == "off" or target > 0, **keep)
        clip = st.number_input("Clipping norm C", 0.001, 100.0, d.dp_clip_norm, key="f_clip",
                               disabled=dp == "off", **keep)
        delta = st.number_input("δ", 1e-9, 0.1, d.dp_delta, format="%.0e", key="f_delta", disabled=dp == "off", **keep)
        audit_every = st.number_input("Membership audit every N rounds (0 = off)", 0, 100, d.audit_every,
                                      key="f_audit", **keep)

    federation = data.default_federation()
    train_counts = [sum(h["train"].values()) for h in federation["hospitals"].values()]
    n_train = sum(train_counts) if not cap else min(sum(train_counts), cap * hospitals)
    n_eval = sum(sum(h["test"].values()) for h in federation["hospitals"].values()) + sum(
        federation["global_test"].values())
    size = image_size or DEFAULT_IMAGE_SIZE[backbone]
    measured = next((estimate.per_image_ms(data.snapshot(r)) for r in runs if r["rounds_done"]
                     and r["config"]["backbone"] == backbone
                     and (r["config"]["image_size"] or DEFAULT_IMAGE_SIZE[backbone]) == size), None)
    per_round = estimate.round_seconds(backbone, image_size, n_train, n_eval, local_epochs, measured)
    st.caption(f":material/timer: About **{estimate.format_seconds(per_round)} per round** on this machine, "
               f"{estimate.format_seconds(per_round * rounds)} for {rounds} rounds "
               f"({'measured in an earlier run' if measured else 'from reference timings'}; "
               f"{n_train:,} training images{'' if folder == EMBEDDED else ' in the embedded data'}).")

    start = st.button("Start training", type="primary", icon=":material/play_arrow:")
    if start:
        try:
            config = RunConfig(
                rounds=int(rounds), local_epochs=int(local_epochs), hospitals=int(hospitals), backbone=backbone,
                weights=weights, image_size=image_size, data=folder, partition=partition, alpha=float(alpha),
                acquisition_shift=shift, max_per_hospital=int(cap) or None, batch_size=int(batch_size),
                learning_rate=float(learning_rate) or None, class_weighting=class_weighting,
                threshold=float(threshold), mode=mode, seed=int(seed), dp=dp, dp_noise_multiplier=float(sigma),
                dp_clip_norm=float(clip), dp_delta=float(delta), dp_target_epsilon=float(target) or None,
                audit_every=int(audit_every))
            st.session_state[data.RUN_KEY] = launch.start(config, store)
            st.rerun()
        except FedXrayError as exc:
            st.error(f"Not started: {exc}", icon=":material/block:")

# ---------------------------------------------------------------- the live view
chosen = st.session_state.get(data.RUN_KEY)
shown = active or next((r for r in runs if r["id"] == chosen), None) or (runs[0] if runs else None)
if shown is None:
    offer_default_run("Your runs appear here: progress round by round (which hospital is training, the time "
                      "left), then the global and per-hospital accuracy, AUROC, loss, sensitivity, specificity "
                      "and F1 as curves that grow by one round at a time. Pick settings above and press **Start "
                      "training**, or start the default federation in one click.", key="first_open_train")
    st.stop()
live_view.show(shown["id"])
