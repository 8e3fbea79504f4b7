"""`eval_bt --scorer scalar`: score a scalar BT reward model (scripts/train_rm.sh) on the same pairs as the judge.

    python -m grpo_bt_rm.eval.eval_bt --scorer scalar --checkpoint RUN/v0-.../checkpoint-300 \\
        --dataset anthropic_hh --split test --data_files raw/test.jsonl --n_pairs 500 --out_json rm_seed0.json

Each side gets one reward r (the value head on the last token of the conversation, encoded by the run's ms-swift
template exactly as `swift rlhf --rlhf_type rm` encoded training rows); d = r_preferred - r_other. The metrics are
`eval.metrics.pair_metrics` with bt_temp = --bt_temp (default 1: the RM was trained on sigmoid(r_c - r_r)), plus
`fitted_bt_temp` / `logloss_fitted` (the temperature minimising the log-loss on these pairs: in-sample, a calibration
diagnostic). The result JSON is eval_bt's (kind eval_bt, same metrics), with `scorer: "scalar"`, so summaries and
sweeps read it unchanged.

Loading (ms-swift's loader with task_type seq_cls, num_labels 1, as training): a LoRA checkpoint must carry the value
head in its adapter (ms-swift saves it via modules_to_save); a full checkpoint must be a *ForSequenceClassification
model with num_labels 1 and its score weights. Anything else (including `base`) is an InputError: a randomly
initialised head is never scored silently.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

from grpo_bt_rm.eval.loading import Checkpoint, Judge
from grpo_bt_rm.eval.settings import EvalSettings
from grpo_bt_rm.io import InputError

log = logging.getLogger(__name__)

HEAD_NAMES = ("score", "v_head", "classifier")  # ms-swift's modules_to_save for seq_cls


def _weight_keys(directory: Path, stem: str) -> list[str]:
    """Tensor names in `<stem>.safetensors` or its sharded index (empty when there is neither)."""
    index = directory / f"{stem}.safetensors.index.json"
    if index.is_file():
        return list(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}))
    f = directory / f"{stem}.safetensors"
    if not f.is_file():
        return []
    from safetensors import safe_open

    with safe_open(str(f), framework="pt") as g:
        return list(g.keys())


def _is_head(key: str) -> bool:
    return any(f"{h}." in key.split("model.")[-1] or key.startswith(f"{h}.") for h in HEAD_NAMES)


def check_value_head(ck: Checkpoint) -> list[str]:
    """The value-head tensor names a checkpoint carries; InputError (naming the file and field) when it has none.

    Raises:
        InputError: `base`; a LoRA adapter that is not SEQ_CLS or saved no head; a full model that is not a
            one-label sequence classifier or lacks the head weights.
    """
    d = Path(ck.path)
    if ck.kind == "base":
        raise InputError(f"--scorer scalar --checkpoint {ck.name}: the base model has no trained value head; "
                         "pass a reward-model checkpoint from scripts/train_rm.sh")
    if ck.kind == "lora":
        cfg = json.loads((d / "adapter_config.json").read_text(encoding="utf-8"))
        if cfg.get("task_type") != "SEQ_CLS":
            raise InputError(f"{d / 'adapter_config.json'}: field 'task_type' is {cfg.get('task_type')!r}, not "
                             "'SEQ_CLS': not a reward-model adapter (a judge LoRA? use --scorer generative)")
        heads = [k for k in _weight_keys(d, "adapter_model") if _is_head(k)]
        if not heads:
            raise InputError(f"{d}: LoRA adapter without its value head (no {'/'.join(HEAD_NAMES)} tensor in "
                             "adapter_model.safetensors; modules_to_save was lost): refusing to score a random head")
        return heads
    cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
    arch = cfg.get("architectures") or []
    n_labels = len(cfg.get("id2label") or {}) or cfg.get("num_labels")
    if not any(a.endswith("ForSequenceClassification") for a in arch) or n_labels != 1:
        raise InputError(f"{d / 'config.json'}: field 'architectures' {arch} with {n_labels} labels: not a scalar "
                         "reward model (*ForSequenceClassification, num_labels 1)")
    heads = [k for k in _weight_keys(d, "model") if _is_head(k)]
    if not heads:
        raise InputError(f"{d}: no value-head weights ({'/'.join(HEAD_NAMES)}) in model.safetensors")
    return heads


def load_reward_model(ck: Checkpoint, run, *, dtype: str = "auto", device: str | None = None,
                      model: str | None = None, template: str | None = None, system: str | None = None,
                      model_type: str | None = None) -> Judge:
    """Load a scalar RM checkpoint with ms-swift's seq_cls loader and the run's template (in rlhf mode).

    Raises:
        InputError: see `check_value_head`; also a base model ms-swift cannot type, or a head that did not load.
    """
    import torch

    from grpo_bt_rm.eval.loading import build_template, load_base

    heads = check_value_head(ck)
    run, settings, m, tok, info = load_base(ck, run, dtype=dtype, device=device, model=model, template=template,
                                            system=system, model_type=model_type, task_type="seq_cls", num_labels=1)
    if ck.kind == "lora":
        from peft import PeftModel
        from safetensors.torch import load_file

        m = PeftModel.from_pretrained(m, ck.path).merge_and_unload()
        saved = load_file(str(Path(ck.path) / "adapter_model.safetensors"))[heads[0]]
        loaded = m.get_parameter(heads[0].removeprefix("base_model.model."))
        # compare in the dtype the model was loaded in (bf16 on a GPU, the saved head often fp32): casting the
        # loaded weights up instead would report a correctly loaded bf16 head as missing
        if not torch.equal(loaded.detach().cpu(), saved.to(loaded.dtype)):
            raise InputError(f"{ck.path}: the adapter's value head ({heads[0]}) did not load into the model")
    m.eval()
    tmpl = build_template(tok, settings, run.args)
    tmpl.set_mode("rlhf")  # chosen/rejected rows encoded as training encoded them
    info["value_head"] = heads
    return Judge(m, tok, tmpl, ck, settings, info)


def encode_pair(template, pair) -> tuple[list[int], list[int]]:
    """Token ids of (side 0, side 1): the context as one user turn, each response as the assistant reply (the
    layout of `grpo_bt_rm.data.rm` rows), through ms-swift's RM encoding."""
    enc = template.encode({"messages": [{"role": "user", "content": pair.context},
                                        {"role": "assistant", "content": pair.response_0}],
                           "rejected_response": pair.response_1})
    return list(enc["chosen_input_ids"]), list(enc["rejected_input_ids"])


