"""`python -m fedcore bench`: the engine's speed and memory figures, measured side by side.

Printed beside their bars (:data:`BARS`); nothing here asserts a timing. Run it on an otherwise
idle machine: other processes on the two cores move the figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BARS = {
    "default_federation_seconds": 30.0,
    "hospital_ms_per_round": 20.0,
    "engine_overhead_ratio": 1.10,
    "fedavg_efficientnet_ms": 100.0,
    "efficientnet_throughput_ratio": 0.9,
    "efficientnet_round_peak_gib": 4.0,
}


def default_federation(workdir: Path) -> dict:
    """Wall time of `python -m fedcore train` (defaults) as a user runs it, and the engine's split.

    engine overhead = round-loop wall time / (sum of pure local fit + evaluate time).
    """
    env = {**os.environ, "FEDCORE_HOME": str(workdir / "home")}
    out = workdir / "default.json"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "fedcore", "train", "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout + proc.stderr)
    data = json.loads(out.read_text())
    result = data["result"]
    final = [m for m in data["metrics"] if m["scope"] == "global"][-1]
    return {
        "default_federation_seconds": wall,
        "engine_overhead_ratio": result["loop_seconds"]
        / (result["fit_seconds"] + result["eval_seconds"]),
        "loop_seconds": result["loop_seconds"],
        "fit_seconds": result["fit_seconds"],
        "eval_seconds": result["eval_seconds"],
        "global_auroc": final["auroc"],
        "global_accuracy": final["accuracy"],
    }


def hospital_slope(
    counts: tuple[int, ...] = (3, 10, 30), rounds: int = 3, repeats: int = 2
) -> dict:
    """What one more hospital costs a round: the slope of round time over hospitals, same images.

    Every embedded training image, split IID among 3, 10 and 30 hospitals (so the images
    trained and evaluated stay the same), every hospital training one epoch a round, the
    default strategy, in this process on one compiled model. Round 1 of each run is left out
    (it starts the run's clocks and stores); the counts alternate, ``repeats`` times, so that
    load hits each alike, and each count's median round time enters a least-squares line.
    """
    from fedcore.config.run_config import RunConfig
    from fedcore.data import load_federation
    from fedcore.model.networks import build_model
    from fedcore.run import engine
    from fedcore.store import RunStore

    built = build_model(RunConfig())
    times: dict[int, list[float]] = {n: [] for n in counts}
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        for _ in range(repeats):
            for n in counts:
                # Every hospital, one epoch: unset, both would follow the hospital count.
                config = RunConfig(
                    hospitals=n, partition="iid", rounds=rounds, fraction_fit=1.0, local_epochs=1
                ).validate()
                result = engine.run(
                    config,
                    store,
                    built=built,
                    federation=load_federation(config),
                    log=lambda _: None,
                )
                times[n].append(
                    float(
                        np.mean([r["seconds"] for r in store.snapshot(result.run_id)["rounds"][1:]])
                    )
                )
    medians = [float(np.median(times[n])) for n in counts]
    return {
        "hospital_ms_per_round": 1000 * float(np.polyfit(counts, medians, 1)[0]),
        "hospital_round_seconds": dict(zip(counts, medians)),
    }


def fedavg_efficientnet(repeats: int = 7) -> dict:
    """FedAvg of three weight sets shaped like EfficientNetV2S + the head (20.4 M parameters)."""
    from fedcore.config.run_config import RunConfig
    from fedcore.model.networks import build_model
    from fedcore.strategies import aggregate

    shapes = [
        w.shape for w in build_model(RunConfig(backbone="efficientnetv2s")).model.get_weights()
    ]
    rng = np.random.default_rng(0)
    sets = [[rng.standard_normal(s, dtype=np.float32) for s in shapes] for _ in range(3)]
    results = list(zip(sets, (1200, 800, 500)))
    aggregate(results)  # warm the allocator
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        aggregate(results)
        times.append(time.perf_counter() - start)
    return {
        "fedavg_efficientnet_ms": 1000 * float(np.median(times)),
        "fedavg_parameters": int(sum(int(np.prod(s)) for s in shapes)),
    }


def efficientnet_throughput(images: int = 256, repeats: int = 2) -> dict:
    """Training images/s of EfficientNetV2S through the engine's hospital step vs a bare model.fit.

    Same compiled model, same images, same class weights, alternated so that load on
    the machine hits both alike. Tracing (about a minute) happens once, before timing.
    """
    import keras

    from fedcore.config.run_config import RunConfig
    from fedcore.data import load_federation, to_model_input
    from fedcore.hospital.batches import class_weights
    from fedcore.hospital.training import Hospital
    from fedcore.model.networks import build_model

    config = RunConfig(backbone="efficientnetv2s", max_per_hospital=images, hospitals=3)
    fed = load_federation(config)
    data = fed.hospitals[0]
    data.train = data.train.take(np.arange(min(images, len(data.train))))
    built = build_model(config)
    hospital = Hospital(data, built, config, 0)
    x, y = to_model_input(data.train.images), keras.utils.to_categorical(data.train.labels, 2)
    weights = class_weights(data.train.labels)
    start_weights = built.initial_weights

    def bare():
        built.model.set_weights(start_weights)
        t = time.perf_counter()
        built.model.fit(
            x,
            y,
            batch_size=config.batch,
            epochs=1,
            class_weight=weights,
            shuffle=True,
            verbose=0,
        )
        return time.perf_counter() - t

    def engine():
        t = time.perf_counter()
        hospital.fit(start_weights, 1)
        return time.perf_counter() - t

    trace_start = time.perf_counter()
    bare()
    trace_seconds = time.perf_counter() - trace_start
    engine()
    bare_times, engine_times = [], []
    for _ in range(repeats):
        bare_times.append(bare())
        engine_times.append(engine())
    n = len(x)
    bare_rate, engine_rate = n / min(bare_times), n / min(engine_times)
    return {
        "efficientnet_throughput_ratio": engine_rate / bare_rate,
        "efficientnet_bare_images_per_s": bare_rate,
        "efficientnet_engine_images_per_s": engine_rate,
        "efficientnet_first_fit_seconds": trace_seconds,
        "efficientnet_images": n,
    }


def efficientnet_round(workdir: Path, images: int = 128) -> dict:
    """Peak memory and throughput of one EfficientNetV2S round as a user runs it.

    The peak is the training process's own (``ru_maxrss``). Evaluation covers every test image
    (each hospital's and the global test set) whatever the training cap.
    """
    from fedcore.server.fit_facts import hospitals_only

    out = workdir / "efficientnet.json"
    code = (
        "import resource, sys; from fedcore.cli import main; code = main(sys.argv[1:]); "
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
    )
    args = [
        "--home",
        str(workdir / "effnet-home"),
        "train",
        "--backbone",
        "efficientnetv2s",
        "--rounds",
        "1",
        "--max-per-hospital",
        str(images),
        "--json",
        str(out),
    ]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    peak_kb = int(proc.stdout.rsplit("PEAK_KB", 1)[1].split()[0])
    data = json.loads(out.read_text())
    result, fit = data["result"], data["rounds"][0]["fit"]
    trained = sum(v["num_examples"] for v in hospitals_only(fit).values())
    summary = data["run"]["data_summary"]
    evaluated = sum(sum(h["test"].values()) for h in summary["hospitals"].values()) + sum(
        summary["global_test"].values()
    )
    return {
        "efficientnet_round_peak_gib": peak_kb / 2**20,
        "efficientnet_train_images_per_s": trained / result["fit_seconds"],
        "efficientnet_eval_images_per_s": evaluated / result["eval_seconds"],
        "efficientnet_round_images": (trained, evaluated),
    }


def folder_memory(workdir: Path) -> dict:
    """Peak memory of loading 16 vs 160 full-resolution radiographs: it should barely grow."""
    from fedcore.data import SAMPLES_DIR

    def tree(copies: int) -> Path:
        root = workdir / f"tree{copies}"
        for split in ("train", "val", "test"):
            for cls in ("NORMAL", "PNEUMONIA"):
                folder = root / "HOSPITAL" / "hospital_1" / split / cls
                folder.mkdir(parents=True)
                for k in range(copies if split == "train" else 1):
                    for src in (SAMPLES_DIR / cls).iterdir():
                        shutil.copy(src, folder / f"{k}_{src.name}")
        shutil.copytree(root / "HOSPITAL" / "hospital_1" / "test", root / "GLOBAL_TEST_DATASET")
        return root

    code = (
        "import resource,sys; from fedcore.data import federation_from_folders; "
        "f=federation_from_folders(sys.argv[1], 100); "
        "print(len(f.hospitals[0].train), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    peaks = {}
    for copies in (1, 10):
        out = subprocess.run(
            [sys.executable, "-c", code, str(tree(copies))],
            capture_output=True,
            text=True,
            check=True,
        )
        n, rss_kb = out.stdout.split()
        peaks[int(n)] = int(rss_kb) / 1024
    (small, small_mb), (large, large_mb) = sorted(peaks.items())
    return {
        "folder_images_small": small,
        "folder_images_large": large,
        "folder_peak_mb_small": small_mb,
        "folder_peak_mb_large": large_mb,
        "folder_peak_ratio": large_mb / small_mb,
    }


def main(quick: bool = False, home: str | None = None) -> int:
    """Measure and print every figure; ``quick`` skips the EfficientNetV2S throughput."""
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # First, while this process is small: a child's peak-memory count starts from its parent's.
        print("measuring folder-loading memory ...", flush=True)
        figures |= folder_memory(work)
        print("measuring the default federation (python -m fedcore train) ...", flush=True)
        figures |= default_federation(work)
        print(
            "measuring what one more hospital costs a round (3, 10, 30 hospitals, same images) ...",
            flush=True,
        )
        figures |= hospital_slope()
        print("measuring FedAvg on EfficientNetV2S-sized weights ...", flush=True)
        figures |= fedavg_efficientnet()
        if not quick:
            print(
                "measuring EfficientNetV2S throughput, engine vs bare model.fit "
                "(traces for ~1 min) ...",
                flush=True,
            )
            figures |= efficientnet_throughput()
            print(
                "measuring one EfficientNetV2S round's peak memory and throughput "
                "(python -m fedcore train) ...",
                flush=True,
            )
            figures |= efficientnet_round(work)
    print()
    print(format_figures(figures))
    return 0


def format_figures(f: dict) -> str:
    """The figures as a table beside their bars."""
    rows = [
        (
            "default 10-round federation, wall (s)",
            f["default_federation_seconds"],
            "<= 30",
            f["default_federation_seconds"] <= BARS["default_federation_seconds"],
        ),
        (
            "  its global AUROC / accuracy",
            f"{f['global_auroc']:.4f} / {f['global_accuracy']:.4f}",
            ">= 0.95 / 0.85",
            f["global_auroc"] >= 0.95 and f["global_accuracy"] >= 0.85,
        ),
        (
            "one more hospital, per round (ms; slope at fixed data)",
            f["hospital_ms_per_round"],
            "<= 20",
            f["hospital_ms_per_round"] <= BARS["hospital_ms_per_round"],
        ),
        (
            "  round seconds at "
            + " / ".join(f"{n}" for n in f["hospital_round_seconds"])
            + " hospitals",
            " / ".join(f"{v:.2f}" for v in f["hospital_round_seconds"].values()),
            "",
            None,
        ),
        (
            "engine wall / (local fit + evaluate)",
            f["engine_overhead_ratio"],
            "<= 1.10",
            f["engine_overhead_ratio"] <= BARS["engine_overhead_ratio"],
        ),
        (
            f"FedAvg of 3 x {f['fedavg_parameters'] / 1e6:.1f} M parameters (ms)",
            f["fedavg_efficientnet_ms"],
            "<= 100",
            f["fedavg_efficientnet_ms"] <= BARS["fedavg_efficientnet_ms"],
        ),
        (
            f"peak memory loading {f['folder_images_large']} vs {f['folder_images_small']} "
            "radiographs (ratio)",
            f["folder_peak_ratio"],
            f"{f['folder_peak_mb_large']:.0f} vs {f['folder_peak_mb_small']:.0f} MB",
            None,
        ),
    ]
    if "efficientnet_throughput_ratio" in f:
        rows.append(
            (
                "EfficientNetV2S images/s, engine / bare model.fit",
                f["efficientnet_throughput_ratio"],
                ">= 0.9",
                f["efficientnet_throughput_ratio"] >= BARS["efficientnet_throughput_ratio"],
            )
        )
        rows.append(
            (
                "  engine / bare images/s",
                f"{f['efficientnet_engine_images_per_s']:.1f} / "
                f"{f['efficientnet_bare_images_per_s']:.1f}",
                f"first fit {f['efficientnet_first_fit_seconds']:.0f} s",
                None,
            )
        )
    if "efficientnet_round_peak_gib" in f:
        trained, evaluated = f["efficientnet_round_images"]
        rows.append(
            (
                "EfficientNetV2S 1-round peak memory (GiB)",
                f["efficientnet_round_peak_gib"],
                "<= 4",
                f["efficientnet_round_peak_gib"] <= BARS["efficientnet_round_peak_gib"],
            )
        )
        rows.append(
            (
                f"  images/s: training ({trained}) / evaluation ({evaluated})",
                f"{f['efficientnet_train_images_per_s']:.1f} / "
                f"{f['efficientnet_eval_images_per_s']:.1f}",
                "",
                None,
            )
        )
    lines = [f"{'figure':<58} {'measured':>16}  {'bar':<16} ok"]
    for name, value, bar, ok in rows:
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        lines.append(
            f"{name:<58} {shown:>16}  {bar:<16} {'' if ok is None else ('yes' if ok else 'NO')}"
        )
    return "\n".join(lines)
