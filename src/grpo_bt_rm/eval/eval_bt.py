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

from grpo_bt_rm.argtypes import COUNT, POSITIVE, SEED, float_in, int_at_least
from grpo_bt_rm.data.adapters import ADAPTERS
from grpo_bt_rm.data.build_dataset import default_prompt, parse_sources, prepare_pairs
from grpo_bt_rm.eval.completions import completion_report, make_record, read_completions, to_pair_scores
from grpo_bt_rm.eval.engine import SamplingSettings, seed_everything
from grpo_bt_rm.eval.metrics import pair_metrics
from grpo_bt_rm.io import (
    CLI_ERRORS,
    InputError,
    atomic_write,
    cli_error,
    manifest_base,
    sha256_file,
    write_json,
    write_jsonl,
)
from grpo_bt_rm.parsing import PARSERS, check_reasoning_tag, get_parser
from grpo_bt_rm.paths import default_path
from grpo_bt_rm.prompts import PROMPTS, get_prompt

log = logging.getLogger("grpo_bt_rm.eval.eval_bt")


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n_samples", type=COUNT, default=1, help="completions per side; a side's score is their mean")
    p.add_argument("--do_sample", action="store_true", help="sample (default: greedy, deterministic)")
    p.add_argument("--temperature", type=POSITIVE, default=0.7, help="sampling temperature (with --do_sample)")
    p.add_argument("--top_p", type=float_in(0, 1, low_open=True), default=0.9, help="nucleus sampling mass (with --do_sample)")
    p.add_argument("--top_k", type=int_at_least(0), default=50, help="top-k sampling, 0 = off (with --do_sample)")
    p.add_argument("--max_new_tokens", type=COUNT, default=128, help="generation length limit per completion")
    p.add_argument("--batch_pairs", type=COUNT, default=8,
                   help="pairs per engine call; each call generates 2 * batch_pairs * n_samples completions")


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run_dir", default=None,
                   help="ms-swift run dir holding args.json (or an output dir of vN-<time>/ runs: the newest wins); "
                   "its base model, template and system prompt are used")
    p.add_argument("--checkpoint", default=None,
                   help="'base' (or checkpoint-0) = the run's base model; checkpoint-N (under --run_dir) or a path "
                   "to a LoRA adapter dir or a full model dir. Anything else is an error")
    p.add_argument("--model", default=None, help="base model dir when there is no args.json (overrides its 'model')")
    p.add_argument("--template", default=None, help="ms-swift template, only when the model has no args.json")
    p.add_argument("--system", default=None, help="system prompt, only when the model has no args.json")
    p.add_argument("--model_type", default=None,
                   help="ms-swift model type (e.g. qwen2), only when the model has no args.json and auto-detection "
                   "is ambiguous")
    p.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), fp32, bf16 or fp16")
    p.add_argument("--device", default=None, help="torch device (default cuda if available, else cpu)")
    p.add_argument("--engine", choices=("transformers", "vllm"), default="transformers",
                   help="generation engine; vllm is optional and GPU only")
    p.add_argument("--response_prefix", default=None,
                   help="assistant pre-fill the judge continues from, as ms-swift --response_prefix (\\n = newline); "
                   "default: the run's args.json. '<s>' makes a base judge start inside the score tag; "
                   "'<think>\\n\\n</think>\\n\\n' turns thinking off for Qwen3-style templates")


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="summarize_from_feedback", help=f"pair source, one of {ADAPTERS.names()}")
    p.add_argument("--split", default=None,
                   help="split (default: validation for summarize_from_feedback, test otherwise)")
    p.add_argument("--data_files", action="extend", nargs="+", default=None, metavar="FILE",
                   help="local raw-format file(s) instead of the hub; several values and repeatable, globs allowed")
    p.add_argument("--n_pairs", type=int_at_least(0), default=500, help="pairs to evaluate (0 = all)")
    p.add_argument("--data_seed", type=SEED, default=0,
                   help="seed that picks the pair subset and which response is side 0 (fixed across --seed)")
    p.add_argument("--prompt", default=None,
                   help="judge prompt (default: the prompt_name in the run's training rows, else the dataset "
                   "family's: hh_score100_v1, score100_v1 or generic_score100_v1); "
                   f"one of {PROMPTS.names()}")
    p.add_argument("--parser", default=None, help=f"score parser (default: the prompt's), one of {PARSERS.names()}")
    p.add_argument("--reasoning_tag", default=None,
                   help="reasoning blocks <TAG>...</TAG> are removed before the score is read (default: think; "
                   "'' = none). A block that never closes gives no score")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.eval.eval_bt", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(p)
    add_data_args(p)
    add_sampling_args(p)
    p.add_argument("--scorer", choices=("generative", "scalar"), default="generative",
                   help="generative: the judge writes scores (default); scalar: a reward model from "
                   "scripts/train_rm.sh, one reward per side (see grpo_bt_rm.eval.scalar)")
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


