"""Tiny end to end: build -> density.compute -> density.attach -> scripts/train_grpo.sh cpu with the density reward.

The pair weights must reach the reward (BT_REWARD_DUMP) and the logged `bt/mean_weight` of every step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
K = 4  # NUM_GENERATIONS in configs/runs/tiny_cpu.env


def _py(*args):
    return subprocess.run([sys.executable, "-m", *args], check=True, capture_output=True, text=True)


def _weighted_dataset(tmp_path: Path) -> Path:
    pw = tmp_path / "train.jsonl"
    _py("grpo_bt_rm.data.build_dataset", "--dataset", "anthropic_hh", "--split", "sample", "--data_files",
        str(ROOT / "src/grpo_bt_rm/data/samples/hh_sample.jsonl"), "--prompt", "hh_score100_v1", "--add_meta",
        "--out", str(pw))
    _py("grpo_bt_rm.density.compute", "--in", str(pw), "--out_dir", str(tmp_path / "w"), "--embedder", "hashing",
        "--k", "3", "--alpha", "4")  # alpha 4 spreads the 8 sample prompts' weights well away from 1
    out = tmp_path / "train_dw.jsonl"
    _py("grpo_bt_rm.density.attach", "--in", str(pw), "--weights", str(tmp_path / "w"), "--out", str(out))
    return out


@pytest.mark.slow  # ~35 s CPU (ms-swift start-up + warm model), minutes on a busy 2-core machine
@pytest.mark.parametrize("sampling", ["uniform", "weighted"])
def test_density_weights_reach_reward_and_logs(tmp_path, warm_model_dir, sampling):
    data = _weighted_dataset(tmp_path)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    weight_of = {r["pair_id"]: r["density_weight"] for r in rows}
    assert max(weight_of.values()) / min(weight_of.values()) > 1.5
    env = dict(os.environ, MODEL=str(warm_model_dir), DATASET=str(data), OUT_DIR=str(tmp_path / "run"),
               REWARD_NAME="bt_pointwise_density", BT_REWARD_DUMP=str(tmp_path / "dump.jsonl"),
               BT_PAIR_SAMPLING=sampling, PER_DEVICE_TRAIN_BS="16", NPROC_PER_NODE="1", MAX_STEPS="3")
    cmd = f"cd / && source {ROOT}/configs/runs/tiny_cpu.env && {ROOT}/scripts/train_grpo.sh cpu"
    proc = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    calls = [json.loads(x) for x in (tmp_path / "dump.jsonl").read_text().splitlines()]
    assert calls and all(c["reward"] == "bt_pointwise_density" for c in calls)
    call_means = []
    for c in calls:  # every completion carries its pair's density weight, both sides alike
        assert c["weights"] == pytest.approx([weight_of[p] for p in c["pair_id"]])
        pairs = dict(zip(c["pair_id"], c["weights"], strict=True))
        call_means.append(sum(pairs.values()) / len(pairs))
    assert any(abs(m - 1.0) > 0.05 for m in call_means)

    run_dir = next((tmp_path / "run").glob("v*-*"))
    logs = [json.loads(x) for x in (run_dir / "logging.jsonl").read_text().splitlines()]
    logged = [row["bt/mean_weight"] for row in logs if "bt/mean_weight" in row]
    assert logged == pytest.approx(call_means[: len(logged)], rel=1e-4) and len(logged) == 3
