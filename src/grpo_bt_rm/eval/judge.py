"""Open a judge for evaluation: resolve prompt and parser, select the pairs, load the model and its engine.

    judge = open_judge(EvalSettings.from_args(args))   # model loaded, pairs selected, provenance recorded
    records = judge.generate()                          # completions schema, one record per pair

eval_bt and variance are thin commands over this. Prompts go through the ms-swift template and system prompt
recorded in the run's args.json, exactly as the GRPO rollout encodes them (`encode_prompt`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpo_bt_rm.data.build_dataset import default_prompt, parse_sources, prepare_pairs
from grpo_bt_rm.eval.completions import make_record
from grpo_bt_rm.eval.engine import SamplingSettings, seed_everything
from grpo_bt_rm.eval.settings import JudgeSettings
from grpo_bt_rm.io import InputError
from grpo_bt_rm.parsing import ScoreParser, get_parser
from grpo_bt_rm.prompts import PromptSpec, get_prompt

log = logging.getLogger(__name__)


def select_pairs(dataset: str, split: str, data_files, n_pairs: int, data_seed: int):
    """The seeded subset of pairs a judge is evaluated on: shuffled, sides drawn from `data_seed`.

    Args:
        dataset: adapter name; split: its split; data_files: local raw files (None = the hub).
        n_pairs: how many pairs (0 = all); data_seed: picks the subset and which response is side 0.

    Returns:
        (pairs, load stats).

    Raises:
        InputError: no pair could be read.
    """
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
                     seed: int = 0, shard_id: int = 0, num_shards: int = 1) -> list[dict]:
    """Records for pairs in batches of `batch_pairs`; with shards, this process takes batches b % num_shards.

    Batches are formed over the pairs ordered by prompt length (longest side, ties by input order), so a batch's
    prompts need little left padding; records come back in input order, each with its input `pair_index`.
    Each completion is stored as the whole assistant text, prefix + continuation (the template's response prefix,
    see `grpo_bt_rm.prompts.prefill`), with its truncation flag and, where the engine records them, its digit
    log-probabilities (offsets into that whole text).

    Returns:
        One completions-schema record per pair of this shard, sorted by `pair_index`.
    """
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
                                       [g.truncated for g in g1], _shifted_digits(g0, len(prefix)),
                                       _shifted_digits(g1, len(prefix)), pair_index=i,
                                       source_index=pr.source_index))
        bar.update(len(batches[b]))
    bar.close()
    records.sort(key=lambda r: r["pair_index"])
    return records


def _shifted_digits(gens, offset: int) -> list | None:
    """The samples' digit log-probabilities with offsets into prefix + text, or None when none were recorded."""
    if any(g.digits is None for g in gens):
        return None
    return [[(end + offset, lps) for end, lps in g.digits] for g in gens]


def sibling_json(completions: str | Path) -> Path:
    """`X.completions.jsonl` -> `X.json`, the result file eval_bt writes beside its completions."""
    src = Path(completions)
    return src.with_name(src.name.removesuffix(".jsonl").removesuffix(".completions") + ".json")


def generating_result(completions: str | Path) -> dict | None:
    """The complete eval_bt result that wrote `X.completions.jsonl`, if it sits next to it as `X.json`."""
    from grpo_bt_rm.eval.summary import read_result

    return read_result(sibling_json(completions))


def resolve_prompt_name(settings: JudgeSettings) -> tuple[str, str]:
    """The judge prompt and where it came from, in this order: --prompt; the result that wrote
    --from_completions; the prompt_name in the run's training rows; the dataset family's default.

    Returns:
        (prompt name, its source in words). A --prompt that differs from the training rows' prompt is logged.
    """
    from_completions = getattr(settings, "from_completions", None)
    trained = None
    if from_completions:
        origin = generating_result(from_completions)
        if origin and not settings.prompt:
            return origin["prompt"]["name"], "the result that wrote the completions"
    if settings.run_dir and not from_completions:
        from grpo_bt_rm.eval.loading import resolve_run, training_prompt_name

        trained = training_prompt_name(resolve_run(settings.run_dir))
    if settings.prompt:
        if trained and trained != settings.prompt:
            log.warning("--prompt %s differs from the prompt the run trained on (%s)", settings.prompt, trained)
        return settings.prompt, "--prompt"
    if trained:
        return trained, "training rows (prompt_name)"
    return default_prompt([settings.dataset]), f"default for --dataset {settings.dataset}"


def resolve_parser(settings: JudgeSettings, prompt: PromptSpec, origin: dict | None = None) -> ScoreParser:
    """--parser, else the parser of the result that wrote the completions (`origin`), else the prompt's; with
    --reasoning_tag, else the origin's tag, else the parser's default.

    Raises:
        KeyError: an unknown parser name (the message lists the registered ones).
    """
    tag = settings.reasoning_tag
    if tag is None:
        tag = (origin or {}).get("parser", {}).get("reasoning_tag")
    return get_parser(settings.parser or (origin["parser"]["name"] if origin else prompt.parser), tag)