def default_split(dataset: str) -> str:
    return "validation" if dataset == "summarize_from_feedback" else "test"


def select_pairs(dataset: str, split: str, data_files, n_pairs: int, data_seed: int):
    pairs, stats = prepare_pairs(parse_sources([dataset], data_files), split, seed=data_seed, shuffle=True,
                                 randomize_sides=True, limit=n_pairs or None)
    if not pairs:
        raise InputError(f"--dataset {dataset} --split {split}: no pairs (read {stats.rows} rows)")
    return pairs, stats


def encode_prompt(template, messages: list[dict]) -> list[int]:
    """Token ids of the generation prompt exactly as ms-swift's rollout engine encodes a row."""
    return list(template.encode({"messages": messages})["input_ids"])


def batch_seed(seed: int, batch_index: int) -> int:
    """Each batch is seeded from (seed, its index), so a batch's samples do not depend on which batches ran before
    it: a resumed, sharded or single run generates the same completions for the same batch."""
    return (seed * 1_000_003 + batch_index) % (2**63)


def generate_records(engine, template, pairs, prompt, parser, sampling: SamplingSettings, batch_pairs: int,
                     seed: int = 0, shard_id: int = 0, num_shards: int = 1):
    """Records for pairs in batches of `batch_pairs`; with shards, this process takes batches b % num_shards.

    Batches are formed over the pairs ordered by prompt length (longest side, ties by input order), so a batch's
    prompts need little left padding; records come back in input order, each with its input `pair_index`.
    Each completion is stored as the whole assistant text, prefix + continuation (the template's response prefix,
    see `grpo_bt_rm.prompts.prefill`), with its truncation flag."""
    import torch
    from tqdm.auto import tqdm

    from grpo_bt_rm.prompts.prefill import response_prefix_of

    ids = [(encode_prompt(template, prompt.render(pr.context, pr.response_0)),
            encode_prompt(template, prompt.render(pr.context, pr.response_1))) for pr in pairs]
    order = sorted(range(len(pairs)), key=lambda i: (max(len(ids[i][0]), len(ids[i][1])), i))
    batches = [order[b:b + batch_pairs] for b in range(0, len(order), batch_pairs)]
    mine = [b for b in range(len(batches)) if b % num_shards == shard_id]
    records = []
    prefix = response_prefix_of(template) or ""
    bar = tqdm(total=sum(len(batches[b]) for b in mine), desc="pairs", unit="pair")
    for b in mine:
        torch.manual_seed(batch_seed(seed, b))
        # one call for every sample of every side in the batch
        gens = engine.generate([side for i in batches[b] for side in ids[i]], sampling, paired=True)
        for j, i in enumerate(batches[b]):
            pr, g0, g1 = pairs[i], gens[2 * j], gens[2 * j + 1]
            records.append(make_record(pr.key, pr.preferred_side, [prefix + g.text for g in g0],
                                       [prefix + g.text for g in g1], parser, [g.truncated for g in g0],
                                       [g.truncated for g in g1], pair_index=i, source_index=pr.source_index))
        bar.update(len(batches[b]))
    bar.close()
    records.sort(key=lambda r: r["pair_index"])
    return records


