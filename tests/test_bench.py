"""`make bench` in smoke mode: every CPU section runs end to end and the JSON holds the machine,
the figures and every goal (GPU goals marked not measured on a CPU machine). Not a timed test:
the numbers are checked for shape and sanity, never for speed."""
from __future__ import annotations

import json

from bench.__main__ import run_all, table


def test_bench_smoke_writes_json_and_table(tmp_path) -> None:
    report, path = run_all(smoke=True, with_ray=False, out_dir=tmp_path)
    saved = json.loads(path.read_text())
    assert path.name.endswith("-smoke.json")
    machine = saved["machine"]
    assert machine["cpu_cores"] >= 1 and machine["torch"] and "cpu_model" in machine
    loop = saved["figures"]["loop"]
    assert {r["model"] for r in loop} >= {"vgg11", "resnet_tiny"}
    assert all(r["ratio_project_vs_hand"] > 0 and r["hand_samples_per_s"] > 0 for r in loop)
    tickets = saved["figures"]["tickets"]
    assert len({r["prune_ratio"] for r in tickets}) == 3 and {r["batch"] for r in tickets} >= {1}
    for r in tickets:
        assert r["r1_flops_reduction"] > 1.0 and r["r8_flops_reduction"] > 1.0  # tickets are smaller
    eb = saved["figures"]["earlybird"][0]
    assert eb["earlybird_train_flops"] > 0 and eb["dense_prune_retrain_train_flops"] > 0
    cs = saved["figures"]["constrained_search"]  # seeded samplers on a deterministic surrogate: fixed numbers
    assert cs["tpe"]["feasible_mean"] > cs["random"]["feasible_mean"] > 0
    assert cs["tpe"]["seeds_with_a_feasible_trial"] == cs["seeds"] == 2
    goals = {g["goal"]: g for g in saved["goals"]}
    assert goals["constrained TPE vs random at equal trials: feasible trials (ratio)"]["met"] is True
    assert any(g.startswith("loop vs hand-written") for g in goals)
    assert any(g.startswith("4 trials per GPU") for g in goals)
    if not machine["gpu"]:
        assert goals["4 trials per GPU vs 1, trials/hour"]["met"] is None
        assert saved["figures"]["packing"]["gpu_packing"]["skipped"]
    text = table(report)
    assert "| goal |" in text and "bench wall time" in text and "budgets in the sampler" in text
