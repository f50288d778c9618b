"""`python -m bench [--smoke] [--out DIR] [--no-ray]`: run every figure, write JSON, print the table."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch

from bench import constrained_search, earlybird_cost, goals, loop_ratio, packing, sweep_overhead, ticket_speed, trial_speed
from bench.machine import machine_info, machine_tag

RESULTS = Path(__file__).parent / "results"
SECTIONS = ("loop", "trial", "tickets", "earlybird", "constrained_search", "sweep_overhead", "packing")


def run_all(smoke: bool, with_ray: bool = True, out_dir: Path = RESULTS, only: tuple[str, ...] = ()) -> tuple[dict[str, Any], Path]:
    """Every section (or those named in `only`), the goals, and the JSON written to `out_dir`."""
    torch.set_num_threads(1)  # one core per side, as a trial runs; the machine is shared
    began = time.perf_counter()
    info = machine_info()
    figures: dict[str, Any] = {}
    sections: list[tuple[str, Callable[[bool], Any]]] = [
        ("loop", loop_ratio.run), ("trial", trial_speed.run), ("tickets", ticket_speed.run), ("earlybird", earlybird_cost.run),
        ("constrained_search", constrained_search.run),
    ]
    if with_ray:
        sections.append(("sweep_overhead", sweep_overhead.run))
    sections.append(("packing", lambda s: packing.run(s, with_ray)))
    if only:
        sections = [(name, fn) for name, fn in sections if name in only]
    timings = {}
    for name, fn in sections:
        t0 = time.perf_counter()
        figures[name] = fn(smoke)
        timings[name] = time.perf_counter() - t0
    total = time.perf_counter() - began
    report = {
        "machine": info, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "smoke": smoke,
        "section_seconds": timings, "bench_seconds": total, "figures": figures,
        "goals": goals.check(figures, total, smoke or bool(only)),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ("-smoke" if smoke else "") + ("-" + "-".join(only) if only else "")
    name = f"{machine_tag(info)}-{dt.date.today().isoformat()}{suffix}.json"
    path = out_dir / name
    path.write_text(json.dumps(report, indent=2, default=float))
    return report, path


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def table(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"machine: {m['cpu_model']}, {m['cpu_cores']} cores, GPU {m['gpu'] or 'none'}, torch {m['torch']}, "
             f"CUDA {m['cuda']}; load average at start {m['load_average']}", ""]
    lines.append("| goal | target | measured | met | note |")
    lines.append("|---|---|---|---|---|")
    for g in report["goals"]:
        met = "not measured" if g["met"] is None else ("yes" if g["met"] else "**missed**")
        lines.append(f"| {g['goal']} | {g['target']} | {_fmt(g['measured'])} | {met} | {g['note']} |")
    f = report["figures"]
    lines += ["", "| loop case | hand samples/s | project (same batches) | project (device data path) |", "|---|---|---|---|"]
    for r in f.get("loop", []):
        lines.append(f"| {r['case']} | {_fmt(r['hand_samples_per_s'])} | {_fmt(r['ratio_project_vs_hand'])}x | "
                     f"{_fmt(r['ratio_project_data_vs_hand'])}x |")
    lines += ["", "| ticket | batch | prune ratio | FLOPs reduction (r1 / r8) | speed-up (r1 / r8) | efficiency (r1 / r8) |",
              "|---|---|---|---|---|---|"]
    trial_rows = [r for r in f.get("trial", []) if "setting" in r]
    if trial_rows:
        lines += ["", "| whole Early-Bird trial (file-based CIFAR path) | setting | search epoch samples/s | retrain samples/s | "
                  "whole trial samples/s | search vs hand fp32 loop |", "|---|---|---|---|---|---|"]
        for r in trial_rows:
            lines.append(f"| {r['model']} | {r['setting']} | {_fmt(r['search_samples_per_s'])} | {_fmt(r['retrain_samples_per_s'])} | "
                         f"{_fmt(r['trial_samples_per_s'])} | {_fmt(r['search_vs_hand'])}x |")
    for r in f.get("tickets", []):
        lines.append(f"| {r['device']} {r['model']} w{r['width']} | {r['batch']} | {r['prune_ratio']} | "
                     f"{_fmt(r['r1_flops_reduction'])} / {_fmt(r['r8_flops_reduction'])} | {_fmt(r['r1_speedup'])} / "
                     f"{_fmt(r['r8_speedup'])} | {_fmt(r['r1_efficiency'])} / {_fmt(r['r8_efficiency'])} |")
    for r in f.get("earlybird", []):
        lines += ["", f"Early-Bird vs dense+prune+retrain ({r['model']} w{r['width']}, {r['dataset']}, {r['epochs']} epochs): "
                  f"training FLOPs {_fmt(r['train_flops_ratio'])}x, wall time {_fmt(r['wall_time_ratio'])}x, "
                  f"test accuracy {r['accuracy_diff_pts']:+.2f} pts (eb_epoch {r['eb_epoch']})"]
    cs = f.get("constrained_search")
    if cs:
        lines += ["", f"budgets in the sampler ({cs['space']} space, {cs['budget']}, {cs['trials']} trials x {cs['seeds']} seeds; "
                  f"best feasible possible {_fmt(cs['best_feasible_accuracy_possible'])}):",
                  "| sampler | feasible trials (mean) | best feasible val accuracy (mean) |", "|---|---|---|"]
        for name in ("tpe", "tpe_unconstrained", "random"):
            lines.append(f"| {name} | {_fmt(cs[name]['feasible_mean'])} | {cs[name]['best_feasible_accuracy_mean']:.4f} |")
    for r in f.get("sweep_overhead", []):
        lines.append(f"sweep overhead: {_fmt(r['sweep_per_trial_s'])} s per swept trial vs {_fmt(r['run_wall_s'])} s for "
                     f"tickets run ({_fmt(r['overhead_ratio'])}x); training inside the trial {_fmt(r['in_trial_ratio'])}x")
    nodes = f.get("packing", {}).get("ray_nodes", {})
    if "two_vs_one_nodes" in nodes:
        lines.append(f"Ray nodes: 2 vs 1 node {_fmt(nodes['two_vs_one_nodes'])}x trials/hour "
                     f"({_fmt(nodes['one_node_trials_per_hour'])} -> {_fmt(nodes['two_nodes_trials_per_hour'])})")
    lines.append(f"bench wall time: {report['bench_seconds']:.0f} s")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds), for the test suite")
    parser.add_argument("--no-ray", action="store_true", help="skip the sections that start Ray (sweep overhead, nodes)")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the JSON (default bench/results)")
    parser.add_argument("--only", default="", help=f"comma-separated sections to run (default all): {', '.join(SECTIONS)}")
    args = parser.parse_args()
    only = tuple(s for s in args.only.split(",") if s)
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; valid choices: {', '.join(SECTIONS)}")
    report, path = run_all(args.smoke, not args.no_ray, Path(args.out), only)
    print(table(report))
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