def score_pairs(rm: Judge, pairs, batch_pairs: int = 8) -> list[tuple[float, float]]:
    """(r_side0, r_side1) per pair, in input order. Sequences are batched by length, right-padded with the pad
    token (as ms-swift's collator pads RM batches), and read from the head's pooled output `logits[:, 0]`."""
    import torch
    from tqdm.auto import tqdm

    seqs = [ids for p in pairs for ids in encode_pair(rm.template, p)]
    order = sorted(range(len(seqs)), key=lambda i: (len(seqs[i]), i))
    pad = rm.tokenizer.pad_token_id
    dev = next(rm.model.parameters()).device
    rewards = [0.0] * len(seqs)
    step = 2 * batch_pairs
    for b in tqdm(range(0, len(order), step), desc="rm batches", unit="batch"):
        idx = order[b:b + step]
        width = max(len(seqs[i]) for i in idx)
        ids = torch.tensor([seqs[i] + [pad] * (width - len(seqs[i])) for i in idx], device=dev)
        mask = torch.tensor([[1] * len(seqs[i]) + [0] * (width - len(seqs[i])) for i in idx], device=dev)
        with torch.no_grad():
            out = rm.model(input_ids=ids, attention_mask=mask).logits[:, 0].float().cpu().tolist()
        for i, r in zip(idx, out):
            rewards[i] = r
    bad = [i for i, r in enumerate(rewards) if not math.isfinite(r)]
    if bad:
        raise ValueError(f"non-finite reward for pair {pairs[bad[0] // 2].key}")
    return [(rewards[2 * k], rewards[2 * k + 1]) for k in range(len(pairs))]


def fit_temperature(d: list[float]) -> float | None:
    """argmin_T mean softplus(-d/T) over T in [1e-3, 1e3] (bounded search on log T); None without pairs.

    With every d > 0 the loss keeps falling as T -> 0, so the bound is returned: read it as "separable"."""
    if not d:
        return None
    from scipy.optimize import minimize_scalar

    from grpo_bt_rm.eval.metrics import softplus

    res = minimize_scalar(lambda lt: sum(softplus(-x / math.exp(lt)) for x in d) / len(d),
                          bounds=(math.log(1e-3), math.log(1e3)), method="bounded")
    return float(math.exp(res.x))


