"""The report folder: figures, tables and an `index.html` that shows each with the one question it answers.

Static files only (PNG, the interactive fronts as plotly HTML next to its `plotly.min.js`), so the
folder opens from disk, from an MLflow run's artifacts, or from a CI artifact alike.
"""
from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.compare import GroupAnalysis, point_table
from analysis.figures import fronts_html, plot_epoch_curves, plot_fronts, plot_training_cost
from analysis.methods import ReportContext, method_reports
from analysis.results import completed

INDEX = "index.html"


@dataclass
class Section:
    title: str
    question: str
    body: str  # HTML


@dataclass
class Report:
    out_dir: Path
    sections: list[Section] = field(default_factory=list)

    def table(self, title: str, question: str, frame: pd.DataFrame) -> None:
        body = "<p>(empty)</p>" if frame.empty else frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0, classes="t")
        self.sections.append(Section(title, question, body))

    def text(self, title: str, question: str, text: str) -> None:
        self.sections.append(Section(title, question, f"<pre>{html.escape(text)}</pre>"))

    def figure(self, title: str, question: str, path: Path, link: Path | None = None) -> None:
        rel = path.relative_to(self.out_dir).as_posix()
        extra = f' <a href="{link.relative_to(self.out_dir).as_posix()}">interactive version (hover for the config)</a>' if link else ""
        self.sections.append(Section(title, question, f'<img src="{rel}" alt="{html.escape(title)}">{extra}'))

    def write(self, heading: str) -> Path:
        head = f"<meta charset='utf-8'><title>{html.escape(heading)}</title><style>{CSS}</style>"
        parts = [f"<!doctype html><html><head>{head}</head><body>",
                 f"<h1>{html.escape(heading)}</h1>"]
        for s in self.sections:
            parts.append(f"<section><h2>{html.escape(s.title)}</h2><p class='q'>{html.escape(s.question)}</p>{s.body}</section>")
        parts.append("</body></html>")
        path = self.out_dir / INDEX
        path.write_text("\n".join(parts), encoding="utf-8")
        return path


CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1300px;color:#222}
section{overflow-x:auto}h1{font-size:22px}h2{font-size:17px;margin:26px 0 4px}p.q{margin:0 0 8px;color:#555;font-style:italic}
img{max-width:100%;border:1px solid #ddd}table.t{border-collapse:collapse;font-size:12px}
table.t td,table.t th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
pre{font-size:12px;background:#f7f7f7;padding:8px;overflow-x:auto}"""


def build_report(groups: list[GroupAnalysis], trials: pd.DataFrame, out_dir: Path, table: Callable[[str], pd.DataFrame],
                 heading: str) -> tuple[Path, list[str]]:
    """Draw every figure, write index.html; returns its path and the method reports' printed lines."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(out_dir)
    epochs = table("epochs")
    for i, g in enumerate(groups):
        suffix = f"_{i}" if len(groups) > 1 else ""
        png = plot_fronts(g.points, g.trials, g.x, g.y, out_dir / f"fronts{suffix}.png", f"{g.label}: every method's front")
        page = fronts_html(g.points, g.x, g.y, out_dir / f"fronts{suffix}.html", f"{g.label}: fronts (hover for the config)")
        question = f"Which method gives the best {g.y} for a given {g.x}, and how sure are we across seeds?"
        report.figure(f"Fronts: {g.label}", question, png, page)
        report.text("Hypervolume reference point", "Against what corner is the hypervolume measured?", g.reference.describe(g.x, g.y))
        report.table("Pareto front (seed means)", f"Which configurations are not beaten on both {g.y} and {g.x}?", point_table(g.front, g.x, g.y))
        hv_question = "How much of the cost/accuracy box does each method's front cover, and how much does that vary with the seed?"
        report.table("Hypervolume per method", hv_question, g.hypervolumes)
        if g.budgets:
            rows = [{"budget": str(b), **({} if best is None else point_table(best.to_frame().T, g.x, g.y).iloc[0].to_dict())}
                    for b, best in g.budgets]
            report.table("Best configuration under each budget", "What should I pick if I can afford at most this much?", pd.DataFrame(rows))
        report.table("All configurations", "What did every configuration score (mean over its seeds)?", point_table(g.points, g.x, g.y))
        cost = plot_training_cost(g.trials, g.y, out_dir / f"training_cost{suffix}.png", f"{g.label}: accuracy vs training cost")
        report.figure("Accuracy vs training cost", "Which method reaches its accuracy for the least training (FLOPs, GPU-hours)?", cost)
        curves = plot_epoch_curves(epochs, g.trials, g.y, out_dir / f"epoch_curves{suffix}.png", f"{g.label}: accuracy per epoch")
        report.figure("Per-epoch accuracy", "How does accuracy evolve over training in every trial (search, draw, retrain)?", curves)
    context = ReportContext(out_dir, table=table)
    lines = method_reports(trials, context)
    if lines:
        report.text("Per-method reports", "What does each method's own analysis say (see the figures below)?", "\n".join(lines))
    for fig in context.figures:
        if fig.path.exists():
            report.figure(fig.path.stem.replace("_", " "), fig.question or fig.path.name, fig.path)
    failed = trials[trials["status"] != "completed"] if "status" in trials else trials.iloc[0:0]
    if not failed.empty:
        why = "Which trials failed, and why (they are left out of every front)?"
        report.table("Failed trials", why, failed[["sweep", "trial_id", "method", "error"]])
    report.table("Trials per sweep", "What was analysed?",
                 trials.groupby(["sweep", "method"]).size().rename("trials").reset_index() if not trials.empty else trials)
    n = len(completed(trials))
    return report.write(f"{heading}: {n} completed trial(s)"), lines
