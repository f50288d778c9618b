"""Figures across sweeps: every method's front on one chart, accuracy vs training cost, per-epoch
curves. Each is a PNG (matplotlib) and, where hovering for the config helps, an interactive HTML
(plotly; the page loads `plotly.min.js` from the same folder, so it works offline).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

from analysis.fronts import front, reference_rows  # noqa: E402
from analysis.results import completed  # noqa: E402

HOVER_SKIP = ("status", "error", "mlflow_run_id", "ticket_path", "sweep", "config_hash", "seedless_hash")


def _colors(methods: list[str]) -> dict[str, str]:
    return {m: f"C{i % 10}" for i, m in enumerate(sorted(methods))}


def plot_fronts(points: pd.DataFrame, trials: pd.DataFrame, x: str, y: str, path: Path, title: str) -> Path:
    """Seed-mean points of every method with 95 % interval bars, each method's front as a step line,
    the dense baseline as a black star."""
    fig, ax = plt.subplots(figsize=(7.6, 4.8))
    dense_methods = set(reference_rows(trials)["method"]) if not trials.empty else set()
    colors = _colors(list(points["method"].dropna().unique()) if not points.empty else [])
    for method, group in points.groupby("method") if not points.empty else []:
        if method in dense_methods:
            continue
        err = _yerr(group, y)
        ax.errorbar(group[x], group[y], yerr=err, fmt="o", ms=5, alpha=0.85, color=colors[method], label=method, capsize=2, lw=1)
        line = front(group, x, y)
        if len(line) > 1:
            ax.step(line[x], line[y], where="post", color=colors[method], lw=1.2)
    dense = points[points["method"].isin(dense_methods)] if not points.empty else points
    if not dense.empty:
        ax.errorbar(dense[x], dense[y], yerr=_yerr(dense, y), fmt="*", ms=14, color="black", label="dense baseline", capsize=3)
    _log_if_wide(ax, points[x] if not points.empty else pd.Series(dtype=float))
    ax.set_xlabel(f"{x} (lower is better)")
    ax.set_ylabel(f"{y} (mean over seeds; bars: 95 % interval)")
    ax.set_title(title, fontsize=10)
    return _save(fig, ax, path, legend=not points.empty)


def _yerr(group: pd.DataFrame, y: str) -> list[list[float]] | None:
    if f"{y}_low" not in group:
        return None
    low = (group[y] - group[f"{y}_low"]).fillna(0.0).clip(lower=0.0)
    high = (group[f"{y}_high"] - group[y]).fillna(0.0).clip(lower=0.0)
    return [low.tolist(), high.tolist()]


def plot_training_cost(trials: pd.DataFrame, y: str, path: Path, title: str) -> Path:
    """Accuracy vs training FLOPs and vs GPU-hours (wall hours x GPUs per trial; wall hours on CPU)."""
    done = completed(trials)
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.4))
    colors = _colors(list(done["method"].dropna().unique()) if not done.empty else [])
    hours, unit = gpu_hours(done)
    for method, group in done.groupby("method") if not done.empty else []:
        axes[0].scatter(group["train_flops_total"], group[y], s=30, alpha=0.8, color=colors[method], label=method)
        axes[1].scatter(hours.loc[group.index], group[y], s=30, alpha=0.8, color=colors[method], label=method)
    axes[0].set_xlabel("training FLOPs spent (all phases)")
    axes[1].set_xlabel(unit)
    for ax in axes:
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
    _log_if_wide(axes[0], done["train_flops_total"] if not done.empty else pd.Series(dtype=float))
    fig.suptitle(title, fontsize=10)
    if not done.empty:
        axes[0].legend(fontsize=8)
    return _finish(fig, path)


def gpu_hours(trials: pd.DataFrame) -> tuple[pd.Series, str]:
    """GPU-hours per trial when the sweep asked for GPUs (`resources.gpu` in its rows), else wall hours."""
    wall = trials["wall_time_s"].astype(float) / 3600.0 if "wall_time_s" in trials else pd.Series(float("nan"), index=trials.index)
    if "resources.gpu" in trials and trials["resources.gpu"].fillna(0).astype(float).gt(0).any():
        return wall * trials["resources.gpu"].fillna(0).astype(float), "GPU-hours (wall hours x GPUs per trial)"
    return wall, "wall-clock hours of training (no GPU recorded)"


def plot_epoch_curves(epochs: pd.DataFrame, trials: pd.DataFrame, y: str, path: Path, title: str) -> Path:
    """Per-epoch accuracy of every completed trial, one thin line per trial, coloured by method."""
    keep = set(completed(trials)["trial_id"]) if not trials.empty else set()
    rows = epochs[epochs["trial_id"].isin(keep)] if not epochs.empty else epochs
    metric = y if y in rows else "val_accuracy"
    fig, ax = plt.subplots(figsize=(7.6, 4.6))
    colors = _colors(list(rows["method"].dropna().unique()) if not rows.empty else [])
    labelled: set[str] = set()
    for (method, _trial), group in rows.groupby(["method", "trial_id"]) if not rows.empty else []:
        group = group.sort_values("epoch")
        ax.plot(group["epoch"], group[metric], color=colors[method], alpha=0.6, lw=1, label=None if method in labelled else method)
        labelled.add(method)
    ax.set_xlabel("epoch (global, all phases)")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=10)
    return _save(fig, ax, path, legend=bool(labelled))


def fronts_html(points: pd.DataFrame, x: str, y: str, path: Path, title: str) -> Path:
    """The fronts chart as interactive HTML: hover a point for its configuration and seeds."""
    fig = go.Figure()
    for method, group in points.groupby("method") if not points.empty else []:
        hover = [_hover(row) for _, row in group.iterrows()]
        err = _yerr(group, y)
        fig.add_trace(go.Scatter(
            x=group[x], y=group[y], mode="markers", name=str(method), text=hover, hovertemplate="%{text}<extra></extra>",
            error_y=dict(type="data", symmetric=False, array=err[1], arrayminus=err[0]) if err else None,
        ))
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=f"{y} (mean over seeds)", template="plotly_white", height=520)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs="directory", full_html=True)
    return path


def _hover(row: pd.Series) -> str:
    """Config and identity of one point, non-null values only, one per line."""
    shown = []
    for key, value in row.items():
        if key in HOVER_SKIP or value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
            continue
        if "." in str(key) or key in ("method", "seeds", "seed_list", "trial_ids", "val_accuracy", "test_accuracy", "flops", "sparse_flops"):
            shown.append(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    return "<br>".join(shown)


def _log_if_wide(ax: plt.Axes, values: pd.Series) -> None:
    positive = values.dropna()
    positive = positive[positive > 0]
    if len(positive) > 1 and positive.max() / positive.min() > 20:
        ax.set_xscale("log")


def _save(fig: plt.Figure, ax: plt.Axes, path: Path, legend: bool) -> Path:
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8)
    return _finish(fig, path)


def _finish(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
