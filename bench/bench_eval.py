"""Scoring throughput (pairs/s) of the batched eval engine against one-pair-at-a-time generation, in one run.

    python bench/bench_eval.py [--pairs 32 --n_samples 4 --batch_pairs 16 --max_new_tokens 32 --json_out x.json]

Builds the tiny random-weight Qwen2 (or uses --model), loads it through the same path as eval_bt (ms-swift loader
and template), and times three schedules over the same pairs with the same sampling settings:
  batched  - eval_bt's engine: all samples of `batch_pairs` pairs in one generate call;
  per_pair - one generate call per pair (both sides, all samples);
  per_completion - one generate call per completion (the naive loop; on the first --naive_pairs pairs).
Then the cost of recording the ten digit log-probabilities at every step (what `--scoring expected` reads; the
engine always records them): the batched schedule with and without the recorder, alternated --repeats times,
as the ratio of the medians.
A random model never emits EOS, so every completion is exactly --max_new_tokens long and the work is equal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT, int_at_least


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING)
    p = argparse.ArgumentParser(prog="bench/bench_eval.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model dir (default: build the tiny random Qwen2 in a temp dir)")
    p.add_argument("--pairs", type=COUNT, default=32, help="pairs scored per schedule")
    p.add_argument("--n_samples", type=COUNT, default=4, help="sampled completions per side")
    p.add_argument("--batch_pairs", type=COUNT, default=16, help="pairs per call for the batched schedule")
    p.add_argument("--max_new_tokens", type=COUNT, default=32, help="tokens per completion")
    p.add_argument("--naive_pairs", type=int_at_least(0), default=8,
                   help="pairs for the per-completion loop (slowest; its rate is per pair, so comparable); 0 = skip")
    p.add_argument("--repeats", type=COUNT, default=3, help="alternations of recorder on / off (default 3)")
    p.add_argument("--json_out", default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)

    import torch

    import grpo_bt_rm
    from grpo_bt_rm.eval.engine import SamplingSettings, TransformersEngine, stop_token_ids
    from grpo_bt_rm.eval.judge import generate_records, select_pairs
    from grpo_bt_rm.eval.loading import RunInfo, load_judge, resolve_checkpoint
    from grpo_bt_rm.parsing import get_parser
    from grpo_bt_rm.prompts import get_prompt
    from grpo_bt_rm.testing.tiny import build_tiny

    hh_sample = Path(grpo_bt_rm.__file__).parent / "data" / "samples" / "hh_sample.jsonl"  # repeated to --pairs

    tmp = tempfile.TemporaryDirectory()
    model_dir = args.model or str(build_tiny(Path(tmp.name) / "tiny"))
    ck = resolve_checkpoint("base", RunInfo(None), model=model_dir)
    judge = load_judge(ck, RunInfo(None), dtype="fp32", template="qwen2_5", system="You are a careful judge.",
                       model_type="qwen2")
    engine = TransformersEngine(judge.model, judge.tokenizer, stop_token_ids(judge.tokenizer, judge.template))
    judge.model.generation_config.min_new_tokens = args.max_new_tokens  # never stop early: equal work everywhere
    base, _ = select_pairs("anthropic_hh", "sample", [str(hh_sample)], 0, 0)
    pairs = (base * (args.pairs // len(base) + 1))[:args.pairs]
    prompt, parser = get_prompt("hh_score100_v1"), get_parser("score100_first")
    s = SamplingSettings(args.n_samples, True, 1.0, 1.0, 0, args.max_new_tokens)

    def timed(batch_pairs):
        t0 = time.perf_counter()
        generate_records(engine, judge.template, pairs, prompt, parser, s, batch_pairs, seed=0)
        return time.perf_counter() - t0

    load_before = os.getloadavg()[0]
    timed(2)  # warm-up
    out = {"pairs": args.pairs, "n_samples": args.n_samples, "max_new_tokens": args.max_new_tokens,
           "batch_pairs": args.batch_pairs, "torch_threads": torch.get_num_threads(), "cpu": platform.processor()
           or platform.machine(), "model": "tiny random Qwen2 (hidden 64, 2 layers)" if not args.model else args.model}
    t_batched = timed(args.batch_pairs)
    t_pair = timed(1)
    out.update(batched_s=t_batched, per_pair_s=t_pair, batched_pairs_per_s=args.pairs / t_batched,
               per_pair_pairs_per_s=args.pairs / t_pair, speedup_vs_per_pair=t_pair / t_batched)
    if args.naive_pairs:
        one = SamplingSettings(1, True, 1.0, 1.0, 0, args.max_new_tokens)
        t0 = time.perf_counter()
        for pr in pairs[:args.naive_pairs]:
            for response in (pr.response_0, pr.response_1):
                ids = judge.template.encode({"messages": prompt.render(pr.context, response)})["input_ids"]
                for _ in range(args.n_samples):
                    engine.generate([list(ids)], one)
        t_naive = time.perf_counter() - t0
        rate = min(args.naive_pairs, args.pairs) / t_naive
        out.update(per_completion_pairs=min(args.naive_pairs, args.pairs), per_completion_s=t_naive,
                   per_completion_pairs_per_s=rate, speedup_vs_per_completion=out["batched_pairs_per_s"] / rate)
    digit_ids, on, off = engine.digit_ids, [], []
    for _ in range(args.repeats):
        engine.digit_ids = digit_ids
        on.append(timed(args.batch_pairs))
        engine.digit_ids = None
        off.append(timed(args.batch_pairs))
    engine.digit_ids = digit_ids
    out.update(digit_logprobs_recorded=digit_ids is not None, recorder_on_s=on, recorder_off_s=off,
               recorder_cost_ratio=statistics.median(on) / statistics.median(off))
    out["load_avg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # other processes on the machine
    print(json.dumps(out, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2) + "\n")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
