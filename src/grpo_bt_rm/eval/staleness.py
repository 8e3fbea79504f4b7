"""Whether a stored eval_bt result was made with a sweep job's settings; the sweep reuses it only if so.

    settings = job_settings(passthrough, "checkpoint-100", seed=0, out_json=path, run_dir=run)
    diffs = differences(read_result(path), settings, on_gpu=False)   # [] = same settings, else "what: old -> new"

Compared: every eval_bt flag that shapes the result (model, data, n_pairs, data_seed, sampling, bt_temp, response
prefix, ...), the resolved prompt (name, version) and parser (name, reasoning tag), the effective dtype, the
checkpoint's path and weights fingerprint, and the sha256 of every local data file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from grpo_bt_rm.eval.settings import EvalSettings
from grpo_bt_rm.io import InputError, sha256_file

# Flags that do not change the numbers (outputs, plots) or that are compared in resolved form below.
NOT_COMPARED = {"out_json", "save_completions", "from_completions", "no_plot", "device", "prompt", "parser", "dtype"}


def job_settings(passthrough: list[str], ckpt: str, seed: int, out_json: Path, run_dir: str | None) -> EvalSettings:
    """The eval_bt settings the sweep runs a job with (its flags: `passthrough` plus the job's own)."""
    from grpo_bt_rm.eval import eval_bt

    argv = [*passthrough, "--checkpoint", ckpt, "--seed", str(seed), "--out_json", str(out_json)]
    if run_dir:
        argv += ["--run_dir", run_dir]
    return EvalSettings.from_args(eval_bt.build_argparser().parse_args(argv))


def _norm(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def _show(v: Any) -> str:
    s = json.dumps(v, default=str)
    return s if len(s) <= 80 else s[:77] + "..."


def _diff(out: list[str], what: str, old: Any, new: Any) -> None:
    if _norm(old) != _norm(new):
        out.append(f"{what}: {_show(old)} -> {_show(new)}")


def data_file_hashes(dataset: str, data_files: list[str] | None) -> dict[str, str]:
    """Absolute path -> sha256 of every local raw file `--data_files` expands to, for staleness checks.

    Raises:
        InputError: a pattern matches no file.
    """
    from grpo_bt_rm.data.adapters import expand_files
    from grpo_bt_rm.data.build_dataset import parse_sources

    files = [f for _, fs in parse_sources([dataset], data_files) for f in expand_files(fs or [])]
    return {os.path.abspath(f): sha256_file(f) for f in files}


def _checkpoint_identity(args: EvalSettings) -> tuple[str, str, str | None]:
    """(path, weights fingerprint, resolved response prefix) of the job's checkpoint, as eval_bt resolves them."""
    from grpo_bt_rm.eval.loading import (
        base_weights,
        checkpoint_fingerprint,
        resolve_checkpoint,
        resolve_run,
        run_for_checkpoint,
        template_settings,
    )

    run = resolve_run(args.run_dir)
    ck = resolve_checkpoint(args.checkpoint, run, args.model)
    run = run_for_checkpoint(run, ck)
    prefix = template_settings(run, args.template, args.system, args.response_prefix)
    return ck.path, checkpoint_fingerprint(ck, base_weights(ck, run, args.model)), prefix.response_prefix


def differences(stored: dict, args: EvalSettings, *, on_gpu: bool) -> list[str]:
    """The settings in which a stored result differs from the job `args` would run (empty: the result is reusable).

    Args:
        stored: a complete eval_bt result (its `args`, prompt, parser, checkpoint, settings and data records).
        args: the job's settings (`job_settings`).
        on_gpu: where the job would run (decides what dtype "auto" means).

    Returns:
        One "what: old -> new" line per difference.
    """
    from grpo_bt_rm.eval import eval_bt
    from grpo_bt_rm.eval.judge import resolve_prompt_name
    from grpo_bt_rm.eval.loading import DTYPES
    from grpo_bt_rm.parsing import DEFAULT_REASONING_TAG, get_parser
    from grpo_bt_rm.prompts import get_prompt

    out: list[str] = []
    defaults = vars(eval_bt.build_argparser().parse_args([]))
    old_args = stored.get("args") or {}
    args = dataclasses.replace(args, bt_temp=eval_bt.resolve_bt_temp(args))  # stored resolved
    for key, default in sorted(defaults.items()):
        if key not in NOT_COMPARED:
            _diff(out, f"--{key}", old_args.get(key, default), getattr(args, key, default))

    prompt_name, _ = resolve_prompt_name(args)
    prompt = get_prompt(prompt_name)
    old_prompt = stored.get("prompt") or {}
    _diff(out, "prompt", old_prompt.get("name"), prompt.name)
    if old_prompt.get("name") == prompt.name:
        _diff(out, f"prompt {prompt.name} version", old_prompt.get("version"), prompt.version)
    parser = get_parser(args.parser or prompt.parser, args.reasoning_tag)
    old_parser = stored.get("parser") or {}
    _diff(out, "parser", old_parser.get("name"), parser.name)
    _diff(out, "parser reasoning_tag", old_parser.get("reasoning_tag", DEFAULT_REASONING_TAG), parser.reasoning_tag)

    dtype = DTYPES.get(args.dtype, args.dtype) if args.dtype != "auto" else ("bfloat16" if on_gpu else "float32")
    old_ck = stored.get("checkpoint") or {}
    _diff(out, "dtype", old_ck.get("dtype"), dtype)
    try:
        path, fingerprint, prefix = _checkpoint_identity(args)
    except InputError as e:
        out.append(f"checkpoint: cannot be resolved now ({e})")
    else:
        _diff(out, "checkpoint path", old_ck.get("path"), path)
        if old_ck.get("path") == path and old_ck.get("fingerprint") != fingerprint:
            state = "not recorded" if "fingerprint" not in old_ck else "differs"
            out.append(f"checkpoint weights: fingerprint {state}"
                       f" (files under {path} were rewritten, copied or replaced)")
        settings = stored.get("settings") or {}
        if "response_prefix" in settings:  # results from before the flag: the generic --response_prefix check
            _diff(out, "response_prefix", settings["response_prefix"], prefix)

    old_files = ((stored.get("data") or {}).get("load_stats") or {}).get("files")
    try:
        new_files = data_file_hashes(args.dataset, args.data_files)
    except (InputError, KeyError) as e:
        out.append(f"data files: cannot be read now ({e})")
    else:
        if old_files is None and new_files:
            out.append("data files: sha256 not recorded in the stored result")
        elif old_files is not None and old_files != new_files:
            changed = sorted(set(old_files) ^ set(new_files)) + sorted(
                f for f in set(old_files) & set(new_files) if old_files[f] != new_files[f])
            out.append(f"data files: contents or list differ ({', '.join(changed)})")
    return out
