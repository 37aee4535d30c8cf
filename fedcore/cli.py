"""`python -m fedcore`: train, attack-demo, runs, report, diagnose, audit, compare,
export-hospitals, privacy-curve, site, serve, settings, bench.

The run flags, their defaults and their checks come from RunConfig's declared settings
(fedcore.config.flags); this module only wires the commands.
Every command ends in one of four exit statuses: 0 done; 2 bad input (a file, folder or setting,
named in one line starting with 'error:'); 3 a run stopped on request (resumable); 1 a run that
failed or an environment problem (a full disk, memory), also in one line.
"""

from __future__ import annotations

import argparse
import errno
import json
import signal
import sys
from pathlib import Path

from fedcore.config.flags import add_config_flags, config_from_args, given_settings
from fedcore.config.run_config import STRATEGIES, RunConfig
from fedcore.config.settings import settings
from fedcore.errors import FedXrayError
from fedcore.output_files import check_output_file, write_outputs

EXIT_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_STOPPED = 3
# A FedXrayError caused by one of these is the machine's, not the input's: exit status 1.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EIO, errno.EROFS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fedcore", description="FedXray federated pneumonia engine"
    )
    parser.add_argument(
        "--home", default=None, help="run store folder (default $FEDCORE_HOME or ./runs)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a federation and print Tables 1 and 2")
    add_config_flags(train)
    train.add_argument(
        "--resume", metavar="RUN", help="continue a stopped or failed run from its last round"
    )
    train.add_argument("--run-id", help=argparse.SUPPRESS)  # a row the dashboard created beforehand
    train.add_argument(
        "--json", metavar="PATH", help="write the full result (config, every round, tables) here"
    )

    demo = sub.add_parser(
        "attack-demo",
        help="the attacked federation without and then with the defence (10 hospitals, "
        "2 attackers, FedAvg, 10 rounds; about 1.5 minutes on 2 cores)",
    )
    demo.add_argument("--run-id", help=argparse.SUPPRESS)  # the first run, created by the dashboard

    sub.add_parser("runs", help="list the runs in the store")

    report = sub.add_parser("report", help="Tables 1 and 2 of a run")
    report.add_argument("run", help="run id (see `runs`)")
    report.add_argument("--round", default="last", help="'last', 'best' or a round number")
    report.add_argument(
        "--csv",
        metavar="PREFIX",
        help="also write PREFIX_table1.csv, PREFIX_table2.csv (at the run's decision threshold) "
        "and PREFIX_rounds.csv (every round and scope, at its decision and at the fixed "
        "threshold)",
    )
    report.add_argument(
        "--html",
        metavar="FILE",
        help="also write the whole run as one self-contained HTML file (charts inline, opens "
        "offline)",
    )

    diagnose = sub.add_parser("diagnose", help="probability of pneumonia for one image")
    diagnose.add_argument("image", help="PNG, JPEG or DICOM file")
    diagnose.add_argument("--run", help="run id (default: the newest run with a completed round)")
    diagnose.add_argument("--checkpoint", choices=("best", "last"), default="best")

    audit = sub.add_parser(
        "audit", help="membership-inference audit of a run's model, per hospital"
    )
    audit.add_argument("run", help="run id (see `runs`)")
    audit.add_argument("--checkpoint", choices=("last", "best"), default="last")

    compare = sub.add_parser(
        "compare",
        help="federated (one or more strategies) vs centralized vs local on the same split",
    )
    add_config_flags(compare)
    # Here --strategy takes a list (fedavg,fedprox,fedadam): one federated row per strategy.
    strategy = next(a for a in compare._actions if a.dest == "strategy")
    strategy.type, strategy.choices = _strategy_list, None
    strategy.help += " (compare: a comma-separated list)"

    export = sub.add_parser(
        "export-hospitals",
        help="write a federation as one .npz per hospital plus global_test.npz (for Flower nodes)",
    )
    add_config_flags(export)
    export.add_argument(
        "--out", required=True, help="folder to write (one file per SuperNode, one for the server)"
    )

    curve = sub.add_parser(
        "privacy-curve",
        help="train one federation at several privacy budgets and without privacy, and print "
        "AUROC and accuracy against epsilon (points already in the store are reused)",
    )
    add_config_flags(curve)
    curve.add_argument(
        "--like", metavar="RUN", help="the federation of this stored run (its settings but privacy)"
    )
    curve.add_argument(
        "--epsilons", default="1,2,4,8", help="target epsilons, comma-separated (default 1,2,4,8)"
    )
    curve.add_argument(
        "--level", choices=("patient", "hospital"), default="patient", help="what DP protects"
    )

    site = sub.add_parser(
        "site", help="a hospital: check its data, then join a Flower federation (docs/flower.md)"
    )
    site.add_argument(
        "--data", required=True, help="this hospital's folder (train/ val/ test/) or .npz"
    )
    site.add_argument(
        "--superlink", default="127.0.0.1:9093", help="the server's HOST:PORT (default loopback)"
    )
    site.add_argument("--certificates", metavar="DIR", help="folder with the server's ca.pem (TLS)")
    site.add_argument(
        "--partition-id", type=int, default=0, help="this hospital's place in the federation"
    )
    site.add_argument("--name", help="this hospital's name (default the folder or file name)")
    site.add_argument("--auth-key", metavar="FILE", help="private key registered with the server")
    site.add_argument(
        "--runtime-port", type=int, default=9094, help="this machine's port for the executor"
    )

    serve = sub.add_parser("serve", help="the server: a Flower SuperLink for the sites to join")
    serve.add_argument(
        "--global-test", required=True, help="NORMAL/ PNEUMONIA/ folder or global_test.npz"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    serve.add_argument("--port", type=int, default=9093)
    serve.add_argument(
        "--certificates", metavar="DIR", help="folder with ca.pem, server.pem, server.key (TLS)"
    )
    serve.add_argument(
        "--auth", action="store_true", help="admit only SuperNodes whose key is registered"
    )

    listing = sub.add_parser("settings", help="every run setting with its default, range and help")
    listing.add_argument("--markdown", action="store_true", help="as the README's options table")
    listing.add_argument(
        "--flower", action="store_true", help="as pyproject.toml's [tool.flwr.app.config]"
    )

    bench = sub.add_parser("bench", help="speed figures, measured side by side")
    bench.add_argument(
        "--quick", action="store_true", help="skip the EfficientNetV2S throughput figure (minutes)"
    )
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
        cause = exc.__cause__
        environment = isinstance(cause, OSError) and cause.errno in ENVIRONMENT_ERRNOS
        return EXIT_FAILED if environment or isinstance(cause, MemoryError) else EXIT_USER_ERROR
    except MemoryError:
        print(
            "error: out of memory: close other programs or use a smaller data set", file=sys.stderr
        )
        return EXIT_FAILED


def _store(args):
    from fedcore.store import RunStore

    return RunStore(args.home)


def cmd_train(args) -> int:
    if args.json:
        check_output_file(args.json)
    from fedcore.model.networks import build_model
    from fedcore.model.weights_file import names_weights_file
    from fedcore.run import engine

    store = _store(args)
    stop = engine.StopSignal()
    signal.signal(signal.SIGINT, stop.set)
    signal.signal(signal.SIGTERM, stop.set)
    # --run-id fills a row whose config the caller (the dashboard) already stored.
    if args.resume or args.run_id:
        _refuse_typed_settings(args)
        config = None
    else:
        config = config_from_args(args).validate()
    # A --weights file is checked by building the model now: a bad one leaves no failed run.
    built = build_model(config) if config and names_weights_file(config) else None
    result = engine.run(
        config,
        store,
        resume=args.resume,
        stop=stop,
        run_id=args.run_id,
        log=lambda line: print(line, flush=True),
        built=built,
    )
    snapshot = store.snapshot(result.run_id)
    if result.rounds_done:
        print()
        print(report_text(snapshot))
    if args.json:
        _write_json(args.json, snapshot, result)
    if result.status == "failed":
        return EXIT_FAILED
    return EXIT_STOPPED if result.status == "stopped" else 0


def cmd_attack_demo(args) -> int:
    from fedcore.run import attack_demo, engine

    store = _store(args)
    stop = engine.StopSignal()
    signal.signal(signal.SIGINT, stop.set)
    signal.signal(signal.SIGTERM, stop.set)
    first, second = attack_demo.run_pair(
        store, stop, log=lambda line: print(line, flush=True), undefended_id=args.run_id
    )
    print()
    print(
        f"Attack demo: {attack_demo.UNDEFENDED.hospitals} hospitals, seed "
        f"{attack_demo.UNDEFENDED.seed}, FedAvg; global AUROC after the last round"
    )
    for result, words in ((first, "without the defence"), (second, "with drop-flagged")):
        if result is not None and result.rounds_done:
            print("  " + attack_demo.summary_line(store.snapshot(result.run_id), words))
    if second is None and first.status == "finished":
        # Refused (another run started between the two), or stopped between the two.
        refused = attack_demo.pair_of(store.snapshot(first.run_id)["events"]).refused
        if refused:
            print(f"error: {refused}", file=sys.stderr)
        return EXIT_USER_ERROR if refused else EXIT_STOPPED
    last = second or first
    if last.status == "failed":
        return EXIT_FAILED
    return EXIT_STOPPED if last.status == "stopped" else 0


def _refuse_typed_settings(args) -> None:
    """Refuse settings typed with --resume or --run-id: a run keeps the settings it started with.

    Changing one midway (even --rounds: the cosine schedule and a DP target epsilon are
    spread over the planned rounds) would make the run equal no uninterrupted run.
    """
    typed = given_settings(args)
    if typed:
        which = "--resume" if args.resume else "--run-id"
        flags = ", ".join(s.flag for s in settings(RunConfig) if s.name in typed)
        raise FedXrayError(
            f"{which} continues a run with the settings it started with, so {flags} cannot "
            "change it: drop them, or start a new run with the settings you want"
        )


def _write_json(path: str, snapshot: dict, result) -> None:
    out = {"result": {k: v for k, v in vars(result).items()}, **snapshot}
    try:
        write_outputs({path: json.dumps(out, indent=1, default=str, allow_nan=True)})
    except OSError as exc:
        raise FedXrayError(
            f"cannot write {path} ({exc.strerror or exc}): the run is kept in the store; "
            "`python -m fedcore report` shows it"
        ) from exc


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
        print(
            f"{r['id']:<22} {r['status']:<9} {r['mode']:<12} {c.get('backbone', '?'):<17} "
            f"{r['rounds_done']:>3}/{r['rounds_total']:<3}  {r['best_round'] or '-':>4}"
            + (f"  {r['error']}" if r["error"] else "")
        )
    return 0


def cmd_report(args) -> int:
    from fedcore.results import report

    which = _round_choice(args.round)
    if args.csv:
        for table in ("table1", "table2", "rounds"):
            check_output_file(f"{args.csv}_{table}.csv")
    if args.html:
        check_output_file(args.html)
    snapshot = _store(args).snapshot(args.run)
    print(report_text(snapshot, which))
    if args.html:
        _write_html(snapshot, which, args.html)
    if args.csv:
        tables = {
            f"{args.csv}_table1.csv": report.table1(snapshot, which).to_csv(),
            f"{args.csv}_table2.csv": report.table2(snapshot, which).to_csv(),
            f"{args.csv}_rounds.csv": report.every_figure(snapshot).to_csv(index=False),
        }
        try:
            write_outputs(tables)
        except OSError as exc:
            raise FedXrayError(f"cannot write {args.csv}_*.csv ({exc.strerror or exc})") from exc
        print(f"wrote {args.csv}_table1.csv, {args.csv}_table2.csv and {args.csv}_rounds.csv")
    return 0


def report_text(snapshot: dict, which: str | int = "last") -> str:
    """The text report (Tables 1 and 2, fairness, health) with who helped and who was flagged."""
    from fedcore.results import text
    from fedcore.server.who_helped import report_lines

    return text.text_report(snapshot, which, report_lines(snapshot))


def report_page(snapshot: dict, which: str | int = "last") -> str:
    """The run report as one HTML page (``report --html``, the dashboard's Download report): with
    the run's privacy tables and this checkout's commit."""
    import subprocess

    import pandas as pd

    from fedcore.privacy import tables
    from fedcore.results import html_report

    dp = tables.settings(snapshot)
    privacy = {
        "Differential privacy": pd.DataFrame([{k: v for k, v in dp.items() if k != "hospitals"}]),
        "Epsilon by round": tables.epsilon_frame(snapshot),
        "Bytes each hospital sent": tables.bytes_frame(snapshot),
    }
    found = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
    )
    commit = found.stdout.strip() if found.returncode == 0 else "unknown (not a git checkout)"
    return html_report.render(snapshot, which, commit, privacy)


