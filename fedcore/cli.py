"""`python -m fedcore`: train, runs, report, diagnose, audit, compare, bench, export-hospitals.

Defaults come from fedcore.config.RunConfig; this module only maps flags onto it.
Errors a user can cause print one line starting with 'error:' and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from fedcore.config import BACKBONES, DP_MODES, LR_SCHEDULES, MODES, PARTITIONS, STRATEGIES, RunConfig
from fedcore.errors import FedXrayError

EXIT_USER_ERROR = 2
EXIT_STOPPED = 3


def _config_flags(parser: argparse.ArgumentParser) -> None:
    d = RunConfig()
    parser.add_argument("--rounds", type=int, default=d.rounds, help=f"federated rounds (default {d.rounds})")
    parser.add_argument("--local-epochs", type=int, default=d.local_epochs,
                        help=f"epochs each hospital trains per round (default {d.local_epochs})")
    parser.add_argument("--hospitals", type=int, default=d.hospitals,
                        help=f"hospitals made from the embedded data or an .npz (default {d.hospitals})")
    parser.add_argument("--backbone", choices=BACKBONES, default=d.backbone, help=f"model (default {d.backbone})")
    parser.add_argument("--weights", default=d.weights,
                        help="random, imagenet (falls back to random offline) or a local .weights.h5 path")
    parser.add_argument("--image-size", type=int, default=None,
                        help="model input side in pixels (default: 28 cnn, 100 efficientnetv2s, 96 mobilenetv3small)")
    parser.add_argument("--data", default=d.data,
                        help="'embedded' (PneumoniaMNIST), a folder in the ROOT/HOSPITAL/hospital_k layout, or a .npz")
    parser.add_argument("--partition", choices=PARTITIONS, default=d.partition,
                        help=f"how the embedded data is split (default {d.partition})")
    parser.add_argument("--alpha", type=float, default=d.alpha, help=f"Dirichlet alpha (default {d.alpha})")
    parser.add_argument("--acquisition-shift", action="store_true", help="give each hospital its own scanner look")
    parser.add_argument("--max-per-hospital", type=int, default=None, help="cap on training images per hospital")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help=f"local batch size (default {d.batch_size})")
    parser.add_argument("--learning-rate", type=float, default=None, help="Adam learning rate (default 1e-3 cnn, 1e-4 others)")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                        help=f"clients' learning rate over the rounds (default {d.lr_schedule}: decays to a tenth)")
    parser.add_argument("--no-class-weighting", dest="class_weighting", action="store_false",
                        help="train without per-hospital class weights")
    parser.add_argument("--threshold", type=float, default=d.threshold, help="P(pneumonia) decision threshold")
    parser.add_argument("--mode", choices=MODES, default=d.mode, help=f"(default {d.mode})")
    parser.add_argument("--strategy", choices=STRATEGIES, default=d.strategy, help=f"(default {d.strategy})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"(default {d.seed})")
    privacy = parser.add_argument_group("differential privacy (docs/privacy.md)")
    privacy.add_argument("--dp", choices=DP_MODES, default=d.dp,
                         help="patient: DP-SGD at each hospital; hospital: clipped updates, noise on the aggregate "
                              f"(default {d.dp})")
    privacy.add_argument("--dp-noise-multiplier", type=float, default=d.dp_noise_multiplier,
                         help=f"sigma, noise std over the clipping norm (default {d.dp_noise_multiplier})")
    privacy.add_argument("--dp-clip-norm", type=float, default=d.dp_clip_norm,
                         help=f"C, L2 bound per example gradient or per hospital update (default {d.dp_clip_norm})")
    privacy.add_argument("--dp-delta", type=float, default=d.dp_delta, help=f"delta (default {d.dp_delta:g})")
    privacy.add_argument("--dp-target-epsilon", type=float, default=None,
                         help="solve sigma so that epsilon after all rounds is at most this (overrides "
                              "--dp-noise-multiplier)")
    privacy.add_argument("--audit-every", type=int, default=d.audit_every,
                         help="membership-inference audit every N rounds (default 0: only `audit RUN`)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig the flags describe."""
    return RunConfig(
        rounds=args.rounds, local_epochs=args.local_epochs, hospitals=args.hospitals, backbone=args.backbone,
        weights=args.weights, image_size=args.image_size, data=args.data, partition=args.partition,
        alpha=args.alpha, acquisition_shift=args.acquisition_shift, max_per_hospital=args.max_per_hospital,
        batch_size=args.batch_size, learning_rate=args.learning_rate, lr_schedule=args.lr_schedule,
        class_weighting=args.class_weighting,
        threshold=args.threshold, mode=args.mode, strategy=args.strategy, seed=args.seed,
        dp=args.dp, dp_noise_multiplier=args.dp_noise_multiplier, dp_clip_norm=args.dp_clip_norm,
        dp_delta=args.dp_delta, dp_target_epsilon=args.dp_target_epsilon, audit_every=args.audit_every,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fedcore", description="FedXray federated pneumonia engine")
    parser.add_argument("--home", default=None, help="run store folder (default $FEDCORE_HOME or ./runs)")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a federation and print Tables 1 and 2")
    _config_flags(train)
    train.add_argument("--resume", metavar="RUN", help="continue a stopped or failed run from its last round")
    train.add_argument("--run-id", help=argparse.SUPPRESS)  # a row the dashboard created beforehand
    train.add_argument("--json", metavar="PATH", help="write the full result (config, every round, tables) here")

    sub.add_parser("runs", help="list the runs in the store")

    report = sub.add_parser("report", help="Tables 1 and 2 of a run")
    report.add_argument("run", help="run id (see `runs`)")
    report.add_argument("--round", default="last", help="'last', 'best' or a round number")
    report.add_argument("--csv", metavar="PREFIX", help="also write PREFIX_table1.csv and PREFIX_table2.csv")

    diagnose = sub.add_parser("diagnose", help="probability of pneumonia for one image")
    diagnose.add_argument("image", help="PNG, JPEG or DICOM file")
    diagnose.add_argument("--run", help="run id (default: the newest run with a completed round)")
    diagnose.add_argument("--checkpoint", choices=("best", "last"), default="best")

    audit = sub.add_parser("audit", help="membership-inference audit of a run's model, per hospital")
    audit.add_argument("run", help="run id (see `runs`)")
    audit.add_argument("--checkpoint", choices=("last", "best"), default="last")

    compare = sub.add_parser("compare", help="federated vs centralized vs local on the same split")
    _config_flags(compare)

    export = sub.add_parser("export-hospitals",
                            help="write a federation as one .npz per hospital plus global_test.npz (for Flower nodes)")
    _config_flags(export)
    export.add_argument("--out", required=True, help="folder to write (one file per SuperNode, one for the server)")

    bench = sub.add_parser("bench", help="speed figures, measured side by side")
    bench.add_argument("--quick", action="store_true", help="skip the EfficientNetV2S throughput figure (minutes)")
    return parser


def main(argv: list[str] | None = None) -> int:
    # A file name that is not UTF-8 (kept by Python as lone surrogates) must print, not raise.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except FedXrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


def _store(args):
    from fedcore.store import RunStore
    return RunStore(args.home)


def cmd_train(args) -> int:
    if args.json:
        _check_output_file(args.json)
    from fedcore import engine, report

    store = _store(args)
    stop = engine.StopSignal()
    signal.signal(signal.SIGINT, stop.set)
    signal.signal(signal.SIGTERM, stop.set)
    # --run-id fills a row whose config the caller (the dashboard) already stored.
    config = None if args.resume or args.run_id else config_from_args(args).validate()
    result = engine.run(config, store, resume=args.resume, stop=stop, run_id=args.run_id,
                        log=lambda line: print(line, flush=True))
    snapshot = store.snapshot(result.run_id)
    if result.rounds_done:
        print()
        print(report.text_report(snapshot))
    if args.json:
        _write_json(args.json, snapshot, result)
    if result.status == "failed":
        return 1
    return EXIT_STOPPED if result.status == "stopped" else 0


def _check_output_file(path: str) -> None:
    """Refuse an output path that cannot be written, before anything runs (the result would be lost)."""
    target = Path(path)
    if target.is_dir():
        raise FedXrayError(f"{target} is a folder: give a file path for the output, e.g. {target / 'result.json'}")
    folder = target.parent
    if not folder.is_dir():
        raise FedXrayError(f"cannot write {target}: the folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise FedXrayError(f"cannot write {target}: permission denied (choose another path)")


def _write_json(path: str, snapshot: dict, result) -> None:
    out = {"result": {k: v for k, v in vars(result).items()}, **snapshot}
    try:
        Path(path).write_text(json.dumps(out, indent=1, default=str, allow_nan=True))
    except OSError as exc:
        raise FedXrayError(f"cannot write {path} ({exc.strerror or exc}): the run is kept in the store; "
                           "`python -m fedcore report` shows it") from exc


def cmd_runs(args) -> int:
    store = _store(args)
    runs = store.list_runs()
    for problem in store.unreadable:
        print(f"warning: {problem}", file=sys.stderr)
    if not runs:
        print("no runs yet: `python -m fedcore train` starts one")
        return 0
    print(f"{'run':<22} {'status':<9} {'mode':<12} {'model':<17} {'rounds':>7}  {'best':>4}")
    for r in runs:
        c = r["config"]
        print(f"{r['id']:<22} {r['status']:<9} {r['mode']:<12} {c.get('backbone', '?'):<17} "
              f"{r['rounds_done']:>3}/{r['rounds_total']:<3}  {r['best_round'] or '-':>4}"
              + (f"  {r['error']}" if r["error"] else ""))
    return 0


def cmd_report(args) -> int:
    from fedcore import report

    which = _round_choice(args.round)
    if args.csv:
        for table in ("table1", "table2"):
            _check_output_file(f"{args.csv}_{table}.csv")
    snapshot = _store(args).snapshot(args.run)
    print(report.text_report(snapshot, which))
    if args.csv:
        try:
            report.table1(snapshot, which).to_csv(f"{args.csv}_table1.csv")
            report.table2(snapshot, which).to_csv(f"{args.csv}_table2.csv")
        except OSError as exc:
            raise FedXrayError(f"cannot write {args.csv}_table*.csv ({exc.strerror or exc})") from exc
        print(f"wrote {args.csv}_table1.csv and {args.csv}_table2.csv")
    return 0


def _round_choice(value: str) -> str | int:
    """``report --round``: 'last', 'best' or a round number from 1."""
    if value in ("last", "best"):
        return value
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise FedXrayError(f"--round must be 'last', 'best' or a round number such as 3 (got '{value}')")


def cmd_diagnose(args) -> int:
    from fedcore import diagnosis

    from fedcore.images import MAX_FILE_BYTES, read_file

    path = Path(args.image)
    if not path.is_file():
        raise FedXrayError(f"{path} is not a file")
    data = read_file(path)
    loaded = diagnosis.load_run_model(_store(args), args.run, args.checkpoint)
    result = diagnosis.diagnose(loaded, data, str(path), with_heatmap=False, max_bytes=MAX_FILE_BYTES)
    auroc = loaded.test_metrics.get("auroc")
    print(f"P(pneumonia) = {result.probability:.4f}  ->  {result.label} (threshold {result.threshold})")
    print(f"model: run {loaded.run_id}, round {loaded.server_round} ({loaded.checkpoint}), "
          f"{loaded.config.backbone}" + (f", global test AUROC {auroc:.3f}" if auroc is not None else ""))
    print(diagnosis.DISCLAIMER)
    return 0


def cmd_audit(args) -> int:
    from fedcore import audit

    server_round, results = audit.audit_run(_store(args), args.run, args.checkpoint)
    print(audit.format_results(results))
    print("Loss-threshold attack, training images (members) vs the same hospital's validation images "
          "(non-members): AUROC 0.5 and advantage 0 mean the attacker does no better than chance.")
    return 0


def cmd_compare(args) -> int:
    from fedcore import baselines

    table = baselines.compare(config_from_args(args).validate(), _store(args), log=lambda s: print(s, flush=True))
    print()
    print(baselines.format_comparison(table))
    return 0


def cmd_export_hospitals(args) -> int:
    from fedcore.site_data import export_sites

    for name, path in export_sites(config_from_args(args), args.out).items():
        print(f"{name}: {path}")
    return 0


def cmd_bench(args) -> int:
    from fedcore import bench

    return bench.main(quick=args.quick, home=args.home)


COMMANDS = {"train": cmd_train, "runs": cmd_runs, "report": cmd_report, "diagnose": cmd_diagnose,
            "audit": cmd_audit, "compare": cmd_compare, "bench": cmd_bench, "export-hospitals": cmd_export_hospitals}
