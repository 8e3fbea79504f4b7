"""Sampling-variance diagnostics of a judge prompt: how much a side's score moves between samples, and what that
does to pairwise accuracy (does the prompt carry signal, or is the judge flipping coins?).

    python -m grpo_bt_rm.eval.variance --run_dir RUN --checkpoint base --dataset anthropic_hh --split test \\
        --prompt hh_score100_v3 --n_pairs 200 --n_samples 8 --batch_pairs 4 --range_thresholds 20,30,40
    # shards (e.g. one per GPU), merged with the same code: tools/merge_variance_shards.py / tools/run_variance_test.sh
    python -m grpo_bt_rm.eval.variance ... --shard_id 0 --num_shards 2 --save_jsonl shard0.jsonl

Batches are seeded from (seed, batch index) and shards take whole batches, so merged shards equal one run.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grpo_bt_rm.argtypes import COUNT, POSITIVE, SEED, float_in, int_at_least
from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.eval.completions import completion_report, read_many, side_scores
from grpo_bt_rm.eval.judge import open_judge
from grpo_bt_rm.eval.metrics import default_uncertainty_band, histogram, outcome, side_score, uncertainty_report
from grpo_bt_rm.eval.settings import VarianceSettings, add_data_args, add_model_args, parse_thresholds
from grpo_bt_rm.io import InputError, atomic_write, manifest_base, sha256_file, write_json, write_jsonl
from grpo_bt_rm.parsing import ScoreParser, get_parser
from grpo_bt_rm.paths import default_path

__all__ = ["VarianceSettings", "build_argparser", "format_summary", "merge", "parse_thresholds", "run",
           "variance_metrics", "write_outputs"]

log = logging.getLogger(__name__)


def _mean(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def variance_metrics(records: list[dict], parser: ScoreParser, *, range_thresholds: Sequence[float] = (),
                     unc_low: float | None = None, unc_high: float | None = None) -> dict:
    """All variance diagnostics from per-pair records (completions schema). Order of records does not matter.

    - valid_rate: parsed completions / completions; truncated_rate: completions cut off at the token limit;
      fail_reasons: parse failures by reason;
    - within_side_std: mean (and median) population std of a side's valid samples, over sides with >= 2 valid;
    - unique_per_side: mean count of distinct valid scores per side (sides with >= 1 valid);
    - aligned samples: sample i of side 0 against sample i of side 1 (both valid). `aligned_tie_rate` pools them;
      `expected_acc` (ties 0.5) and `expected_acc_strict` average each pair's aligned outcome, then over pairs:
      the accuracy a judge sampled once per side would get on average;
    - mean scores: `mean_acc` (a tie of the means counts 0.5, never a vote for either side), `mean_acc_strict`,
      `mean_tie_rate`, over pairs where both sides have a valid sample;
    - uncertainty: wrong pairs (by mean score) bucketed by the [unc_low, unc_high] band;
    - range_rates[t]: fraction of sides (>= 2 valid) whose max - min >= t, and of pairs with such a side.
    """
    recs = sorted(records, key=lambda r: (r.get("pair_index", 0), r["pair_key"]))
    lo_hi = (parser.low, parser.high)
    n_comp = n_valid = 0
    stds, uniques, ranges, all_scores = [], [], [], []
    pair_ranges: list[float] = []
    aligned_total = aligned_ties = 0
    exp_acc, exp_strict, mean_out, chosen, rejected = [], [], [], [], []
    for r in recs:
        s = side_scores(r, parser)
        side_ranges = []
        for side in s:
            valid = [x for x in side if x is not None]
            n_comp += len(side)
            n_valid += len(valid)
            all_scores.extend(valid)
            if valid:
                uniques.append(len(set(valid)))
            if len(valid) >= 2:
                stds.append(float(np.std(valid)))
                side_ranges.append(max(valid) - min(valid))
        ranges.extend(side_ranges)
        if side_ranges:
            pair_ranges.append(max(side_ranges))
        pref, other = s[r["preferred_side"]], s[1 - r["preferred_side"]]
        outs = [outcome(a - b) for a, b in zip(pref, other) if a is not None and b is not None]
        aligned_total += len(outs)
        aligned_ties += sum(o == 0.5 for o in outs)
        if outs:
            exp_acc.append(float(np.mean(outs)))
            exp_strict.append(float(np.mean([o == 1.0 for o in outs])))
        zc, zr = side_score(pref), side_score(other)
        if zc is not None and zr is not None:
            mean_out.append(outcome(zc - zr))
            chosen.append(zc)
            rejected.append(zr)
    band = default_uncertainty_band(lo_hi)
    unc = uncertainty_report(chosen, rejected, band[0] if unc_low is None else unc_low,
                             band[1] if unc_high is None else unc_high, lo_hi)
    return {
        "n_pairs": len(recs),
        "n_completions": n_comp,
        "valid_rate": n_valid / n_comp if n_comp else None,
        **{k: v for k, v in completion_report(recs, parser).items() if k != "n_completions"},
        "within_side_std": _mean(stds),
        "within_side_std_median": float(np.median(stds)) if stds else None,
        "unique_per_side": _mean(uniques),
        "n_aligned": aligned_total,
        "aligned_tie_rate": aligned_ties / aligned_total if aligned_total else None,
        "expected_acc": _mean(exp_acc),
        "expected_acc_strict": _mean(exp_strict),
        "n_mean_pairs": len(mean_out),
        "mean_acc": _mean(mean_out),
        "mean_acc_strict": _mean([float(o == 1.0) for o in mean_out]),
        "mean_tie_rate": _mean([float(o == 0.5) for o in mean_out]),
        "uncertainty": unc,
        "range_rates": {f"{t:g}": {"sides": _mean([float(x >= t) for x in ranges]),
                                   "pairs": _mean([float(x >= t) for x in pair_ranges])} for t in range_thresholds},
        "hist_scores": histogram(all_scores, *lo_hi),
        "hist_within_side_std": histogram(stds, 0.0, (lo_hi[1] - lo_hi[0]) / 2),
    }


def format_summary(m: dict) -> str:
    """The variance metrics as a few human-readable lines (the `.log` file and the console report)."""
    def f(x):
        """`x` with 4 decimals, or n/a for None."""
        return "n/a" if x is None else f"{x:.4f}"

    lines = [
        f"pairs={m['n_pairs']} completions={m['n_completions']} valid_rate={f(m['valid_rate'])} "
        f"truncated_rate={f(m['truncated_rate'])} fail_reasons={m['fail_reasons']}",
        f"within_side_std={f(m['within_side_std'])} (median {f(m['within_side_std_median'])}) "
        f"unique_per_side={f(m['unique_per_side'])}",
        f"aligned samples={m['n_aligned']} tie_rate={f(m['aligned_tie_rate'])} expected_acc={f(m['expected_acc'])} "
        f"strict={f(m['expected_acc_strict'])}",
        f"mean-score acc={f(m['mean_acc'])} strict={f(m['mean_acc_strict'])} tie_rate={f(m['mean_tie_rate'])} "
        f"over {m['n_mean_pairs']} pairs",
        f"wrong pairs={m['uncertainty']['n_wrong']} buckets={m['uncertainty']['counts']} "
        f"band=[{m['uncertainty']['unc_low']}, {m['uncertainty']['unc_high']}]",
    ]
    for t, v in m["range_rates"].items():
        lines.append(f"range >= {t}: sides {f(v['sides'])} pairs {f(v['pairs'])}")
    return "\n".join(lines)


def write_outputs(result: dict, out_json: Path, plot: bool = True) -> None:
    """Write a variance result: the summary `.log`, histograms `.hist.png` (if `plot`), then the JSON.

    All files are written atomically next to `out_json`; `result["plots"]` records the PNG's path.
    """
    m = result["metrics"]
    with atomic_write(out_json.with_suffix(".log")) as f:
        f.write(format_summary(m) + "\n")
    if plot:
        from grpo_bt_rm.eval.plots import histograms_png

        png = out_json.with_suffix(".hist.png")
        histograms_png({"sampled scores": m["hist_scores"], "within-side std": m["hist_within_side_std"],
                        "wrong pairs: chosen mean": m["uncertainty"]["hist_wrong_chosen"],
                        "wrong pairs: rejected mean": m["uncertainty"]["hist_wrong_rejected"]}, png,
                       title=out_json.stem)
        result["plots"] = {"histograms": str(png)}
    write_json(out_json, result)


def add_metric_args(p: argparse.ArgumentParser) -> None:
    """--range_thresholds, --unc_low, --unc_high (shared with tools/merge_variance_shards.py)."""
    p.add_argument("--range_thresholds", default="10,20,30,40",
                   help="comma-separated score ranges t: report the share of sides whose samples span >= t")
    p.add_argument("--unc_low", type=float, default=None, help="lower edge of the 'unsure' band (default 20%% of scale)")
    p.add_argument("--unc_high", type=float, default=None, help="upper edge of the 'unsure' band (default 80%%)")


def build_argparser() -> argparse.ArgumentParser:
    """variance's flags; `VarianceSettings.from_args` turns the parsed flags into its settings."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.eval.variance", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(p)
    add_data_args(p)
    p.set_defaults(n_pairs=50)
    p.add_argument("--n_samples", type=int_at_least(2), default=8, help="sampled completions per side (>= 2)")
    p.add_argument("--temperature", type=POSITIVE, default=0.7, help="sampling temperature")
    p.add_argument("--top_p", type=float_in(0, 1, low_open=True), default=0.9, help="nucleus sampling mass")
    p.add_argument("--top_k", type=int_at_least(0), default=50, help="top-k sampling, 0 = off")
    p.add_argument("--max_new_tokens", type=COUNT, default=128, help="generation length limit per completion")
    p.add_argument("--batch_pairs", type=COUNT, default=4, help="pairs per engine call (2 * batch_pairs * n_samples)")
    p.add_argument("--seed", type=SEED, default=0, help="seeds python/numpy/torch; batch b uses (seed, b)")
    add_metric_args(p)
    p.add_argument("--shard_id", type=SEED, default=0, help="this process's shard (takes batches b %% num_shards)")
    p.add_argument("--num_shards", type=COUNT, default=1, help="number of shards")
    p.add_argument("--save_jsonl", default=None, help="per-pair samples (completions schema), input of the merge tool")
    p.add_argument("--out_json", default=None, help="result JSON (default: under the base dir)")
    p.add_argument("--no_plot", action="store_true", help="skip the histogram PNG")
    return p