def _write_html(snapshot: dict, which: str | int, path: str) -> None:
    page = report_page(snapshot, which)
    try:
        write_outputs({path: page})
    except OSError as exc:
        raise FedXrayError(f"cannot write {path} ({exc.strerror or exc})") from exc
    print(f"wrote {path} ({len(page.encode()) / 1e6:.2f} MB)")


def _round_choice(value: str) -> str | int:
    """``report --round``: 'last', 'best' or a round number from 1."""
    if value in ("last", "best"):
        return value
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise FedXrayError(
        f"--round must be 'last', 'best' or a round number such as 3 (got '{value}')"
    )


def cmd_diagnose(args) -> int:
    from fedcore.diagnosis import score as diagnosis
    from fedcore.imaging.budget import MAX_FILE_BYTES
    from fedcore.imaging.decode import read_file

    path = Path(args.image)
    if not path.is_file():
        raise FedXrayError(f"{path} is not a file")
    data = read_file(path)
    loaded = diagnosis.load_run_model(_store(args), args.run, args.checkpoint)
    result = diagnosis.diagnose(
        loaded, data, str(path), with_heatmap=False, max_bytes=MAX_FILE_BYTES
    )
    auroc = loaded.test_metrics.get("auroc")
    print(
        f"P(pneumonia) = {result.probability:.4f}  ->  {result.label} (threshold "
        f"{result.threshold})"
    )
    print(
        f"model: run {loaded.run_id}, round {loaded.server_round} ({loaded.checkpoint}), "
        f"{loaded.config.backbone}"
        + (f", global test AUROC {auroc:.3f}" if auroc is not None else "")
    )
    print(diagnosis.DISCLAIMER)
    return 0


