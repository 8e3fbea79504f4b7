"""Check a GRPO launch before ms-swift starts (seconds, instead of a torchrun traceback after a long start-up).

    python -m grpo_bt_rm.training.preflight rlhf --rlhf_type grpo --model M --dataset D ...   # the swift argv

scripts/train_grpo.sh runs it on the exact `swift` command line it built (presets, EXTRA_ARGS and pass-through
arguments included; as in ms-swift, the last occurrence of a flag wins) and the environment. Checked: counts and
sizes (> 0), sampling ranges, the pair batch rule (per-device batch x steps per generation a multiple of
2 x NUM_GENERATIONS), reward names, every local dataset file (pointwise schema, whole pairs, one preferred_side),
MODEL present locally when offline, the multi-node variables, and the BT_* settings. Errors name the launcher
variable and the flag, one per line; exit 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from grpo_bt_rm.io import InputError

# launcher variable for each swift flag it sets (errors name both)
VARIABLES = {
    "num_generations": "NUM_GENERATIONS", "per_device_train_batch_size": "PER_DEVICE_TRAIN_BS",
    "gradient_accumulation_steps": "GRAD_ACC_STEPS", "generation_batch_size": "GENERATION_BATCH_SIZE",
    "steps_per_generation": "EXTRA_ARGS", "max_steps": "MAX_STEPS", "save_steps": "SAVE_STEPS",
    "logging_steps": "LOGGING_STEPS", "num_train_epochs": "NUM_TRAIN_EPOCHS",
    "max_completion_length": "MAX_COMPLETION_LENGTH", "temperature": "TEMPERATURE", "top_p": "TOP_P",
    "top_k": "TOP_K", "learning_rate": "LEARNING_RATE", "beta": "BETA", "save_total_limit": "SAVE_TOTAL_LIMIT",
    "max_length": "MAX_LENGTH", "reward_funcs": "REWARD_NAME", "dataset": "DATASET", "model": "MODEL",
    "scale_rewards": "SCALE_REWARDS",
}
COUNTS = ("num_generations", "per_device_train_batch_size", "gradient_accumulation_steps", "generation_batch_size",
          "steps_per_generation", "save_steps", "logging_steps", "max_completion_length", "save_total_limit",
          "max_length")
# ms-swift 4.6.0's built-in reward functions (swift.rewards.orms; importing it takes ~10 s, so the names are kept
# here and checked against ms-swift by a slow test).
SWIFT_REWARDS = ("accuracy", "cosine", "format", "math", "react_format", "repetition", "soft_overlong", "toolbench")


def swift_args(argv: list[str]) -> argparse.Namespace:
    """The flags preflight checks, parsed from a `swift` argv; other flags are ignored, the last occurrence wins.

    All values stay strings (or lists of strings for reward_funcs, dataset, val_dataset, external_plugins); None
    where a flag is absent.
    """
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in (*COUNTS, "max_steps", "top_k"):
        p.add_argument(f"--{name}", default=None)
    for name in ("num_train_epochs", "temperature", "top_p", "learning_rate", "beta", "model", "scale_rewards",
                 "dynamic_sample"):
        p.add_argument(f"--{name}", default=None)
    for name in ("reward_funcs", "dataset", "val_dataset", "external_plugins"):
        p.add_argument(f"--{name}", nargs="+", default=None)
    return p.parse_known_args(argv)[0]


def _name(flag: str) -> str:
    var = VARIABLES.get(flag)
    return f"{var} (--{flag})" if var else f"--{flag}"


def _int(errors: list[str], a: argparse.Namespace, flag: str, minimum: int) -> int | None:
    raw = getattr(a, flag)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        errors.append(f"{_name(flag)}={raw!r}: expected an integer >= {minimum}")
        return None
    if value < minimum:
        errors.append(f"{_name(flag)}={raw!r}: expected an integer >= {minimum}")
        return None
    return value


def _float(errors: list[str], a: argparse.Namespace, flag: str, low: float, high: float = math.inf,
           low_open: bool = True) -> None:
    raw = getattr(a, flag)
    if raw is None:
        return
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value > low if low_open else value >= low) and value <= high):
        bound = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high != math.inf else "")
        errors.append(f"{_name(flag)}={raw!r}: expected a number {bound}")


def _env_int(errors: list[str], env: Mapping[str, str], var: str, minimum: int, maximum: int | None = None):
    raw = env.get(var)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        top = f" and <= {maximum}" if maximum is not None else ""
        errors.append(f"{var}={raw!r}: expected an integer >= {minimum}{top}")
        return None
    return value


def check_nodes(errors: list[str], env: Mapping[str, str]) -> int:
    """Multi-node variables (passed to ms-swift's torchrun launch); returns the world size (or 1 if unknown)."""
    nproc = _env_int(errors, env, "NPROC_PER_NODE", 1) or 1
    nnodes = _env_int(errors, env, "NNODES", 1) or 1
    _env_int(errors, env, "MASTER_PORT", 1, 65535)
    if nnodes > 1:
        rank = _env_int(errors, env, "NODE_RANK", 0, nnodes - 1)
        if rank is None and not env.get("NODE_RANK"):
            errors.append(f"NODE_RANK: required with NNODES={nnodes} (0 on the master node, 1..{nnodes - 1} on the "
                          "others)")
        if not env.get("MASTER_ADDR"):
            errors.append(f"MASTER_ADDR: required with NNODES={nnodes} (the master node's address)")
    elif env.get("NODE_RANK") not in (None, "", "0"):
        errors.append(f"NODE_RANK={env['NODE_RANK']!r}: needs NNODES > 1")
    return nproc * nnodes


def check_batches(errors: list[str], a: argparse.Namespace, world: int) -> None:
    """The pair rule of PairGRPOTrainer (check_pair_config), with steps_per_generation derived as ms-swift does."""
    k = _int(errors, a, "num_generations", 1)
    bs = _int(errors, a, "per_device_train_batch_size", 1)
    acc = _int(errors, a, "gradient_accumulation_steps", 1) or 1
    gbs = _int(errors, a, "generation_batch_size", 1)
    spg = _int(errors, a, "steps_per_generation", 1)
    if k is None or bs is None:
        return
    if spg is None:
        if gbs is None:
            spg = acc
        elif gbs % (bs * world):
            errors.append(f"GENERATION_BATCH_SIZE={gbs}: must be a multiple of the global batch "
                          f"PER_DEVICE_TRAIN_BS x processes = {bs} x {world} = {bs * world}")
            return
        else:
            spg = gbs // (bs * world)
    if (bs * spg) % (2 * k):
        errors.append(f"PER_DEVICE_TRAIN_BS ({bs}) x steps per generation ({spg}) = {bs * spg} must be a multiple of "
                      f"2 x NUM_GENERATIONS ({2 * k}) so each process's share of a generation batch holds whole "
                      "pairs")


OUR_PLUGIN = Path(__file__).with_name("plugin.py").resolve()


def check_rewards(errors: list[str], a: argparse.Namespace) -> None:
    """Reward names must be ours or ms-swift's; another --external_plugins file may register more (then a warning)."""
    from grpo_bt_rm.rewards import REWARD_VARIANTS

    known = (*REWARD_VARIANTS.names(), *SWIFT_REWARDS)
    other_plugins = [p for p in a.external_plugins or [] if Path(p).resolve() != OUR_PLUGIN]
    for name in a.reward_funcs or []:
        if name in known:
            continue
        if other_plugins:
            print(f"warning: REWARD_NAME: {name!r} is not a grpo_bt_rm or ms-swift reward; assuming "
                  f"{', '.join(other_plugins)} registers it", file=sys.stderr)
        else:
            errors.append(f"REWARD_NAME: unknown reward {name!r}; expected one of {', '.join(known)}")


def check_datasets(errors: list[str], a: argparse.Namespace, read=None) -> None:
    """Every local --dataset/--val_dataset file exists and passes `read(path, flag)` (default: the pointwise reader);
    each InputError is appended naming the launcher variable and the flag."""
    from grpo_bt_rm.data.pointwise import read_pointwise

    read = read or (lambda path, flag: read_pointwise(path))
    for flag in ("dataset", "val_dataset"):
        for entry in getattr(a, flag) or []:
            path = Path(str(entry).split("#")[0])  # ms-swift's `file#N` subsamples N rows
            if path.suffix not in (".jsonl", ".json"):
                continue  # a hub dataset id: ms-swift resolves it
            if not path.is_file():
                errors.append(f"{_name(flag)}: {path} does not exist")
            elif path.suffix == ".jsonl":
                try:
                    read(path, flag)
                except InputError as e:
                    errors.append(f"{_name(flag)}: {e}")


def offline(env: Mapping[str, str]) -> bool:
    """Whether HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set to 1/true/yes/on in `env`."""
    return any(env.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def model_in_cache(model: str, env: Mapping[str, str]) -> bool:
    """Whether a hub id is in the Hugging Face or ModelScope cache (what ms-swift can load with no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(model, "config.json"), str):
            return True
    except Exception:  # noqa: BLE001 (an id that is not a valid repo id is simply not cached)
        pass
    ms_root = Path(env.get("MODELSCOPE_CACHE") or Path.home() / ".cache" / "modelscope" / "hub")
    return any((d / model / "config.json").is_file() for d in (ms_root, ms_root / "models"))


def check_model(errors: list[str], a: argparse.Namespace, env: Mapping[str, str]) -> None:
    """Append an error to `errors` if `--model` names a path that is not a model directory, or a hub id that
    is neither cached nor loadable because the launch runs offline. A local model directory or no model passes.
    """
    model = a.model
    if not model or Path(model).expanduser().is_dir():
        return
    if Path(model).expanduser().exists() or model.startswith((".", "/", "~")):
        errors.append(f"MODEL (--model)={model!r}: not a model directory")
    elif offline(env) and not model_in_cache(model, env):
        errors.append(f"MODEL (--model)={model!r}: not a local directory and not in the Hugging Face or ModelScope "
                      "cache, and the launcher runs offline (HF_HUB_OFFLINE=1): pass a local model directory")


def check_settings(errors: list[str], env: Mapping[str, str]) -> None:
    """Append to `errors` the message of each BT_* settings group (reward, trainer) that fails to parse."""
    from grpo_bt_rm.rewards import BTRewardSettings, SettingsError
    from grpo_bt_rm.training.settings import PairTrainSettings

    for cls in (BTRewardSettings, PairTrainSettings):
        try:
            cls.from_env(env)
        except SettingsError as e:
            errors.append(str(e))


def preflight(argv: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem found in a swift command line + environment (empty: go)."""
    env = os.environ if env is None else env
    a = swift_args(argv)
    errors: list[str] = []
    world = check_nodes(errors, env)
    check_batches(errors, a, world)
    for flag in ("save_steps", "logging_steps", "max_completion_length", "save_total_limit", "max_length"):
        _int(errors, a, flag, 1)
    _int(errors, a, "max_steps", 1)
    _int(errors, a, "top_k", 0)
    _float(errors, a, "num_train_epochs", 0)
    _float(errors, a, "temperature", 0)
    _float(errors, a, "top_p", 0, 1)
    _float(errors, a, "learning_rate", 0)
    _float(errors, a, "beta", 0, low_open=False)
    if a.dynamic_sample is not None and a.dynamic_sample.lower() == "true":
        errors.append("--dynamic_sample true: not supported (it refills rows one by one, which splits pairs)")
    check_rewards(errors, a)
    check_settings(errors, env)
    check_model(errors, a, env)
    if not errors:  # the file check reads the whole dataset: only when the cheap checks pass
        check_datasets(errors, a)
    return errors


def main(argv: list[str] | None = None, check=None) -> int:
    """Print each problem `check` (default: the GRPO `preflight`) finds as `error: ...`; exit code 2 if any."""
    errors = (check or preflight)(sys.argv[1:] if argv is None else argv)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