def run_scalar(settings: EvalSettings) -> dict:
    """eval_bt's `run` for --scorer scalar: the same pairs, metrics, files and result keys (see the module doc)."""
    from grpo_bt_rm.eval.engine import seed_everything
    from grpo_bt_rm.eval.judge import provenance, resolve_bt_temp, select_pairs
    from grpo_bt_rm.eval.loading import resolve_checkpoint, resolve_run
    from grpo_bt_rm.eval.metrics import PairScores, format_summary, pair_metrics, softplus
    from grpo_bt_rm.io import atomic_write, manifest_base, sha256_file, write_json, write_jsonl
    from grpo_bt_rm.paths import default_path

    start = time.time()
    if settings.from_completions:
        raise InputError("--scorer scalar scores the model directly; --from_completions is for the judge")
    if not settings.checkpoint:
        raise InputError("--checkpoint is required (a reward-model checkpoint from scripts/train_rm.sh)")
    bt_temp = resolve_bt_temp(settings)
    seed_everything(settings.seed)
    split = settings.default_split()
    pairs, stats = select_pairs(settings.dataset, split, settings.data_files, settings.n_pairs, settings.data_seed)
    run = resolve_run(settings.run_dir)
    rm = load_reward_model(resolve_checkpoint(settings.checkpoint, run, settings.model), run, dtype=settings.dtype,
                           device=settings.device, model=settings.model, template=settings.template, system=settings.system,
                           model_type=settings.model_type)
    log.info("scoring %s (%s) on %d pairs of %s/%s", rm.checkpoint.name, rm.checkpoint.kind, len(pairs),
             settings.dataset, split)
    rewards = score_pairs(rm, pairs, settings.batch_pairs)
    records = [{"pair_key": p.key, "preferred_side": p.preferred_side, "reward_0": r0, "reward_1": r1,
                "pair_index": i, "source_index": p.source_index} for i, (p, (r0, r1)) in enumerate(zip(pairs, rewards))]
    lo, hi = min(min(r) for r in rewards), max(max(r) for r in rewards)
    metrics = pair_metrics([PairScores(r["pair_key"], r["preferred_side"], [r["reward_0"]], [r["reward_1"]])
                            for r in records], bt_temp=bt_temp, seed=settings.seed, n_boot=settings.n_boot,
                           report_margins=settings.report_margins, report_uncertainty=settings.report_uncertainty,
                           unc_low=settings.unc_low, unc_high=settings.unc_high, score_range=(lo, hi if hi > lo else lo + 1))
    d = [(r["reward_0"] - r["reward_1"]) * (1 if r["preferred_side"] == 0 else -1) for r in records]
    t_fit = fit_temperature(d)
    metrics.update(truncated_rate=None, fail_reasons={}, fitted_bt_temp=t_fit,
                   logloss_fitted=sum(softplus(-x / t_fit) for x in d) / len(d) if d else None)
    result = manifest_base(kind="eval_bt", seed=settings.seed, complete=False, scorer="scalar",
                           **provenance(rm, run, settings, split, len(pairs), stats))
    ck_name = rm.checkpoint.name
    run_dir = result["run"]["run_dir"]
    out_json = Path(settings.out_json or (Path(run_dir) / "eval" if run_dir else default_path("eval"))
                    / f"eval_{ck_name}_seed{settings.seed}.json")
    if settings.save_completions:  # per-pair rewards (not judge completions: --from_completions does not read them)
        write_jsonl(settings.save_completions, records)
        result["rewards"] = {"path": str(settings.save_completions), "sha256": sha256_file(settings.save_completions)}
    result.update(metrics=metrics, prompt={"name": "scalar_rm", "version": None, "source": "--scorer scalar"},
                  parser={"name": "scalar_rm"},
                  settings={"scorer": "scalar", "bt_temp": bt_temp, "n_boot": settings.n_boot,
                            "unc_low": settings.unc_low, "unc_high": settings.unc_high, "dtype": settings.dtype,
                            "batch_pairs": settings.batch_pairs, "max_length": rm.settings.max_length},
                  args={**settings.as_dict(), "bt_temp": bt_temp}, seconds=round(time.time() - start, 3), complete=True)
    summary = format_summary(metrics) + f"\nfitted_bt_temp={t_fit:.4g} logloss_fitted={metrics['logloss_fitted']:.4f}"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_json.with_suffix(".log")) as f:
        f.write(f"checkpoint: {result['checkpoint']}\nseed: {settings.seed}\nscorer: scalar\n{summary}\n")
    if not settings.no_plot:
        from grpo_bt_rm.eval.plots import reliability_png

        png = out_json.with_suffix(".reliability.png")
        reliability_png(metrics["calibration_bins"], png, title=f"{ck_name} (scalar RM)", ece=metrics["ece"])
        result["plots"] = {"reliability": str(png)}
    write_json(out_json, result)  # last: a complete result file means the job finished
    log.info("wrote %s", out_json)
    return {**result, "out_json": str(out_json), "summary_text": summary}
