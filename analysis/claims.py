"""The seed papers' headline claims, checked on this project's results: `tickets claims RESULTS...`.

Each claim compares two groups of completed trials (e.g. Early-Bird vs Network Slimming at the same
prune ratio) over the seeds found in the results; a row says the paper's number, ours as the mean
with a 95 % t-interval over seeds, the number of seeds, and whether the claim holds here:
  holds          the comparison goes the paper's way and the interval excludes the other side
  not shown      it goes the paper's way but the interval still admits the opposite (too few seeds or
                 too noisy at this scale)
  does not hold  it goes the other way
  no data        the results hold no trial of one side
Intervals need at least 2 seeds; with one seed a row is at best "not shown".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats

HOLDS, NOT_SHOWN, FAILS, NO_DATA = "holds", "not shown", "does not hold", "no data"
PATTERNS = ("unstructured", "channel")


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its 95 % t-interval (None with fewer than 2 seeds)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    @classmethod
    def of(cls, values: pd.Series | list[float]) -> Estimate:
        data = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if not data:
            return cls(math.nan, None, None, 0)
        mean = sum(data) / len(data)
        if len(data) < 2:
            return cls(mean, None, None, len(data))
        sem = stats.sem(data)
        half = float(stats.t.ppf(0.975, len(data) - 1) * sem) if sem > 0 else 0.0
        return cls(mean, mean - half, mean + half, len(data))

    def text(self, scale: float = 1.0, unit: str = "") -> str:
        if self.n == 0:
            return "-"
        interval = f" [{self.low * scale:.3g}, {self.high * scale:.3g}]" if self.low is not None and self.high is not None else ""
        return f"{self.mean * scale:.3g}{unit}{interval} (n={self.n})"


@dataclass(frozen=True)
class ClaimRow:
    claim: str
    paper: str
    ours: str
    verdict: str


def verdict_above(estimate: Estimate, threshold: float = 0.0) -> str:
    """Whether `estimate` (a difference, a gap) is above `threshold`, interval included."""
    if estimate.n == 0:
        return NO_DATA
    if estimate.mean <= threshold:
        return FAILS
    return HOLDS if estimate.low is not None and estimate.low > threshold else NOT_SHOWN


def verdict_below(estimate: Estimate, threshold: float) -> str:
    if estimate.n == 0:
        return NO_DATA
    if estimate.mean >= threshold:
        return FAILS
    return HOLDS if estimate.high is not None and estimate.high < threshold else NOT_SHOWN


def _done(trials: pd.DataFrame, method: str) -> pd.DataFrame:
    if trials.empty or "method" not in trials:
        return trials.iloc[0:0]
    return trials[(trials["method"] == method) & (trials["status"] == "completed")]


def _paired_difference(a: pd.DataFrame, b: pd.DataFrame, column_a: str, column_b: str) -> Estimate:
    """Per-seed difference a - b (seeds present on both sides), as an Estimate."""
    left = a.groupby("seed")[column_a].mean()
    right = b.groupby("seed")[column_b].mean()
    common = left.index.intersection(right.index)
    return Estimate.of(list(left[common] - right[common]))


def earlybird_claims(trials: pd.DataFrame) -> list[ClaimRow]:
    rows: list[ClaimRow] = []
    eb = _done(trials, "earlybird")
    if not eb.empty:
        search = eb["method.max_search_epochs"].where(eb["method.max_search_epochs"] > 0, eb["train.epochs"])
        fraction = (eb["eb_epoch"] / search).where(eb["eb_detected"].fillna(False).astype(bool))
        estimate = Estimate.of(fraction.dropna())
        verdict = verdict_below(estimate, 0.25) if estimate.n else NO_DATA
        rows.append(ClaimRow("Early-Bird: the ticket is drawn early (draw epoch / training epochs)",
                             "epoch 10-35 of 160 (0.06-0.22)", estimate.text() +
                             f", detected in {int(eb['eb_detected'].fillna(False).sum())}/{len(eb)}", verdict))
    else:
        rows.append(ClaimRow("Early-Bird: the ticket is drawn early", "0.06-0.22 of training", "-", NO_DATA))
    slim = _done(trials, "slimming")
    if not eb.empty and not slim.empty and "train_flops_total" in trials:  # paired seeds of every prune ratio both ran
        ratios = pd.concat([eb.assign(side="eb"), slim.assign(side="ns")]).groupby(["method.prune_ratio", "seed", "side"])
        cost = ratios["train_flops_total"].mean().unstack("side").dropna()
        estimate = Estimate.of(list(cost["eb"] / cost["ns"])) if not cost.empty else Estimate.of([])
        rows.append(ClaimRow("Early-Bird vs Network Slimming: training FLOPs ratio (EB / NS, all prune ratios)",
                             "4.7x-10.7x less training energy (ratio 0.09-0.21)", estimate.text(), verdict_below(estimate, 1.0)))
    paper = {0.3: "72.17 vs 71.28", 0.5: "71.28 vs 69.74", 0.7: "(not reported)"}
    for ratio in (0.3, 0.5, 0.7):
        a = eb[(eb["method.prune_ratio"] - ratio).abs() < 1e-9] if not eb.empty else eb
        b = slim[(slim["method.prune_ratio"] - ratio).abs() < 1e-9] if not slim.empty else slim
        diff = _paired_difference(a, b, "test_accuracy", "test_accuracy") if not (a.empty or b.empty) else Estimate.of([])
        rows.append(ClaimRow(
            f"Early-Bird (EB Train) vs dense train-prune-retrain (Network Slimming), p={ratio}: test accuracy difference",
            f"VGG-16/CIFAR-100: {paper[ratio]} (EB >= NS)", diff.text(100, " pts"), verdict_above(diff, -0.01)))
    return rows


def supertickets_claims(trials: pd.DataFrame) -> list[ClaimRow]:
    rows: list[ClaimRow] = []
    st = _done(trials, "supertickets")
    stp = _done(trials, "search_then_prune")
    if "method.criterion" in stp:
        stp = stp[stp["method.criterion"] == "magnitude"]
    sparsities = sorted(set(st["method.target_sparsity"].dropna().round(3))) if not st.empty else []
    for sparsity in sparsities or [0.7]:
        a = st[(st["method.target_sparsity"] - sparsity).abs() < 1e-3] if not st.empty else st
        b = stp[(stp["method.target_sparsity"] - sparsity).abs() < 1e-3] if not stp.empty else stp
        for column, what, paper, threshold in (
            ("noretrain_test_accuracy", "without retraining", "SuperTickets >> search-then-prune", 0.0),
            ("test_accuracy", "after retraining", "SuperTickets >= search-then-prune", -0.01),
            ("transfer_accuracy", "after transfer", "SuperTickets >= search-then-prune", -0.01),
        ):
            if column == "transfer_accuracy" and (a.empty or column not in a or a[column].isna().all()):
                continue
            diff = _paired_difference(a, b, column, column) if not (a.empty or b.empty) else Estimate.of([])
            own = Estimate.of(a[column]) if not a.empty else Estimate.of([])
            rows.append(ClaimRow(
                f"SuperTickets vs search-then-prune (magnitude), sparsity {sparsity:g}, {what}: test accuracy difference",
                paper, f"{diff.text(100, ' pts')}; SuperTickets {own.text()}", verdict_above(diff, threshold)))
    return rows


def robust_claims(trials: pd.DataFrame) -> list[ClaimRow]:
    rows: list[ClaimRow] = []
    rt = _done(trials, "robust_ticket")
    robust = rt[rt["method.epsilon"] > 0] if not rt.empty else rt
    for pattern in PATTERNS:
        group = robust[robust["method.pattern"] == pattern] if not robust.empty else robust
        for sparsity in sorted(set(group["method.sparsity"].round(3))) if not group.empty else []:
            cell = group[(group["method.sparsity"] - sparsity).abs() < 1e-3]
            # the robustness strength the sweep found best by transfer val accuracy (mean over seeds)
            best_eps = cell.groupby("method.epsilon")["transfer_val_accuracy"].mean().idxmax()
            gap = Estimate.of(cell[cell["method.epsilon"] == best_eps]["transfer_gap"])
            rows.append(ClaimRow(
                f"Robust vs vanilla ticket, {pattern}, sparsity {sparsity:g} (epsilon {best_eps:.3g}): transfer accuracy gap",
                "robust > vanilla", gap.text(100, " pts"), verdict_above(gap)))
    if not rows:
        rows.append(ClaimRow("Robust vs vanilla ticket transfer accuracy", "robust > vanilla", "-", NO_DATA))
    return rows


def claims_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Every claim of the three papers the results can speak to, one row each."""
    rows = earlybird_claims(trials) + supertickets_claims(trials) + robust_claims(trials)
    return pd.DataFrame([r.__dict__ for r in rows])


def format_claims(table: pd.DataFrame) -> str:
    lines = ["claim | the paper's number | ours: mean [95% interval] (seeds) | holds?", "--- | --- | --- | ---"]
    lines += [f"{r.claim} | {r.paper} | {r.ours} | {r.verdict}" for r in table.itertuples()]
    return "\n".join(lines)
