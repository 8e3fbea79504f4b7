"""A shortened `make demo` (fewer pairs and steps) end to end: every stage leaves valid artefacts and GRPO moves.

Slow (several minutes on 2 CPU cores): `pytest -m slow tests/demo/test_demo_e2e.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_short_demo_runs_every_stage(tmp_path):
    demo = tmp_path / "demo"
    env = dict(os.environ, DEMO_DIR=str(demo), N_TRAIN="1000", N_VAL="50", N_TEST="120", N_SFT_PAIRS="1000",
               SFT_EPOCHS="2", MAX_STEPS="60", SAVE_STEPS="30", LOGGING_STEPS="5", PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(ROOT / "scripts/demo.sh")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # Every stage: raw splits, teacher records, SFT data, models, GRPO checkpoints, eval results, summary.
    for split in ("train", "val", "test"):
        assert (demo / "raw" / f"{split}.jsonl.manifest.json").exists()
    teacher = json.loads(next((demo / "teacher").glob("*/summary.json")).read_text())
    assert teacher["records"] == 1000 and 0.6 < teacher["accuracy"] < 0.85
    sft_rows = (demo / "sft" / "sft_data.jsonl").read_text().splitlines()
    assert len(sft_rows) >= 2 * 500 and all("messages" in json.loads(r) for r in sft_rows[:5])
    assert (demo / "models" / "sft" / "config.json").exists()
    assert sorted(p.name for p in (demo / "grpo").glob("checkpoint-*")) == ["checkpoint-30", "checkpoint-60"]
    assert (demo / "grpo" / "eval" / "summary.md").exists()
    # No gradient checkpointing in either training stage (bit-identical weights, faster: bench/bench_checkpointing.sh)
    for args in (next((demo / "sft" / "run").glob("v*/args.json")), demo / "grpo" / "args.json"):
        assert json.loads(args.read_text())["gradient_checkpointing"] is False, args

    summary = json.loads((demo / "summary.json").read_text())
    for role in ("sft", "grpo"):
        assert set(summary[role]) >= {"acc_all", "acc_parsed", "parse_fail_rate", "logloss", "n_pairs"}
        assert summary[role]["n_pairs"] == 120
    assert summary["grpo"]["step"] == 60
    assert {c["role"] for c in summary["checkpoints"]} >= {"random", "sft", "grpo"}
    assert (demo / "demo_plot.png").stat().st_size > 1000
    assert set(summary["stage_seconds"]) >= {"task", "tiny", "teacher", "sft_data", "sft", "grpo_data", "grpo",
                                             "eval"}
    # The SFT warm-up taught the format; GRPO kept it and moved reward and accuracy the right way.
    assert summary["sft"]["parse_fail_rate"] < 0.2
    assert summary["grpo"]["parse_fail_rate"] < 0.2
    reward = summary["grpo_reward"]  # means over the first / last third of the logged steps
    first, last = reward["first"], reward["last"]
    assert last["reward"] > first["reward"] or last["pair_acc"] > first["pair_acc"]
    assert summary["grpo"]["acc_all"] >= summary["sft"]["acc_all"]

    # A rerun reuses every finished stage.
    again = subprocess.run(["bash", str(ROOT / "scripts/demo.sh")], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("done already") == 8
