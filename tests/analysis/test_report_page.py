"""The report folder: index.html shows every figure and table with its question, every image it names
exists, the Early-Bird matrix is the pairwise Hamming distance, and the page renders in headless
Chromium (skipped where no Chromium is installed)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analysis.browser import find_browser, screenshot
from analysis.compare import analyze
from analysis.methods.earlybird import distance_matrix
from analysis.page import build_report


def _trials() -> pd.DataFrame:
    common = {"sweep": "unit", "data.name": "digits", "model.name": "vgg11", "model.width": 0.25, "train.epochs": 4,
              "wall_time_s": 36.0, "resources.gpu": 0.0, "error": ""}
    rows = [
        {"trial_id": "d", "method": "dense", "seed": 0, "seedless_hash": "D", "val_accuracy": 0.95, "sparse_flops": 100.0,
         "flops": 100, "train_flops_total": 1e9, "status": "completed"},
        {"trial_id": "e0", "method": "earlybird", "seed": 0, "seedless_hash": "E", "val_accuracy": 0.90, "sparse_flops": 40.0,
         "flops": 40, "train_flops_total": 4e8, "status": "completed", "eb_epoch": 2, "method.eb_epsilon": 0.3,
         "method.prune_ratio": 0.5, "search_epochs": 2, "channels_kept": 0.5},
        {"trial_id": "e1", "method": "earlybird", "seed": 1, "seedless_hash": "E", "val_accuracy": 0.92, "sparse_flops": 40.0,
         "flops": 40, "train_flops_total": 4e8, "status": "completed", "eb_epoch": 2, "method.eb_epsilon": 0.3,
         "method.prune_ratio": 0.5, "search_epochs": 2, "channels_kept": 0.5},
        {"trial_id": "x", "method": "earlybird", "seed": 0, "seedless_hash": "X", "val_accuracy": np.nan, "sparse_flops": np.nan,
         "flops": np.nan, "train_flops_total": np.nan, "status": "failed", "error": "RuntimeError: diverged"},
    ]
    return pd.DataFrame([{**common, **r} for r in rows])


def _tables(name: str) -> pd.DataFrame:
    if name == "epochs":
        return pd.DataFrame([{"trial_id": t, "method": m, "epoch": e, "phase": "search" if e <= 2 else "retrain",
                              "val_accuracy": 0.5 + 0.1 * e, "mask_distance": 0.5 / e}
                             for t, m in (("d", "dense"), ("e0", "earlybird"), ("e1", "earlybird")) for e in range(1, 5)])
    if name == "eb_masks":
        return pd.DataFrame([{"trial_id": t, "epoch": e, "mask": m} for t in ("e0", "e1")
                             for e, m in enumerate(("1100", "1010", "1011"))])
    return pd.DataFrame()


def test_distance_matrix_is_pairwise_normalized_hamming():
    matrix = distance_matrix(["1100", "1010", "1011"])
    assert matrix.tolist() == [[0.0, 0.5, 0.75], [0.5, 0.0, 0.25], [0.75, 0.25, 0.0]]


def test_report_page_shows_every_figure_and_table(tmp_path):
    trials = _trials()
    groups = analyze(trials, "sparse_flops", "val_accuracy")
    index, lines = build_report(groups, trials, tmp_path / "report", _tables, "unit")
    page = index.read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert {"fronts.png", "training_cost.png", "epoch_curves.png", "earlybird_mask_distance.png"} <= set(images)
    for image in images:
        assert (index.parent / image).stat().st_size > 5_000, image
    assert (index.parent / "fronts.html").exists() and (index.parent / "plotly.min.js").exists()
    sections = page.count("<section>")
    assert sections == page.count("<p class='q'>") and sections >= 10  # every section says what it answers
    assert "hypervolume reference point: sparse_flops = 110" in page
    assert "RuntimeError: diverged" in page  # the failed trial is listed, and left out of the front
    assert any("e0: eb_epoch 2" in line for line in lines)


@pytest.mark.skipif(find_browser() is None, reason="no headless Chromium installed (apt-get install -y chromium)")
def test_report_page_renders_in_headless_chromium(tmp_path):
    trials = _trials()
    index, _ = build_report(analyze(trials, "sparse_flops", "val_accuracy"), trials, tmp_path / "report", _tables, "unit")
    png = screenshot(index, tmp_path / "shot.png", width=900, height=1200)
    from PIL import Image

    with Image.open(png) as image:
        assert image.size == (900, 1200)
        colors = image.convert("L").getextrema()
    assert colors[0] < 100 < colors[1]  # text and figures drawn, not a blank page