def cmd_audit(args) -> int:
    from fedcore.privacy import audit

    server_round, results = audit.audit_run(_store(args), args.run, args.checkpoint)
    print(audit.format_results(results))
    print(
        "Loss-threshold attack, training images (members) vs the same hospital's validation images "
        "(non-members): AUROC 0.5 and advantage 0 mean the attacker does no better than chance."
    )
    return 0


def _strategy_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in STRATEGIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown strategy {', '.join(unknown) or repr(text)}: choose from "
            f"{', '.join(STRATEGIES)}"
        )
    return names


def cmd_compare(args) -> int:
    from fedcore.run import baselines

    strategies = getattr(args, "strategy", None)
    if strategies:
        args.strategy = strategies[0]
    table = baselines.compare(
        config_from_args(args).validate(),
        _store(args),
        log=lambda s: print(s, flush=True),
        strategies=strategies,
    )
    print()
    print(baselines.format_comparison(table))
    return 0


def cmd_privacy_curve(args) -> int:
    from fedcore.privacy.curve import parse_epsilons
    from fedcore.run import engine, privacy_curve

    try:
        epsilons = parse_epsilons(args.epsilons)
    except ValueError as exc:
        raise FedXrayError(f"--epsilons: {exc}") from exc
    store = _store(args)
    if args.like:
        if given_settings(args):
            raise FedXrayError("--like takes the run's settings: drop the other run settings")
        base = RunConfig.from_dict(store.get_run(args.like)["config"])
    else:
        base = config_from_args(args).validate()
    stop = engine.StopSignal()
    signal.signal(signal.SIGINT, stop.set)
    signal.signal(signal.SIGTERM, stop.set)
    ended = privacy_curve.train_curve(
        base, epsilons, args.level, store, stop, log=lambda line: print(line, flush=True)
    )
    print()
    print(privacy_curve.format_table(privacy_curve.stored_curve(store, base, args.level)))
    if ended == "failed":
        return EXIT_FAILED
    return EXIT_STOPPED if ended == "stopped" else 0


