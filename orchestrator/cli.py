"""The `tickets` command line: sweep, run, list, resume, analyze.

Every project error becomes one line on stderr and exit code 2, before anything is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from collections.abc import Sequence

from lottery.errors import TicketsError

EXIT_USAGE = 2


def _add_config_args(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    parser.add_argument("config", nargs="?" if optional else None, help="YAML preset, e.g. configs/demo.yaml")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=5 --set method.prune_ratio=0.3 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickets", description="Find lottery tickets as tracked, comparable sweeps.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sweep = sub.add_parser("sweep", help="run a sweep (Ray Tune + Optuna), recorded in MLflow and Parquet")
    _add_config_args(sweep, optional=True)
    sweep.add_argument("--name", help="sweep name (default: sweep.name of the config)")
    sweep.add_argument("--extend", metavar="NAME",
                       help="add trials to the finished sweep NAME (no CONFIG): --extend NAME --set sweep.num_trials=N; "
                            "its Optuna study continues")
    sweep.add_argument("--address", help="join a running Ray cluster (an address or 'auto'); default: start a local Ray")
    sweep.add_argument("--verbose", action="store_true", help="show Ray Tune's own progress tables instead of one line per trial event")

    run = sub.add_parser("run", help="run one experiment in-process without Ray (for debugging)")
    _add_config_args(run)
    run.add_argument("--name", default="runs", help="results subfolder / MLflow experiment (default: runs)")

    sub.add_parser("list", help="list registered methods, models, datasets and search spaces")

    resume = sub.add_parser("resume", help="finish an interrupted sweep (restores the Ray Tune experiment)")
    resume.add_argument("name", help="the sweep's name")
    resume.add_argument("--results-dir", default="results", help="results folder (default: results)")
    resume.add_argument("--address", help="join a running Ray cluster; default: start a local Ray")

    claims = sub.add_parser("claims", help="check the papers' headline claims on finished sweeps (mean, 95%% interval over seeds)")
    claims.add_argument("results", nargs="+", help="sweep folders or results folders (e.g. the configs/claims-*.yaml sweeps)")

    analyze = sub.add_parser("analyze", help="compare sweeps: fronts per method with hypervolume and seeds, budgets, a report page")
    analyze.add_argument("results", nargs="+", help="sweep folders (results/NAME) or results folders holding sweeps")
    analyze.add_argument("--x", default="sparse_flops", help="cost axis: flops, sparse_flops, params, latency, train_flops (default: sparse_flops)")
    analyze.add_argument("--y", default="val_accuracy",
                         help="accuracy axis: val_accuracy, test_accuracy, robust_accuracy, transfer_accuracy (default: val_accuracy)")
    analyze.add_argument("--by", default="method", help="columns whose values get their own hypervolume, comma-separated (default: method)")
    analyze.add_argument("--budget", action="append", default=[], metavar="COLUMN<=X",
                         help="report the best configuration under this budget, e.g. --budget 'flops<=2e6' "
                              "(quoted: < is a shell redirect; repeatable)")
    analyze.add_argument("--out", help="report folder (default: the sweep's report/ folder, or report/ in the first folder given)")
    analyze.add_argument("--full", action="store_true", help="print every column of the tables (default: what fits 120 columns)")
    analyze.add_argument("--fidelity",
                         help="compare only rows with this train.epochs; 'each': every budget separately; 'all': mix them (default: refuse to mix)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except TicketsError as err:
        print(f"tickets: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def cmd_sweep(args: argparse.Namespace) -> int:
    from orchestrator.commands import sweep_command

    return sweep_command(args.config, args.overrides, args.name, args.address, args.verbose, args.extend)


def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator.commands import run_command

    return run_command(args.config, args.overrides, args.name)


def cmd_list(args: argparse.Namespace) -> int:
    from orchestrator.commands import list_command

    return list_command()


def cmd_resume(args: argparse.Namespace) -> int:
    from orchestrator.commands import resume_command

    return resume_command(args.name, Path(args.results_dir), args.address)


def cmd_analyze(args: argparse.Namespace) -> int:
    from orchestrator.commands import analyze_command

    return analyze_command([Path(p) for p in args.results], x=args.x, y=args.y, by=args.by, budgets=args.budget,
                           out=Path(args.out) if args.out else None, fidelity=args.fidelity, full=args.full)


def cmd_claims(args: argparse.Namespace) -> int:
    from orchestrator.commands import claims_command

    return claims_command([Path(p) for p in args.results])


COMMANDS = {"sweep": cmd_sweep, "run": cmd_run, "list": cmd_list, "resume": cmd_resume, "analyze": cmd_analyze,
            "claims": cmd_claims}

if __name__ == "__main__":
    sys.exit(main())
