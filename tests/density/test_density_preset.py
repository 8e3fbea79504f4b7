"""configs/runs/hh_density.env: each DENSITY_MODE arm sets the reward/sampling pair and passes validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRESET = ROOT / "configs/runs/hh_density.env"


def source(mode: str | None, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BT_") and k not in ("DENSITY_MODE", "OUT_DIR")}
    env["GRPO_BT_RM_BASE_DIR"] = str(tmp_path)
    if mode is not None:
        env["DENSITY_MODE"] = mode
    dump = f"{sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
    return subprocess.run(["bash", "-c", f"set -e; source {PRESET}; {dump}"], env=env, capture_output=True,
                          text=True)


@pytest.mark.parametrize(
    ("mode", "reward", "sampling"),
    [
        (None, "bt_pointwise_density", "uniform"),  # default arm: weights on the advantages
        ("advantage", "bt_pointwise_density", "uniform"),
        ("sampling", "bt_pointwise_baseline", "weighted"),  # weights as sampling probabilities
        ("uniform", "bt_pointwise_baseline", "uniform"),  # the control arm
    ],
)
def test_arms(tmp_path, mode, reward, sampling):
    proc = source(mode, tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["REWARD_NAME"] == reward and got["BT_PAIR_SAMPLING"] == sampling
    assert got["OUT_DIR"] == str(tmp_path / "runs" / f"hh_density_{mode or 'advantage'}")
    assert got["DATASET"].endswith("_dw.jsonl") and got["DATASET"].startswith(str(tmp_path))
    # the same settings the launcher validates before ms-swift starts
    from grpo_bt_rm.rewards import BTRewardSettings
    from grpo_bt_rm.training.settings import PairTrainSettings

    assert BTRewardSettings.from_env(got).delta_temp == 20.0
    assert PairTrainSettings.from_env(got).pair_sampling == sampling


def test_unknown_mode_is_rejected(tmp_path):
    proc = source("sometimes", tmp_path)
    assert proc.returncode != 0 and "DENSITY_MODE=sometimes" in proc.stderr
