"""Evaluate a judge checkpoint on preference pairs: accuracy (acc_all / acc_parsed), ties, BT log-loss, ECE, CI.

    python -m grpo_bt_rm.eval.eval_bt --run_dir RUN --checkpoint checkpoint-200 --dataset anthropic_hh \\
        --split test --data_files raw/test.jsonl --n_pairs 500 --prompt hh_score100_v1 --bt_temp 20 \\
        --out_json RUN/eval/ck200_seed0.json --save_completions RUN/eval/ck200_seed0.completions.jsonl
    python -m grpo_bt_rm.eval.eval_bt --from_completions RUN/eval/ck200_seed0.completions.jsonl --bt_temp 10

Prompts go through the ms-swift template and system prompt recorded in RUN/args.json (as the GRPO rollout does).
Writes the JSON result (atomically), a readable `.log` next to it and a reliability-diagram PNG.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT, SEED
from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.eval.completions import check_scoring, completion_report, read_completions, to_pair_scores
from grpo_bt_rm.eval.engine import seed_everything
from grpo_bt_rm.eval.judge import (
    generating_result,
    open_judge,
    resolve_bt_temp,
    resolve_parser,
    resolve_prompt_name,
    sibling_json,
)
from grpo_bt_rm.eval.metrics import format_summary, pair_metrics
from grpo_bt_rm.eval.settings import EvalSettings, add_data_args, add_model_args, add_sampling_args
from grpo_bt_rm.io import InputError, atomic_write, manifest_base, sha256_file, write_json, write_jsonl
from grpo_bt_rm.paths import default_path
from grpo_bt_rm.prompts import get_prompt

log = logging.getLogger(__name__)
FALLBACK_WARN = 0.01  # --scoring expected: warn when more than this share of scored samples kept the text score


def build_argparser() -> argparse.ArgumentParser:
    """eval_bt's flags; `EvalSettings.from_args` turns the parsed flags into its settings."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.eval.eval_bt", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(p)
    add_data_args(p)
    add_sampling_args(p)
    p.add_argument("--scorer", choices=("generative", "scalar"), default="generative",
                   help="generative: the judge writes scores (default); scalar: a reward model from "
                   "scripts/train_rm.sh, one reward per side (see grpo_bt_rm.eval.scalar)")
    p.add_argument("--scoring", choices=("text", "expected"), default="text",
                   help="text: each sample's score as written (default); expected: its last digit replaced by the "
                   "judge's expected digit at that step, a probability-weighted tie-break (G-Eval; see "
                   "grpo_bt_rm.eval.expected_score). Needs --engine transformers, or a completions file it wrote")
    p.add_argument("--seed", type=SEED, default=0, help="seeds python, numpy, torch and the bootstrap")
    p.add_argument("--bt_temp", type=float, default=None,
                   help="BT temperature T in softplus(-d/T) and sigmoid(d/T) (default: the run's BT_DELTA_TEMP from "
                   "its bt_reward_settings.json, else 1)")
    p.add_argument("--report_margins", action="store_true", help="percentiles of d and loss (all/correct/wrong)")
    p.add_argument("--report_uncertainty", action="store_true",
                   help="wrong-pair buckets by whether the side scores lie in [unc_low, unc_high], with histograms")
    p.add_argument("--unc_low", type=float, default=None, help="lower edge of the 'unsure' band (default 20%% of scale)")
    p.add_argument("--unc_high", type=float, default=None, help="upper edge of the 'unsure' band (default 80%%)")
    p.add_argument("--n_boot", type=COUNT, default=1000, help="bootstrap resamples for acc_ci95")
    p.add_argument("--out_json", default=None,
                   help="result JSON (default RUN/eval/eval_<ckpt>_seed<seed>.json, or under the base dir)")
    p.add_argument("--save_completions", default=None,
                   help="write per-pair raw completions + parsed scores as JSONL (input of --from_completions)")
    p.add_argument("--from_completions", default=None,
                   help="recompute every metric from a saved completions file; no model is loaded")
    p.add_argument("--no_plot", action="store_true", help="skip the reliability-diagram PNG")
    return p




def _job_name(ck_name: str, seed: int) -> str:
    return f"eval_{ck_name}_seed{seed}"




def _rescore(settings: EvalSettings, result: dict):
    """--from_completions: (records, prompt, prompt source, parser, out_json, name); fills `result`'s source and
    the generating result's checkpoint identity, so summaries group a rescored result with its checkpoint."""
    src = Path(settings.from_completions)
    name, source = resolve_prompt_name(settings)
    prompt = get_prompt(name)
    origin = generating_result(src)
    parser = resolve_parser(settings, prompt, origin)
    seed_everything(settings.seed)
    records = read_completions(src, settings.scoring)
    result["source"] = {"from_completions": str(src), "sha256": sha256_file(src)}
    if origin:
        result["source"]["generated_by"] = str(sibling_json(src))
        for key in ("checkpoint", "run", "template", "data"):
            if key in origin:
                result[key] = origin[key]
    ck_name = src.name.removesuffix(".jsonl").removesuffix(".completions")
    out_json = Path(settings.out_json or src.with_name(f"{ck_name}.rescored.json"))
    return records, prompt, source, parser, out_json, ck_name


