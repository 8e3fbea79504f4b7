"""Pairwise Bradley-Terry metrics over parsed judge scores: accuracy (two ways), ties, log-loss, ECE, bootstrap CI.

Pure functions over plain lists, no model and no I/O:

    from grpo_bt_rm.eval.metrics import PairScores, pair_metrics
    m = pair_metrics([PairScores("k", 0, [80.0], [40.0])], bt_temp=20.0)   # m["acc_all"] == 1.0

Conventions (documented once, used by eval_bt, the sweep summaries and the tests):
- a side's score is the mean of its valid (parsed) samples; a side with no valid sample has no score;
- d = score(preferred side) - score(other side); d == 0 is a tie and counts 0.5 in `acc_all` and `acc_parsed`;
- a pair is *parsed* when both sides have a score; `acc_all` counts unparsed pairs as wrong (0), `acc_parsed`
  leaves them out; `acc_strict`, `tie_rate`, `nontie_acc`, the log-losses and `ece` are over parsed pairs;
- BT loss per pair is softplus(-d / bt_temp), so a tie costs log 2;
- calibration: p = sigmoid((z0 - z1) / bt_temp) is the predicted probability that side 0 is preferred, y = 1 when
  side 0 is preferred; ECE uses 10 equal-width bins of p: sum_b (n_b / N) * |mean(y_b) - mean(p_b)|. Which
  response is side 0 is arbitrary (a seeded shuffle), so each pair enters from both sides, (p, y) and (1-p, 1-y):
  the ECE and the reliability diagram do not depend on the side order (half-open bins made them depend on it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
REQUIRED_METRICS = (
    "n_pairs", "acc_all", "acc_parsed", "acc_strict", "tie_rate", "nontie_acc", "parse_fail_rate",
    "pair_fail_rate", "logloss_all", "logloss_nontie", "ece", "acc_ci95",
)


@dataclass(frozen=True)
class PairScores:
    """Parsed samples of one pair: `scores_k[i]` is sample i of side k, None where it did not parse."""

    pair_key: str
    preferred_side: int
    scores_0: Sequence[float | None]
    scores_1: Sequence[float | None]


def side_score(scores: Sequence[float | None]) -> float | None:
    """Mean of the valid samples, or None when no sample parsed.

    >>> side_score([80.0, None, 60.0]), side_score([None, None])
    (70.0, None)
    """
    valid = [s for s in scores if s is not None]
    return float(sum(valid) / len(valid)) if valid else None


def softplus(x: float) -> float:
    """log(1 + e^x), stable for large |x|."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def sigmoid(x: float) -> float:
    """The logistic function 1 / (1 + e^-x), computed without overflow for large |x|.

    >>> sigmoid(0.0)
    0.5
    """
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def outcome(d: float) -> float:
    """1 for a correct pair, 0.5 for a tie, 0 for a wrong one."""
    return 1.0 if d > 0 else (0.5 if d == 0 else 0.0)