def format_summary(m: dict) -> str:
    def f(x):
        return "n/a" if x is None else f"{x:.4f}"

    ci = m["acc_ci95"]
    lines = [
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


def _job_name(ck_name: str, seed: int) -> str:
    return f"eval_{ck_name}_seed{seed}"


def generating_result(completions: str | Path) -> dict | None:
    """The complete eval_bt result that wrote `X.completions.jsonl`, if it sits next to it as `X.json`."""
    from grpo_bt_rm.eval.summary import read_result

    return read_result(sibling_json(completions))


def sibling_json(completions: str | Path) -> Path:
    src = Path(completions)
    return src.with_name(src.name.removesuffix(".jsonl").removesuffix(".completions") + ".json")


def resolve_prompt_name(args: argparse.Namespace) -> tuple[str, str]:
    """(prompt name, where it came from). A --prompt that differs from the training rows' prompt is logged."""
    trained = None
    if getattr(args, "from_completions", None):
        origin = generating_result(args.from_completions)
        if origin and not args.prompt:
            return origin["prompt"]["name"], "the result that wrote the completions"
    if args.run_dir and not getattr(args, "from_completions", None):
        from grpo_bt_rm.eval.loading import resolve_run, training_prompt_name

        trained = training_prompt_name(resolve_run(args.run_dir))
    if args.prompt:
        if trained and trained != args.prompt:
            log.warning("--prompt %s differs from the prompt the run trained on (%s)", args.prompt, trained)
        return args.prompt, "--prompt"
    if trained:
        return trained, "training rows (prompt_name)"
    return default_prompt([args.dataset]), f"default for --dataset {args.dataset}"


def resolve_bt_temp(args: argparse.Namespace) -> float:
    """--bt_temp, else the BT_DELTA_TEMP the run trained with (the run of --from_completions' result), else 1."""
    if args.bt_temp is not None:
        return args.bt_temp
    run_dir = args.run_dir
    if getattr(args, "from_completions", None):
        run_dir = ((generating_result(args.from_completions) or {}).get("run") or {}).get("run_dir")
    if run_dir:
        from grpo_bt_rm.eval.loading import resolve_run, training_bt_temp

        return training_bt_temp(resolve_run(run_dir)) or 1.0
    return 1.0


def reasoning_tag(args: argparse.Namespace, origin: dict | None = None) -> str | None:
    """--reasoning_tag, else the one the result that wrote --from_completions used, else the parser's default."""
    if getattr(args, "reasoning_tag", None) is not None:
        try:
            return check_reasoning_tag(args.reasoning_tag)
        except ValueError as e:
            raise InputError(f"--reasoning_tag: {e}") from None
    return (origin or {}).get("parser", {}).get("reasoning_tag")


def run(args: argparse.Namespace) -> dict:
    if getattr(args, "scorer", "generative") == "scalar":
        from grpo_bt_rm.eval.scalar import run_scalar

        return run_scalar(args)
    start = time.time()
    args.prompt, prompt_source = resolve_prompt_name(args)
    args.bt_temp = resolve_bt_temp(args)
    sampling = SamplingSettings(args.n_samples, args.do_sample, args.temperature, args.top_p, args.top_k,
                                args.max_new_tokens).validate()
    if args.batch_pairs < 1:
        raise InputError(f"--batch_pairs must be >= 1, got {args.batch_pairs}")
    prompt = get_prompt(args.prompt)
    origin = generating_result(args.from_completions) if args.from_completions else None
    parser = get_parser(args.parser or (origin["parser"]["name"] if origin else prompt.parser),
                        reasoning_tag(args, origin))
    seed_everything(args.seed)
    result = manifest_base(kind="eval_bt", seed=args.seed, complete=False)
    if args.from_completions:
        src = Path(args.from_completions)
        records = read_completions(src)
        result["source"] = {"from_completions": str(src), "sha256": sha256_file(src)}
        if origin:  # keep the checkpoint identity so summaries group a rescored result with its checkpoint
            result["source"]["generated_by"] = str(sibling_json(src))
            for key in ("checkpoint", "run", "template", "data"):
                if key in origin:
                    result[key] = origin[key]
        ck_name = src.name.removesuffix(".jsonl").removesuffix(".completions")
        out_json = Path(args.out_json or src.with_name(f"{ck_name}.rescored.json"))
    else:
        records, extra = _generate(args, prompt, parser, sampling)
        result.update(extra)
        ck_name = extra["checkpoint"]["name"]
        run_dir = extra["run"]["run_dir"]
        eval_dir = Path(run_dir) / "eval" if run_dir else default_path("eval")
        out_json = Path(args.out_json or eval_dir / f"{_job_name(ck_name, args.seed)}.json")
    metrics = pair_metrics([to_pair_scores(r, parser) for r in records], bt_temp=args.bt_temp, seed=args.seed,
                           n_boot=args.n_boot, report_margins=args.report_margins,
                           report_uncertainty=args.report_uncertainty, unc_low=args.unc_low, unc_high=args.unc_high,
                           score_range=(parser.low, parser.high))
    report = completion_report(records, parser)
    metrics.update(truncated_rate=report["truncated_rate"], fail_reasons=report["fail_reasons"])
    if args.save_completions and not args.from_completions:
        write_jsonl(args.save_completions, records)
        result["completions"] = {"path": str(args.save_completions), "sha256": sha256_file(args.save_completions)}
    result.update(
        metrics=metrics,
        prompt={"name": prompt.name, "version": prompt.version, "source": prompt_source},
        parser=parser.describe(),
        settings={"response_prefix": result.get("template", {}).get("response_prefix"), "bt_temp": args.bt_temp,
                  "n_boot": args.n_boot, "unc_low": args.unc_low, "unc_high": args.unc_high,
                  "engine": args.engine, "dtype": args.dtype, **sampling.as_dict(), "batch_pairs": args.batch_pairs},
        args=vars(args),
        seconds=round(time.time() - start, 3),
        complete=True,
    )
    summary = format_summary(metrics)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_json.with_suffix(".log")) as f:
        f.write(f"checkpoint: {result.get('checkpoint', result.get('source'))}\nseed: {args.seed}\n{summary}\n")
    if not args.no_plot:
        from grpo_bt_rm.eval.plots import reliability_png

        png = out_json.with_suffix(".reliability.png")
        reliability_png(metrics["calibration_bins"], png, title=ck_name, ece=metrics["ece"])
        result["plots"] = {"reliability": str(png)}
    write_json(out_json, result)  # last: a complete result file means the job finished
    log.info("wrote %s", out_json)
    result["out_json"] = str(out_json)
    result["summary_text"] = summary
    return result


