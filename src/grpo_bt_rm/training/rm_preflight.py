"""Check a scalar reward-model launch (`swift rlhf --rlhf_type rm`) before ms-swift starts.

    python -m grpo_bt_rm.training.rm_preflight rlhf --rlhf_type rm --model M --dataset rm.jsonl ...   # the swift argv

scripts/train_rm.sh runs it on the exact command line it built (the last occurrence of a flag wins, as in ms-swift)
and the environment. Checked: counts and sizes (> 0), learning rate and epochs, the tuner type, MODEL present
locally when offline, the multi-node variables, BT_PAIR_SAMPLING, and every local dataset file with the RM reader
(`grpo_bt_rm.data.rm`: schema, non-identical replies, margin, and a density_weight on every row when weighted).
Errors name the launcher variable and the flag, one per line; exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from grpo_bt_rm.training.preflight import _float, _int, check_datasets, check_model, check_nodes

COUNTS = ("per_device_train_batch_size", "gradient_accumulation_steps", "max_steps", "save_steps", "logging_steps",
          "max_length", "lora_rank", "lora_alpha", "save_total_limit")


def rm_args(argv: list[str]) -> argparse.Namespace:
    """The flags the RM preflight checks, parsed from a `swift rlhf` argv (strings; None where absent)."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in (*COUNTS, "learning_rate", "num_train_epochs", "model", "tuner_type", "rlhf_type"):
        p.add_argument(f"--{name}", default=None)
    for name in ("dataset", "val_dataset"):
        p.add_argument(f"--{name}", nargs="+", default=None)
    return p.parse_known_args(argv)[0]


def preflight(argv: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem found in an RM swift command line + environment (empty: go)."""
    from grpo_bt_rm.rewards import SettingsError
    from grpo_bt_rm.training.settings import PairTrainSettings

    env = os.environ if env is None else env
    a = rm_args(argv)
    errors: list[str] = []
    if a.rlhf_type != "rm":
        errors.append(f"--rlhf_type {a.rlhf_type!r}: this check is for 'rm'")
    check_nodes(errors, env)
    for flag in COUNTS:
        _int(errors, a, flag, 1)
    _float(errors, a, "learning_rate", 0)
    _float(errors, a, "num_train_epochs", 0)
    if a.tuner_type not in (None, "lora", "full"):
        errors.append(f"TUNER_TYPE (--tuner_type)={a.tuner_type!r}: expected lora or full")
    weighted = False
    try:
        weighted = PairTrainSettings.from_env(env).pair_sampling == "weighted"
    except SettingsError as e:
        errors.append(str(e))
    check_model(errors, argparse.Namespace(model=a.model), env)
    if not errors:  # the file check reads the whole dataset: only when the cheap checks pass
        from grpo_bt_rm.data.rm import read_rm

        check_datasets(errors, a, read=lambda path, flag: read_rm(path, need_weight=weighted and flag == "dataset"))
    return errors


if __name__ == "__main__":
    from grpo_bt_rm.training.preflight import main

    sys.exit(main(check=preflight))