def run(settings: EvalSettings) -> dict:
    """Evaluate (or, with --from_completions, rescore) and write the result JSON, its .log and the reliability PNG.

    Returns:
        The result dict as written, plus `out_json` (its path) and `summary_text` (the report).

    Raises:
        InputError: unreadable data or completions, a checkpoint that cannot be loaded, no pairs.
        KeyError: an unknown prompt or parser.
    """
    if settings.scorer == "scalar":
        from grpo_bt_rm.eval.scalar import run_scalar

        return run_scalar(settings)
    start = time.time()
    bt_temp = resolve_bt_temp(settings)
    result = manifest_base(kind="eval_bt", seed=settings.seed, complete=False)
    if settings.from_completions:
        records, prompt, prompt_source, parser, out_json, ck_name = _rescore(settings, result)
    else:
        judge = open_judge(settings)
        if settings.scoring == "expected" and getattr(judge.engine, "digit_ids", None) is None:
            raise InputError(f"--scoring expected: the tokenizer of {judge.name} does not write each digit 0-9 as a "
                             "token of its own, so there is no per-digit distribution to read; use --scoring text")
        prompt, prompt_source, parser = judge.prompt, judge.prompt_source, judge.parser
        records = judge.generate()
        check_scoring(records, settings.scoring)
        result.update(judge.provenance())
        ck_name = judge.name
        run_dir = result["run"]["run_dir"]
        eval_dir = Path(run_dir) / "eval" if run_dir else default_path("eval")
        out_json = Path(settings.out_json or eval_dir / f"{_job_name(ck_name, settings.seed)}.json")
    metrics = pair_metrics([to_pair_scores(r, parser, settings.scoring) for r in records], bt_temp=bt_temp,
                           seed=settings.seed, n_boot=settings.n_boot, report_margins=settings.report_margins,
                           report_uncertainty=settings.report_uncertainty, unc_low=settings.unc_low,
                           unc_high=settings.unc_high, score_range=(parser.low, parser.high))
    report = completion_report(records, parser, settings.scoring)
    metrics.update(truncated_rate=report["truncated_rate"], fail_reasons=report["fail_reasons"],
                   scoring=settings.scoring)
    if "expected_fallbacks" in report:
        metrics["expected_fallbacks"] = report["expected_fallbacks"]
        scored = report["n_completions"] - sum(report["fail_reasons"].values())
        if scored and report["expected_fallbacks"] > FALLBACK_WARN * scored:
            log.warning("--scoring expected: %d of %d scored samples kept their text score (their number did not "
                        "end in a single-digit token, or was a lone digit on a multi-digit scale); the figures mix "
                        "the two readouts that much (metrics.expected_fallbacks)", report["expected_fallbacks"],
                        scored)
    if settings.save_completions and not settings.from_completions:
        write_jsonl(settings.save_completions, records)
        result["completions"] = {"path": str(settings.save_completions),
                                 "sha256": sha256_file(settings.save_completions)}
    result.update(
        metrics=metrics,
        prompt={"name": prompt.name, "version": prompt.version, "source": prompt_source},
        parser=parser.describe(),
        settings={"response_prefix": result.get("template", {}).get("response_prefix"), "bt_temp": bt_temp,
                  "scoring": settings.scoring,
                  "n_boot": settings.n_boot, "unc_low": settings.unc_low, "unc_high": settings.unc_high,
                  "engine": settings.engine, "dtype": settings.dtype, **settings.sampling().as_dict(),
                  "batch_pairs": settings.batch_pairs},
        # the flags as given, with the prompt and bt_temp as resolved (the sweep compares these)
        args={**settings.as_dict(), "prompt": prompt.name, "bt_temp": bt_temp},
        seconds=round(time.time() - start, 3),
        complete=True,
    )
    summary = format_summary(metrics)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_json.with_suffix(".log")) as f:
        f.write(f"checkpoint: {result.get('checkpoint', result.get('source'))}\nseed: {settings.seed}\n{summary}\n")
    if not settings.no_plot:
        from grpo_bt_rm.eval.plots import reliability_png

        png = out_json.with_suffix(".reliability.png")
        reliability_png(metrics["calibration_bins"], png, title=ck_name, ece=metrics["ece"])
        result["plots"] = {"reliability": str(png)}
    write_json(out_json, result)  # last: a complete result file means the job finished
    log.info("wrote %s", out_json)
    result["out_json"] = str(out_json)
    result["summary_text"] = summary
    return result


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: evaluate a judge on preference pairs; returns the exit code (2 on bad input)."""
    args = build_argparser().parse_args(argv)
    return run_cli(lambda: _report(run(EvalSettings.from_args(args))))


def _report(result: dict) -> str:
    return f"{result['summary_text']}\nresult: {result['out_json']}"


if __name__ == "__main__":
    sys.exit(main())