def open_engine(settings: JudgeSettings):
    """Resolve --run_dir/--checkpoint/--model, load the judge and build the engine.

    Returns:
        (engine, loaded judge (`loading.Judge`), run info).

    Raises:
        InputError: no --checkpoint, or a checkpoint/run that cannot be resolved or loaded.
    """
    from grpo_bt_rm.eval.engine import TransformersEngine, VllmEngine, stop_token_ids
    from grpo_bt_rm.eval.loading import load_judge, resolve_checkpoint, resolve_run

    if not settings.checkpoint:
        raise InputError("--checkpoint is required (base | checkpoint-N | PATH) unless --from_completions is given")
    run = resolve_run(settings.run_dir)
    ck = resolve_checkpoint(settings.checkpoint, run, settings.model)
    vllm = settings.engine == "vllm"
    loaded = load_judge(ck, run, dtype=settings.dtype, device=settings.device, model=settings.model,
                        template=settings.template, system=settings.system, model_type=settings.model_type,
                        load_model=not vllm, response_prefix=settings.response_prefix)
    stops = stop_token_ids(loaded.tokenizer, loaded.template)
    if vllm:
        weights = ck.path if ck.kind == "full" else loaded.info["weights"]
        engine = VllmEngine(weights, loaded.tokenizer, stops, settings.dtype, settings.seed,
                            lora_path=ck.path if ck.kind == "lora" else None)
    else:
        engine = TransformersEngine(loaded.model, loaded.tokenizer, stops)
    return engine, loaded, run


def warn_prefix(prefix: str | None, prompt: PromptSpec, parser: ScoreParser) -> None:
    """Log when the response prefix defeats the prompt's order or the parser's position (see prefill.py)."""
    from grpo_bt_rm.prompts.prefill import prefix_warning

    why = prefix_warning(prefix, prompt.order, parser.position)
    if why:
        log.warning("%s (prompt %s, parser %s)", why, prompt.name, parser.name)


def provenance(loaded, run, settings: JudgeSettings, split: str, n_pairs: int, stats) -> dict:
    """The result's checkpoint, run, template and data sections, shared by the judge and the scalar scorer.

    Args:
        loaded: the loaded model (`checkpoint`, `info`, `settings` with `as_dict()`).
        run: the resolved run (`run_dir`, `args_path`).
        settings: the command's settings (dataset, data_files, data_seed).
        split, n_pairs, stats: the split read, the pairs scored and the loader's drop counts.
    """
    ck = loaded.checkpoint
    return {
        "checkpoint": {"name": ck.name, "kind": ck.kind, "path": ck.path, "step": ck.step, **loaded.info},
        "run": {"run_dir": str(run.run_dir) if run.run_dir else None,
                "args_json": str(run.args_path) if run.args_path else None},
        "template": loaded.settings.as_dict(),
        "data": {"dataset": settings.dataset, "split": split,
                 "data_files": list(settings.data_files) if settings.data_files is not None else None,
                 "n_pairs": n_pairs, "data_seed": settings.data_seed, "load_stats": stats.as_dict()},
    }


@dataclass(frozen=True)
class OpenJudge:
    """A judge ready to score pairs: the loaded model and engine, the selected pairs, the resolved prompt and
    parser. Built by `open_judge`; `generate` runs it, `provenance` says what was evaluated."""

    settings: JudgeSettings
    prompt: PromptSpec
    prompt_source: str
    parser: ScoreParser
    split: str
    pairs: list
    stats: Any  # data load stats (`.as_dict()`)
    engine: Any
    loaded: Any  # grpo_bt_rm.eval.loading.Judge: model, tokenizer, template, checkpoint, settings, info
    run: Any  # grpo_bt_rm.eval.loading.RunInfo

    @property
    def name(self) -> str:
        """The checkpoint's name (base, checkpoint-N or a directory name)."""
        return self.loaded.checkpoint.name

    @property
    def response_prefix(self) -> str | None:
        """The assistant pre-fill text the judge's answers start with, or None."""
        return self.loaded.settings.response_prefix

    def generate(self, shard_id: int = 0, num_shards: int = 1) -> list[dict]:
        """Completions for this shard's batches of the selected pairs (see `generate_records`)."""
        s = self.settings
        return generate_records(self.engine, self.loaded.template, self.pairs, self.prompt, self.parser,
                                s.sampling(), s.batch_pairs, s.seed, shard_id, num_shards)

    def provenance(self) -> dict:
        """checkpoint (name, kind, path, step, weights, dtype, device, fingerprint), run, template and data."""
        return provenance(self.loaded, self.run, self.settings, self.split, len(self.pairs), self.stats)


def open_judge(settings: JudgeSettings) -> OpenJudge:
    """Resolve prompt and parser, seed everything, select the pairs, then load the model and its engine.

    Args:
        settings: the command's settings (`EvalSettings`, `VarianceSettings`).

    Returns:
        An `OpenJudge`; nothing has been generated yet.

    Raises:
        InputError: no pairs, a missing --checkpoint, or a run/checkpoint that cannot be loaded.
        KeyError: an unknown prompt or parser name.
    """
    name, source = resolve_prompt_name(settings)
    prompt = get_prompt(name)
    parser = resolve_parser(settings, prompt)
    seed_everything(settings.seed)
    split = settings.default_split()
    pairs, stats = select_pairs(settings.dataset, split, settings.data_files, settings.n_pairs, settings.data_seed)
    engine, loaded, run = open_engine(settings)
    judge = OpenJudge(settings, prompt, source, parser, split, pairs, stats, engine, loaded, run)
    warn_prefix(judge.response_prefix, prompt, parser)
    log.info("evaluating %s (%s) on %d pairs of %s/%s with %s, template %s, system from %s", judge.name,
             loaded.checkpoint.kind, len(pairs), settings.dataset, split, prompt.name, loaded.settings.template,
             loaded.settings.source)
    return judge


def resolve_bt_temp(settings) -> float:
    """--bt_temp, else the BT_DELTA_TEMP the run trained with (the run of --from_completions' result), else 1."""
    if settings.bt_temp is not None:
        return settings.bt_temp
    run_dir = settings.run_dir
    if settings.from_completions:
        run_dir = ((generating_result(settings.from_completions) or {}).get("run") or {}).get("run_dir")
    if run_dir:
        from grpo_bt_rm.eval.loading import resolve_run, training_bt_temp

        return training_bt_temp(resolve_run(run_dir)) or 1.0
    return 1.0