def run(settings: VarianceSettings) -> dict:
    """Sample every side `n_samples` times on this shard's batches and write the variance result.

    Returns:
        The result dict as written, plus `out_json`.

    Raises:
        InputError: no pairs, or a checkpoint that cannot be loaded. KeyError: an unknown prompt or parser.
    """
    start = time.time()
    judge = open_judge(settings)
    records = judge.generate(settings.shard_id, settings.num_shards)
    result = manifest_base(kind="variance", seed=settings.seed, shard_id=settings.shard_id,
                           num_shards=settings.num_shards, **judge.provenance())
    if settings.save_jsonl:
        write_jsonl(settings.save_jsonl, records)
        result["samples"] = {"path": str(settings.save_jsonl), "sha256": sha256_file(settings.save_jsonl)}
    thresholds = settings.thresholds
    result.update(
        metrics=variance_metrics(records, judge.parser, range_thresholds=thresholds, unc_low=settings.unc_low,
                                 unc_high=settings.unc_high),
        prompt={"name": judge.prompt.name, "version": judge.prompt.version},
        parser=judge.parser.describe(),
        settings={**settings.sampling().as_dict(), "response_prefix": judge.response_prefix,
                  "batch_pairs": settings.batch_pairs, "range_thresholds": thresholds,
                  "unc_low": settings.unc_low, "unc_high": settings.unc_high},
        args={**settings.as_dict(), "prompt": judge.prompt.name},  # the flags, with the prompt as resolved
        seconds=round(time.time() - start, 3),
    )
    stem = f"variance_{judge.name}_seed{settings.seed}" + (
        f"_shard{settings.shard_id}of{settings.num_shards}" if settings.num_shards > 1 else "")
    out_json = Path(settings.out_json or default_path("variance", f"{stem}.json"))
    write_outputs(result, out_json, plot=not settings.no_plot)
    result["out_json"] = str(out_json)
    return result


def merge(paths: list[str], parser_name: str, thresholds: list[float], unc_low, unc_high) -> dict:
    """The variance result of several shard files, computed by the same function as a single run."""
    records = read_many(paths)
    idx = [r.get("pair_index") for r in records]
    if None not in idx and len(set(idx)) != len(idx):
        raise InputError(f"shards {paths}: a pair_index appears twice (mixed runs?)")
    parser = get_parser(parser_name)
    return manifest_base(
        kind="variance", merged_from=[{"path": str(p), "sha256": sha256_file(p)} for p in paths],
        metrics=variance_metrics(records, parser, range_thresholds=thresholds, unc_low=unc_low, unc_high=unc_high),
        parser={"name": parser.name, "low": parser.low, "high": parser.high},
        settings={"range_thresholds": thresholds, "unc_low": unc_low, "unc_high": unc_high})


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: measure judge score variance; returns the exit code (2 on bad input)."""
    args = build_argparser().parse_args(argv)
    return run_cli(lambda: _report(run(VarianceSettings.from_args(args))))


def _report(result: dict) -> str:
    return f"{format_summary(result['metrics'])}\nresult: {result['out_json']}"


if __name__ == "__main__":
    sys.exit(main())