def open_engine(args):
    """Resolve --run_dir/--checkpoint/--model, load the judge and build the engine: (engine, judge, run)."""
    from grpo_bt_rm.eval.engine import TransformersEngine, VllmEngine, stop_token_ids
    from grpo_bt_rm.eval.loading import load_judge, resolve_checkpoint, resolve_run

    if not args.checkpoint:
        raise InputError("--checkpoint is required (base | checkpoint-N | PATH) unless --from_completions is given")
    run = resolve_run(args.run_dir)
    ck = resolve_checkpoint(args.checkpoint, run, args.model)
    vllm = args.engine == "vllm"
    judge = load_judge(ck, run, dtype=args.dtype, device=args.device, model=args.model, template=args.template,
                       system=args.system, model_type=args.model_type, load_model=not vllm,
                       response_prefix=getattr(args, "response_prefix", None))
    stops = stop_token_ids(judge.tokenizer, judge.template)
    if vllm:
        weights = ck.path if ck.kind == "full" else judge.info["weights"]
        engine = VllmEngine(weights, judge.tokenizer, stops, args.dtype if args.dtype != "auto" else "auto",
                            args.seed, lora_path=ck.path if ck.kind == "lora" else None)
    else:
        engine = TransformersEngine(judge.model, judge.tokenizer, stops)
    return engine, judge, run


def warn_prefix(prefix: str | None, prompt, parser) -> None:
    """Log when the response prefix defeats the prompt's order or the parser's position (see prefill.py)."""
    from grpo_bt_rm.prompts.prefill import prefix_warning

    why = prefix_warning(prefix, prompt.order, parser.position)
    if why:
        log.warning("%s (prompt %s, parser %s)", why, prompt.name, parser.name)


def provenance(judge, run, args, split: str, n_pairs: int, stats) -> dict:
    ck = judge.checkpoint
    return {
        "checkpoint": {"name": ck.name, "kind": ck.kind, "path": ck.path, "step": ck.step, **judge.info},
        "run": {"run_dir": str(run.run_dir) if run.run_dir else None,
                "args_json": str(run.args_path) if run.args_path else None},
        "template": judge.settings.as_dict(),
        "data": {"dataset": args.dataset, "split": split, "data_files": args.data_files, "n_pairs": n_pairs,
                 "data_seed": args.data_seed, "load_stats": stats.as_dict()},
    }


def _generate(args, prompt, parser, sampling):
    split = args.split or default_split(args.dataset)
    pairs, stats = select_pairs(args.dataset, split, args.data_files, args.n_pairs, args.data_seed)
    engine, judge, run = open_engine(args)
    warn_prefix(judge.settings.response_prefix, prompt, parser)
    log.info("evaluating %s (%s) on %d pairs of %s/%s with %s, template %s, system from %s", judge.checkpoint.name,
             judge.checkpoint.kind, len(pairs), args.dataset, split, prompt.name, judge.settings.template,
             judge.settings.source)
    records = generate_records(engine, judge.template, pairs, prompt, parser, sampling, args.batch_pairs,
                               args.seed)
    return records, provenance(judge, run, args, split, len(pairs), stats)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = make_parser().parse_args(argv)
    try:
        result = run(args)
    except CLI_ERRORS as e:
        return cli_error(e)
    print(result["summary_text"])
    print(f"result: {result['out_json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