def _mean(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> list:
    """Percentile bootstrap interval of the mean of `values` (resampling items with replacement)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return [None, None]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    means = v[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    return [float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))]


def ece(p: Sequence[float], y: Sequence[int], n_bins: int = 10) -> tuple[float | None, list[dict]]:
    """Expected calibration error with equal-width bins on [0, 1] (p == 1 falls in the last bin), plus the bins."""
    p_arr, y_arr = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    if p_arr.size == 0:
        return None, []
    which = np.minimum((p_arr * n_bins).astype(int), n_bins - 1)
    total, bins = 0.0, []
    for b in range(n_bins):
        mask = which == b
        n_b = int(mask.sum())
        entry = {"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": n_b, "mean_p": None, "frac_pos": None}
        if n_b:
            mp, fy = float(p_arr[mask].mean()), float(y_arr[mask].mean())
            entry.update(mean_p=mp, frac_pos=fy)
            total += n_b / p_arr.size * abs(fy - mp)
        bins.append(entry)
    return float(total), bins


def percentiles(xs: Sequence[float]) -> dict | None:
    """The 5th to 95th percentiles of `xs` (keys p5, p10, p25, p50, p75, p90, p95) plus `n`; None if empty."""
    if not len(xs):
        return None
    q = np.percentile(np.asarray(xs, dtype=float), PERCENTILES)
    return {f"p{k}": float(v) for k, v in zip(PERCENTILES, q)} | {"n": len(xs)}


def histogram(xs: Sequence[float], lo: float, hi: float, n_bins: int = 10) -> dict:
    """Counts of `xs` in `n_bins` equal bins over [lo, hi] (values outside are left out).

    Returns:
        `{"edges": n_bins + 1 floats, "counts": n_bins ints}`.
    """
    counts, edges = np.histogram(np.asarray(xs, dtype=float), bins=n_bins, range=(lo, hi))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def default_uncertainty_band(score_range: tuple[float, float]) -> tuple[float, float]:
    """The middle 60% of the scale: (20, 80) for 0-100, (1.8, 4.2) for 1-5."""
    lo, hi = score_range
    return lo + 0.2 * (hi - lo), lo + 0.8 * (hi - lo)


def uncertainty_report(chosen: Sequence[float], rejected: Sequence[float], unc_low: float, unc_high: float,
                       score_range: tuple[float, float]) -> dict:
    """Split strictly wrong pairs by how sure the judge looked.

    `both_mid`: both side scores inside [unc_low, unc_high] (a hedged mistake); `one_extreme`: exactly one outside;
    `both_extreme`: both outside (a confident mistake). Rates are over wrong pairs. Histograms of the chosen and
    rejected scores over wrong pairs and over all parsed pairs show where the mistakes sit on the scale.
    """
    def mid(x: float) -> bool:
        """Whether a score lies in the uncertain band [unc_low, unc_high]."""
        return unc_low <= x <= unc_high

    wrong = [(c, r) for c, r in zip(chosen, rejected) if c < r]
    buckets = {"both_mid": 0, "one_extreme": 0, "both_extreme": 0}
    for c, r in wrong:
        k = mid(c) + mid(r)
        buckets["both_mid" if k == 2 else "one_extreme" if k == 1 else "both_extreme"] += 1
    lo, hi = score_range
    return {
        "unc_low": unc_low,
        "unc_high": unc_high,
        "n_wrong": len(wrong),
        "counts": buckets,
        "rates": {k: (v / len(wrong) if wrong else None) for k, v in buckets.items()},
        "hist_wrong_chosen": histogram([c for c, _ in wrong], lo, hi),
        "hist_wrong_rejected": histogram([r for _, r in wrong], lo, hi),
        "hist_chosen": histogram(chosen, lo, hi),
        "hist_rejected": histogram(rejected, lo, hi),
    }


def pair_metrics(
    pairs: Sequence[PairScores],
    *,
    bt_temp: float = 1.0,
    seed: int = 0,
    n_boot: int = 1000,
    report_margins: bool = False,
    report_uncertainty: bool = False,
    unc_low: float | None = None,
    unc_high: float | None = None,
    score_range: tuple[float, float] = (0.0, 100.0),
) -> dict:
    """Every metric of one evaluation. See the module docstring for the conventions."""
    if bt_temp <= 0:
        raise ValueError(f"bt_temp must be > 0, got {bt_temp}")
    n_pairs = len(pairs)
    n_comp = n_fail = 0
    outcomes_all: list[float] = []
    d_list: list[float] = []
    chosen: list[float] = []
    rejected: list[float] = []
    p0: list[float] = []
    y0: list[int] = []
    for pr in pairs:
        if pr.preferred_side not in (0, 1):
            raise ValueError(f"pair {pr.pair_key}: preferred_side must be 0 or 1, got {pr.preferred_side!r}")
        for s in (*pr.scores_0, *pr.scores_1):
            n_comp += 1
            n_fail += s is None
        z0, z1 = side_score(pr.scores_0), side_score(pr.scores_1)
        if z0 is None or z1 is None:
            outcomes_all.append(0.0)
            continue
        zc, zr = (z0, z1) if pr.preferred_side == 0 else (z1, z0)
        d = zc - zr
        d_list.append(d)
        chosen.append(zc)
        rejected.append(zr)
        outcomes_all.append(outcome(d))
        p0.append(sigmoid((z0 - z1) / bt_temp))
        y0.append(int(pr.preferred_side == 0))

    n_parsed = len(d_list)
    d_arr = np.asarray(d_list, dtype=float)
    losses = [softplus(-d / bt_temp) for d in d_list]
    nontie = [i for i, d in enumerate(d_list) if d != 0]
    ece_value, ece_bins = ece(p0 + [1.0 - p for p in p0], y0 + [1 - y for y in y0])
    m = {
        "n_pairs": n_pairs,
        "n_parsed_pairs": n_parsed,
        "n_completions": n_comp,
        "n_failed_completions": n_fail,
        "acc_all": _mean(outcomes_all),
        "acc_parsed": _mean([outcome(d) for d in d_list]),
        "acc_strict": _mean([float(d > 0) for d in d_list]),
        "tie_rate": _mean([float(d == 0) for d in d_list]),
        "nontie_acc": _mean([float(d_list[i] > 0) for i in nontie]),
        "n_nontie": len(nontie),
        "parse_fail_rate": n_fail / n_comp if n_comp else None,
        "pair_fail_rate": (n_pairs - n_parsed) / n_pairs if n_pairs else None,
        "logloss_all": _mean(losses),
        "logloss_nontie": _mean([losses[i] for i in nontie]),
        "ece": ece_value,
        "acc_ci95": bootstrap_ci(outcomes_all, n_boot=n_boot, seed=seed),
        "acc_parsed_ci95": bootstrap_ci([outcome(d) for d in d_list], n_boot=n_boot, seed=seed),
        "delta": {
            "mean": _mean(d_list),
            "std": float(d_arr.std()) if n_parsed else None,
            "median": float(np.median(d_arr)) if n_parsed else None,
            "abs_mean": float(np.abs(d_arr).mean()) if n_parsed else None,
            "min": float(d_arr.min()) if n_parsed else None,
            "max": float(d_arr.max()) if n_parsed else None,
        },
        "calibration_bins": ece_bins,
        "bt_temp": bt_temp,
    }
    if report_margins:
        correct = [i for i, d in enumerate(d_list) if d > 0]
        wrong = [i for i, d in enumerate(d_list) if d < 0]
        m["margins"] = {
            "delta": {"all": percentiles(d_list), "correct": percentiles([d_list[i] for i in correct]),
                      "wrong": percentiles([d_list[i] for i in wrong])},
            "loss": {"all": percentiles(losses), "correct": percentiles([losses[i] for i in correct]),
                     "wrong": percentiles([losses[i] for i in wrong])},
        }
    if report_uncertainty:
        band = default_uncertainty_band(score_range)
        lo = band[0] if unc_low is None else unc_low
        hi = band[1] if unc_high is None else unc_high
        m["uncertainty"] = uncertainty_report(chosen, rejected, lo, hi, score_range)
    return m


def format_summary(m: dict) -> str:
    """The metrics of `pair_metrics` as the few report lines eval_bt prints and writes to its .log."""

    def f(x):
        """`x` with 4 decimals, or n/a for None."""
        return "n/a" if x is None else f"{x:.4f}"

    ci = m["acc_ci95"]
    scoring = m.get("scoring", "text")
    if scoring == "expected":
        scoring += f" (expected_fallbacks={m.get('expected_fallbacks')}: samples that kept their text score)"
    lines = [
        f"scoring={scoring}",
        f"pairs={m['n_pairs']} parsed={m['n_parsed_pairs']} completions={m['n_completions']}",
        f"acc_all={f(m['acc_all'])} (95% CI {f(ci[0])}..{f(ci[1])})  acc_parsed={f(m['acc_parsed'])}",
        f"acc_strict={f(m['acc_strict'])} tie_rate={f(m['tie_rate'])} nontie_acc={f(m['nontie_acc'])}",
        f"parse_fail_rate={f(m['parse_fail_rate'])} pair_fail_rate={f(m['pair_fail_rate'])} "
        f"truncated_rate={f(m.get('truncated_rate'))} fail_reasons={m.get('fail_reasons', {})}",
        f"logloss_all={f(m['logloss_all'])} logloss_nontie={f(m['logloss_nontie'])} ece={f(m['ece'])} "
        f"(bt_temp={m['bt_temp']})",
        f"delta mean={f(m['delta']['mean'])} std={f(m['delta']['std'])} median={f(m['delta']['median'])}",
    ]
    if "uncertainty" in m:
        u = m["uncertainty"]
        lines.append(f"wrong pairs={u['n_wrong']} buckets={u['counts']} band=[{u['unc_low']}, {u['unc_high']}]")
    if "margins" in m:
        for what in ("delta", "loss"):
            for group, pct in m["margins"][what].items():
                if pct:
                    lines.append(f"{what}[{group}] " + " ".join(f"{k}={v:.3g}" for k, v in pct.items()))
    return "\n".join(lines)
