"""Resolve a run and a checkpoint explicitly, then load the model and the ms-swift template training used.

    run = resolve_run("out/grpo/v0-20250101-000000"); ck = resolve_checkpoint("checkpoint-200", run)
    judge = load_judge(ck, run, dtype="fp32")   # judge.model, judge.tokenizer, judge.template

Rules (the earlier system broke them):
- `base` or `checkpoint-0` means the base model named in the run's args.json; nothing else does;
- a directory with `adapter_config.json` is a LoRA adapter: the run's base model plus that adapter;
- a directory with `config.json` and weights is a full model, loaded as is;
- a missing path, or a directory that is neither, is an error. The base model is never substituted silently.
- The chat template and system prompt come from args.json (`template`, `system`), rendered by ms-swift itself.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grpo_bt_rm.io import InputError
from grpo_bt_rm.runs import checkpoint_number, runs_in

log = logging.getLogger(__name__)

BASE_NAMES = ("base", "checkpoint-0")
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin", "model*.safetensors.index.json")
DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
          "fp16": "float16", "float16": "float16"}


@dataclass(frozen=True)
class RunInfo:
    """What eval needs from a training run: its directory and its args.json (empty when there is none)."""

    run_dir: Path | None
    args: dict = field(default_factory=dict)
    args_path: Path | None = None

    @property
    def base_model(self) -> str | None:
        """args.json `model` when it is a local dir, else `model_dir` (where ms-swift resolved a hub id), if local."""
        model, model_dir = self.args.get("model"), self.args.get("model_dir")
        if model and Path(model).expanduser().is_dir():
            return model
        if model_dir and Path(model_dir).expanduser().is_dir():
            return model_dir
        return model


@dataclass(frozen=True)
class Checkpoint:
    """A resolved model to evaluate.

    Attributes:
        name: "base", "checkpoint-N", or the directory name for an absolute path.
        kind: "base", "lora" or "full".
        path: the directory loaded (the base model's directory for kind "base").
        step: the training step, or None when unknown.
    """
    name: str  # e.g. "checkpoint-200", "base", or the directory name for an absolute path
    kind: str  # "base" | "lora" | "full"
    path: str  # the directory loaded (the base model dir for kind == "base")
    step: int | None


def _read_args(path: Path) -> dict:
    try:
        args = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read ms-swift args.json ({e})") from None
    if not isinstance(args, dict):
        raise InputError(f"{path}: expected a JSON object")
    return args


def resolve_run(run_dir: str | Path | None) -> RunInfo:
    """A run dir holds args.json; an output dir holding ms-swift `vN-<time>/` runs resolves to the newest one."""
    if run_dir is None:
        return RunInfo(None)
    d = Path(run_dir).expanduser()
    if not d.is_dir():
        raise InputError(f"--run_dir {str(run_dir)!r}: no such directory")
    if (d / "args.json").is_file():
        return RunInfo(d, _read_args(d / "args.json"), d / "args.json")
    versions = runs_in(d)
    if not versions:
        raise InputError(f"--run_dir {str(run_dir)!r}: no args.json here nor in a vN-<timestamp>/ subdirectory")
    chosen = versions[-1]
    log.info("run_dir %s holds %d ms-swift runs; using the newest, %s", d, len(versions), chosen.name)
    return RunInfo(chosen, _read_args(chosen / "args.json"), chosen / "args.json")


def checkpoint_kind(path: Path) -> str | None:
    """"lora" if `path` holds an adapter, "full" if it holds a config and weights, else None."""
    if (path / "adapter_config.json").is_file():
        return "lora"
    if (path / "config.json").is_file() and any(any(path.glob(g)) for g in WEIGHT_GLOBS):
        return "full"
    return None


def checkpoint_step(path: Path) -> int | None:
    """The training step of a checkpoint directory: from its `checkpoint-N` name, else
    `trainer_state.json`'s `global_step`; None when neither gives one (an unreadable state file counts as none).
    """
    if (n := checkpoint_number(path)) is not None:
        return n
    state = path / "trainer_state.json"
    if state.is_file():
        try:
            return int(json.loads(state.read_text())["global_step"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return None


def resolve_checkpoint(spec: str, run: RunInfo, model: str | None = None) -> Checkpoint:
    """Turn `--checkpoint` (base | checkpoint-N | a path) into a Checkpoint, or raise InputError saying why."""
    if spec in BASE_NAMES:
        base = model or run.base_model
        if not base:
            raise InputError(f"--checkpoint {spec}: needs --run_dir (its args.json names the base model) or --model")
        if not Path(base).expanduser().is_dir():
            raise InputError(f"--checkpoint {spec}: base model {base!r} (from "
                             f"{'--model' if model else run.args_path}) is not a local directory")
        return Checkpoint("base", "base", str(Path(base).expanduser()), 0)
    p = Path(spec).expanduser()
    candidates = [p] if p.is_absolute() else ([run.run_dir / p] if run.run_dir else []) + [p]
    found = next((c for c in candidates if c.exists()), None)
    if found is None:
        tried = ", ".join(str(c) for c in candidates)
        raise InputError(f"--checkpoint {spec!r}: not found (tried {tried})")
    if not found.is_dir():
        raise InputError(f"--checkpoint {spec!r}: {found} is not a directory")
    kind = checkpoint_kind(found)
    if kind is None:
        raise InputError(f"--checkpoint {spec!r}: {found} is neither a LoRA adapter (adapter_config.json) nor a "
                         "full model (config.json + weights); refusing to fall back to the base model")
    step = checkpoint_step(found)
    if run.run_dir is not None and not found.resolve().is_relative_to(Path(run.run_dir).resolve()):
        step = None  # the step of another training run (e.g. the SFT model) is not on this run's step axis
    return Checkpoint(found.name, kind, str(found.resolve()), step)


def training_prompt_name(run: RunInfo) -> str | None:
    """The `prompt_name` of the first row of the run's first local training file (rows built with --add_meta)."""
    for entry in run.args.get("dataset") or []:
        path = Path(str(entry).split("#")[0])
        if path.suffix in (".jsonl", ".json") and path.is_file():
            try:
                with open(path, encoding="utf-8") as f:
                    first = json.loads(f.readline() or "{}")
            except (OSError, json.JSONDecodeError):
                return None
            name = first.get("prompt_name") if isinstance(first, dict) else None
            return name if isinstance(name, str) else None
    return None


def training_bt_temp(run: RunInfo) -> float | None:
    """The BT temperature (BT_DELTA_TEMP) the run trained with, from its bt_reward_settings.json (one value)."""
    if run.run_dir is None:
        return None
    path = Path(run.run_dir) / "bt_reward_settings.json"
    try:
        rewards = json.loads(path.read_text(encoding="utf-8")).get("rewards") or {}
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    temps = {float(r["delta_temp"]) for r in rewards.values() if isinstance(r, dict) and "delta_temp" in r}
    if len(temps) > 1:
        log.warning("%s: reward functions with different delta_temp %s; pass --bt_temp", path, sorted(temps))
    return temps.pop() if len(temps) == 1 else None


def run_for_checkpoint(run: RunInfo, ck: Checkpoint) -> RunInfo:
    """Without --run_dir, ms-swift checkpoints carry their own args.json (in the dir or its parent)."""
    if run.args or ck.kind == "base":
        return run
    for d in (Path(ck.path), Path(ck.path).parent):
        if (d / "args.json").is_file():
            return RunInfo(d, _read_args(d / "args.json"), d / "args.json")
    return run


def base_weights(ck: Checkpoint, run: RunInfo, model: str | None = None) -> str:
    """The directory whose weights are loaded: the checkpoint itself (full, base) or a LoRA adapter's base model.

    `run` must already be `run_for_checkpoint(run, ck)`.
    """
    if ck.kind in ("full", "base"):
        return ck.path  # for "base", resolve_checkpoint already took --model or args.json 'model'
    weights = model or run.base_model
    if ck.kind == "lora" and not weights:
        cfg = json.loads((Path(ck.path) / "adapter_config.json").read_text())
        weights = cfg.get("base_model_name_or_path")
    if not weights or not Path(weights).expanduser().is_dir():
        raise InputError(f"base model {weights!r} for {ck.name} is not a local directory "
                         "(set --model or fix args.json 'model')")
    return str(weights)


IDENTITY_GLOBS = (*WEIGHT_GLOBS, "model*.safetensors", "adapter_model.*", "adapter_config.json", "config.json")


def weights_fingerprint(directory: str | Path) -> str:
    """sha256 over (name, size, mtime_ns) of a model dir's weight and config files: cheap, and it changes when the
    weights are rewritten or copied (a copy is then re-evaluated, never mistaken for other weights)."""
    import hashlib

    d = Path(directory).expanduser()
    files = sorted({f for g in IDENTITY_GLOBS for f in d.glob(g) if f.is_file()})
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def checkpoint_fingerprint(ck: Checkpoint, weights: str | Path) -> str:
    """The identity of what a checkpoint evaluates: its own files, plus the base model's for a LoRA adapter."""
    fp = weights_fingerprint(ck.path)
    return fp if ck.kind != "lora" else f"{fp}+{weights_fingerprint(weights)}"


@dataclass
class TemplateSettings:
    """The chat-template settings a checkpoint was trained with, to render eval prompts the same way.

    Attributes:
        template: the ms-swift template name.
        system: the system prompt; None means the template's own default.
        max_length: the template's length limit in tokens, or None.
        truncation_strategy: ms-swift's truncation strategy name.
        source: where template and system came from (e.g. the run's args.json or the flags).
        response_prefix: assistant pre-fill text, or None.
    """
    template: str
    system: str | None  # None: the template's own default system prompt (what ms-swift does without --system)
    max_length: int | None
    truncation_strategy: str
    source: str  # where template/system came from
    response_prefix: str | None = None  # assistant pre-fill (args.json `response_prefix` or --response_prefix)

    def as_dict(self) -> dict:
        """The settings as a plain dict, for result provenance."""
        return dict(self.__dict__)


def template_settings(run: RunInfo, template: str | None = None, system: str | None = None,
                      response_prefix: str | None = None) -> TemplateSettings:
    """Template + system prompt: from args.json; flags only fill in when there is no args.json (else must agree).

    The response prefix follows args.json too; --response_prefix (with ms-swift's "\\n" = newline rule) must
    agree with a prefix the run trained with, and may add one to a run that had none (logged).
    """
    from grpo_bt_rm.prompts.prefill import unescape_prefix

    prefix = unescape_prefix(response_prefix)
    a = run.args
    trained_prefix = a.get("response_prefix") if a else None
    if prefix is not None and trained_prefix is not None and prefix != trained_prefix:
        raise InputError(f"--response_prefix {prefix!r} disagrees with {run.args_path} (response_prefix="
                         f"{trained_prefix!r}); eval must continue from the pre-fill training used, so drop the flag")
    if prefix is not None and a and trained_prefix is None:
        log.warning("--response_prefix %r: %s trained without one", prefix, run.args_path)
    prefix = prefix if prefix is not None else trained_prefix
    if a:
        for flag, key, value in (("--template", "template", template), ("--system", "system", system)):
            if value is not None and value != a.get(key):
                raise InputError(f"{flag} {value!r} disagrees with {run.args_path} ({key}={a.get(key)!r}); "
                                 "eval must render prompts exactly as training did, so drop the flag")
        if not a.get("template"):
            raise InputError(f"{run.args_path}: field 'template' is empty; cannot reproduce the training prompt")
        trunc = a.get("truncation_strategy") or "left"
        return TemplateSettings(a["template"], a.get("system"), a.get("max_length"),
                                "left" if trunc == "raise" else trunc, str(run.args_path), prefix)
    if not template:
        raise InputError("no args.json found for this model: pass --template (and --system if training used one)")
    return TemplateSettings(template, system, None, "left", "flags", prefix)


@dataclass
class Judge:
    """A loaded judge: model, tokenizer, ms-swift template, the checkpoint, its template settings and load info."""
    model: Any
    tokenizer: Any
    template: Any
    checkpoint: Checkpoint
    settings: TemplateSettings
    info: dict


def torch_dtype(name: str):
    """The torch dtype for a `--dtype` name: "auto" is bfloat16 on CUDA and float32 otherwise.

    Raises:
        InputError: a name other than auto, fp32/float32, bf16/bfloat16 or fp16/float16.
    """
    import torch

    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    if name not in DTYPES:
        raise InputError(f"--dtype {name!r}: expected one of auto, {', '.join(DTYPES)}")
    return getattr(torch, DTYPES[name])


def build_template(tokenizer, settings: TemplateSettings, args: dict | None = None):
    """The ms-swift template in inference ('transformers') mode, as the GRPO rollout engine uses it."""
    from swift.template import get_template

    extra = {k: args[k] for k in ("enable_thinking",) if args and args.get(k) is not None}
    if settings.response_prefix is not None:
        extra["response_prefix"] = settings.response_prefix
    template = get_template(tokenizer, default_system=settings.system, template_type=settings.template,
                            max_length=settings.max_length, truncation_strategy=settings.truncation_strategy,
                            **extra)
    template.set_mode("transformers")
    return template


def model_processor(weights: str | Path, model_type: str | None, **kwargs):
    """ms-swift's `get_model_processor(weights, model_type=..., **kwargs)`: (model, processor); a model ms-swift
    cannot type is an InputError asking for --model_type, not a traceback."""
    from swift.model import get_model_processor

    try:
        return get_model_processor(str(weights), model_type=model_type, **kwargs)
    except ValueError as e:
        if "model_type" not in str(e):
            raise
        raise InputError(f"{weights}: ms-swift cannot tell the model type ({str(e).splitlines()[0][:300]}); pass "
                         "--model_type (e.g. llama for SmolLM2, qwen2 for Qwen2/2.5)") from None


def load_base(ck: Checkpoint, run: RunInfo, *, dtype: str, device: str | None, model: str | None,
              template: str | None, system: str | None, model_type: str | None, response_prefix: str | None = None,
              **loader_kwargs):
    """The shared first half of loading a checkpoint: (run, template settings, model, processor, info) with the
    model from `model_processor(base weights, ..., **loader_kwargs)` before any adapter is applied."""
    import torch

    run = run_for_checkpoint(run, ck)
    settings = template_settings(run, template, system, response_prefix)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    weights = base_weights(ck, run, model)
    dt = torch_dtype(dtype)
    m, tok = model_processor(weights, run.args.get("model_type") or model_type, torch_dtype=dt, device_map=device,
                             **loader_kwargs)
    info = {"weights": str(weights), "dtype": str(dt).replace("torch.", ""), "device": device,
            "fingerprint": checkpoint_fingerprint(ck, weights)}
    return run, settings, m, tok, info


def load_judge(ck: Checkpoint, run: RunInfo, *, dtype: str = "auto", device: str | None = None,
               model: str | None = None, template: str | None = None, system: str | None = None,
               model_type: str | None = None, load_model: bool = True, response_prefix: str | None = None) -> Judge:
    """Load model + tokenizer with ms-swift's loader (as training did), apply a LoRA adapter, build the template.

    With `load_model=False` only the tokenizer and template are built (`Judge.model` is None), for vLLM.
    """
    run, settings, m, tok, info = load_base(ck, run, dtype=dtype, device=device, model=model, template=template,
                                            system=system, model_type=model_type, response_prefix=response_prefix,
                                            load_model=load_model)
    if ck.kind == "lora" and load_model:
        from peft import PeftModel

        m = PeftModel.from_pretrained(m, ck.path)
        n_lora = sum(1 for name, _ in m.named_modules() if name.endswith("lora_A"))
        if n_lora == 0:
            raise InputError(f"{ck.path}: adapter loaded but no LoRA module was attached to the base model")
        info["lora_modules"] = n_lora
        m = m.merge_and_unload()
    if m is not None:
        m.eval()
    tmpl = build_template(tok, settings, run.args)
    return Judge(m, tok, tmpl, ck, settings, info)
