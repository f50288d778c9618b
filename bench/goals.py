"""The issue's goals, each checked against the figure measured for it; unmeasurable ones say why."""
from __future__ import annotations

from typing import Any, Optional


def _goal(name: str, target: str, measured: Optional[float], met: Optional[bool], note: str = "") -> dict[str, Any]:
    return {"goal": name, "target": target, "measured": measured, "met": met, "note": note}


NO_GPU = "not measured: no CUDA device on this machine"


def check(figures: dict[str, Any], bench_seconds: float, smoke: bool) -> list[dict[str, Any]]:
    goals = []
    for row in figures.get("loop", []):
        goals.append(_goal(f"loop vs hand-written, {row['case']}", ">= 0.95", row["ratio_project_vs_hand"],
                           row["ratio_project_vs_hand"] >= 0.95))
        if row["device"] == "cuda":
            goals.append(_goal(f"whole data path on device vs hand-written, {row['case']}", ">= 0.90",
                               row["ratio_project_data_vs_hand"], row["ratio_project_data_vs_hand"] >= 0.90))
    if not any(r["device"] == "cuda" for r in figures.get("loop", [])):
        goals.append(_goal("GPU loop and whole-data-path goals", "see issue 11", None, None, NO_GPU))
    trial = [r for r in figures.get("trial", []) if "setting" in r]
    for model in dict.fromkeys(r["model"] for r in trial):
        by_setting = {r["setting"]: r for r in trial if r["model"] == model}
        fp32 = by_setting.get("fp32 eager")
        if fp32 is not None:
            goals.append(_goal(f"whole Early-Bird trial (CIFAR files, eval, hooks) vs hand loop on device data, fp32, {model}",
                               ">= 0.90", fp32["search_vs_hand"], fp32["search_vs_hand"] >= 0.90, "search-phase epochs after the first"))
        need = 70_000 if model == "vgg16" else 28_000
        best_setting, best = max(((k, r["search_samples_per_s"]) for k, r in by_setting.items()), key=lambda kv: kv[1])
        goals.append(_goal(f"whole Early-Bird trial samples/s, best setting, {model} (H100-class, batch 256)", f">= {need:,}", best,
                           best >= need, best_setting))
    if not trial and "trial" in figures:
        goals.append(_goal("whole Early-Bird trial samples/s (70k VGG-16, 28k ResNet-56)", "see issue 11", None, None, NO_GPU))
    for row in figures.get("sweep_overhead", []):
        long_enough = row["run_wall_s"] >= 60
        goals.append(_goal("sweep per-trial time vs tickets run", "<= 1.05 (trials >= 1 min)", row["overhead_ratio"],
                           row["overhead_ratio"] <= 1.05,
                           "" if long_enough else f"trial only {row['run_wall_s']:.0f} s long: start-up weighs more than at 1 min"))
    packing = figures.get("packing", {}).get("gpu_packing", {})
    if "four_vs_one" in packing:
        goals.append(_goal("4 trials per GPU vs 1, trials/hour", ">= 1.3", packing["four_vs_one"], packing["four_vs_one"] >= 1.3))
    else:
        goals.append(_goal("4 trials per GPU vs 1, trials/hour", ">= 1.3", None, None, NO_GPU))
    large = [r for r in figures.get("tickets", []) if r["batch"] > 1]
    minimum: tuple[tuple[str, float], ...] = (("cpu", 0.7), ("cuda", 0.6))
    for dev, floor in minimum:
        rows = [r for r in large if r["device"] == dev and r["model"] in ("vgg11", "vgg16")]
        if not rows:
            goals.append(_goal(f"ticket speed-up / FLOPs reduction, rounded, {dev}", f">= {floor}", None, None, NO_GPU))
            continue
        worst = min(r["r8_efficiency"] for r in rows)
        goals.append(_goal(f"ticket speed-up / FLOPs reduction, rounded to 8, {dev} batch {rows[0]['batch']} (worst of 3 ratios)",
                           f">= {floor}", worst, worst >= floor))
        slowest = max(r["rounded_vs_unrounded_latency"] for r in rows)
        goals.append(_goal(f"rounded ticket latency / unrounded, {dev} (worst of 3 ratios)", "<= 1.0", slowest, slowest <= 1.0,
                           "rounding down also removes a few more channels, so this is not at exactly equal accuracy"))
    cs = figures.get("constrained_search")
    if cs:
        tpe, rnd = cs["tpe"], cs["random"]
        goals.append(_goal("constrained TPE vs random at equal trials: feasible trials (ratio)", "> 1",
                           tpe["feasible_mean"] / max(rnd["feasible_mean"], 1e-9), tpe["feasible_mean"] > rnd["feasible_mean"],
                           f"{cs['trials']} trials x {cs['seeds']} seeds, {cs['budget']}"))
        goals.append(_goal("constrained TPE vs random: best feasible val accuracy (difference)", "> 0",
                           tpe["best_feasible_accuracy_mean"] - rnd["best_feasible_accuracy_mean"],
                           tpe["best_feasible_accuracy_mean"] > rnd["best_feasible_accuracy_mean"], "surrogate objective"))
    goals.append(_goal("make bench wall time on 2 CPU cores", "<= 900 s", bench_seconds, None if smoke else bench_seconds <= 900,
                       "smoke mode" if smoke else ""))
    return goals