def cmd_export_hospitals(args) -> int:
    from fedcore.data.site import export_sites

    for name, path in export_sites(config_from_args(args), args.out).items():
        print(f"{name}: {path}")
    return 0


def cmd_site(args) -> int:
    from fedcore.flower import site_kit

    site_kit.site(
        args.data,
        args.superlink,
        args.certificates,
        args.partition_id,
        args.name,
        args.auth_key,
        args.runtime_port,
    )
    return 0


def cmd_serve(args) -> int:
    from fedcore.flower import superlink

    superlink.serve(args.global_test, args.host, args.port, args.certificates, args.auth, args.home)
    return 0


def cmd_settings(args) -> int:
    from fedcore.config.settings import markdown_table

    if args.markdown:
        print(markdown_table(RunConfig))
        return 0
    if args.flower:
        from fedcore.flower.app_config import app_config_toml

        print(app_config_toml(RunConfig))
        return 0
    for s in settings(RunConfig):
        allowed = "|".join(map(str, s.choices)) if s.choices else s.bounds_text()
        print(f"{s.flag:<24} {s.default_text():<28} {allowed:<32} {s.help}")
    return 0


def cmd_bench(args) -> int:
    from fedcore.run import bench

    return bench.main(quick=args.quick, home=args.home)


COMMANDS = {
    "train": cmd_train,
    "attack-demo": cmd_attack_demo,
    "runs": cmd_runs,
    "report": cmd_report,
    "diagnose": cmd_diagnose,
    "audit": cmd_audit,
    "compare": cmd_compare,
    "bench": cmd_bench,
    "settings": cmd_settings,
    "export-hospitals": cmd_export_hospitals,
    "privacy-curve": cmd_privacy_curve,
    "site": cmd_site,
    "serve": cmd_serve,
}
