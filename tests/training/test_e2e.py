"""End-to-end: scripts/train_grpo.sh cpu with configs/runs/tiny_cpu.env on the warm-started tiny model."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from grpo_bt_rm.training.settings import PairTrainSettings

ROOT = Path(__file__).resolve().parents[2]
K = 4  # NUM_GENERATIONS in tiny_cpu.env


def build_dataset(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "grpo_bt_rm.data.build_dataset", "--dataset", "anthropic_hh", "--split",
                    "sample", "--data_files", str(ROOT / "src/grpo_bt_rm/data/samples/hh_sample.jsonl"),
                    "--prompt", "hh_score100_v1", "--add_meta", "--out", str(out)], check=True, capture_output=True)
    return out


def launch(tmp_path, model_dir, after_preset: str = "", **env_extra):
    """Run the launcher from / (any working directory works); `after_preset` is shell run after sourcing."""
    env = dict(os.environ, MODEL=str(model_dir), DATASET=str(build_dataset(tmp_path / "train.jsonl")),
               OUT_DIR=str(tmp_path / "run"), BT_REWARD_DUMP=str(tmp_path / "dump.jsonl"), **env_extra)
    cmd = f"cd / && source {ROOT}/configs/runs/tiny_cpu.env && {after_preset} {ROOT}/scripts/train_grpo.sh cpu"
    return subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True, timeout=600)


def check_run(tmp_path, model_dir, proc, n_proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "resolved configuration" in proc.stdout and "BT_DELTA_TEMP=20" in proc.stdout
    assert "old log-probs forward: skipped" in proc.stdout + proc.stderr  # on-policy preset; our INFO lines show
    calls = [json.loads(x) for x in (tmp_path / "dump.jsonl").read_text().splitlines()]
    assert calls and {c["rank"] for c in calls} == set(range(n_proc))
    for c in calls:  # every reward call held both sides x K of each of its pairs
        counts = Counter(zip(c["pair_id"], c["side"]))
        assert all(counts[(p, 0)] == counts[(p, 1)] == K for p, _ in counts), counts
    scores = [z for c in calls for z in c["scores"]]
    assert any(z is not None for z in scores) and len({r for c in calls for r in c["rewards"]}) > 2  # rewards vary
    run_dir = next((tmp_path / "run").glob("v*-*"))
    ckpt = run_dir / "checkpoint-4"
    assert ckpt.is_dir(), sorted(p.name for p in run_dir.iterdir())
    before, after = load_file(model_dir / "model.safetensors"), load_file(ckpt / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)  # learning happened
    settings = json.loads((run_dir / "bt_reward_settings.json").read_text())
    assert settings["rewards"]["bt_pointwise_baseline"]["delta_temp"] == 20.0
    logs = [json.loads(x) for x in (run_dir / "logging.jsonl").read_text().splitlines()]
    assert any("bt/parse_fail_rate" in row and "bt/pair_acc" in row for row in logs)


def test_train_grpo_sh_cpu_single_process(tmp_path, warm_model_dir):
    proc = launch(tmp_path, warm_model_dir, PER_DEVICE_TRAIN_BS="8", NPROC_PER_NODE="1")
    check_run(tmp_path, warm_model_dir, proc, n_proc=1)


@pytest.mark.slow
def test_train_grpo_sh_cpu_two_processes_gloo(tmp_path, warm_model_dir):
    proc = launch(tmp_path, warm_model_dir, PER_DEVICE_TRAIN_BS="8", NPROC_PER_NODE="2")
    assert "--ddp_backend gloo" in proc.stdout
    check_run(tmp_path, warm_model_dir, proc, n_proc=2)


@pytest.mark.parametrize("var, value", [("BT_DELTA_TEMP", "0"), ("BT_PAIR_SAMPLING", "sometimes"),
                                        ("BT_PARSE_FAIL_REWARD", "0"), ("BT_SKIP_OLD_LOGPS", "2")])
def test_bad_reward_config_rejected_before_swift_starts(tmp_path, var, value):
    proc = launch(tmp_path, tmp_path, after_preset=f"export {var}={value} &&")
    assert proc.returncode != 0 and var in proc.stderr and "swift rlhf" not in proc.stdout


def test_bad_batch_config_rejected():
    from grpo_bt_rm.training.trainer import PairConfigError, check_pair_config

    ok = SimpleNamespace(num_generations=4, per_device_train_batch_size=8, steps_per_generation=1,
                         dynamic_sample=False, scale_rewards="group", advantage_estimator="grpo", kl_in_reward=False)
    check_pair_config(ok, PairTrainSettings())
    with pytest.raises(PairConfigError, match=r"= 12 must be a multiple of 2 x num_generations \(8\)"):
        check_pair_config(SimpleNamespace(**{**vars(ok), "per_device_train_batch_size": 6,
                                             "steps_per_generation": 2}), PairTrainSettings())
    with pytest.raises(PairConfigError, match="dynamic_sample"):
        check_pair_config(SimpleNamespace(**{**vars(ok), "dynamic_sample": True}), PairTrainSettings())
    with pytest.raises(PairConfigError, match="BT_MIN_REWARD_STD"):
        check_pair_config(SimpleNamespace(**{**vars(ok), "scale_rewards": "none"}),
                          PairTrainSettings(min_reward_std=0.1))


@pytest.mark.slow
def test_hardmine_weights_reach_the_trainer(tmp_path, warm_model_dir):
    proc = launch(tmp_path, warm_model_dir, after_preset="export REWARD_NAME=bt_pointwise_baseline_hardmine "
                  "BT_MIN_REWARD_STD=0.05 &&", PER_DEVICE_TRAIN_BS="8", NPROC_PER_NODE="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    calls = [json.loads(x) for x in (tmp_path / "dump.jsonl").read_text().splitlines()]
    assert {w for c in calls for w in c["weights"]} - {1.0}  # some pair was down-weighted
    run_dir = next((tmp_path / "run").glob("v*-*"))
    logs = [json.loads(x) for x in (run_dir / "logging.jsonl").read_text().splitlines()]
    assert any(row.get("bt/mean_weight", 1) < 1 for row in logs)
    settings = json.loads((run_dir / "bt_reward_settings.json").read_text())
    assert settings["trainer"]["min_reward_std"] == 0.05


@pytest.mark.slow
def test_eval_during_training_sees_whole_pairs(tmp_path, warm_model_dir):
    val = build_dataset(tmp_path / "val.jsonl")
    proc = launch(tmp_path, warm_model_dir, PER_DEVICE_TRAIN_BS="8", NPROC_PER_NODE="1",
                  EXTRA_ARGS=f"--val_dataset {val} --eval_strategy steps --eval_steps 2 --per_device_eval_batch_size 8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    calls = [json.loads(x) for x in (tmp_path / "dump.jsonl").read_text().splitlines()]
    assert len(calls) > 4  # 4 training rounds plus the eval rounds
    for c in calls:
        counts = Counter(zip(c["pair_id"], c["side"]))
        assert all(counts[(p, 0)] == counts[(p, 1)] == K for p, _ in counts), counts
    logs = [json.loads(x) for x in (next((tmp_path / "run").glob("v*-*")) / "logging.jsonl").read_text().splitlines()]
    assert any("eval_bt/pair_acc" in row for row in logs)


@pytest.mark.slow
def test_batch_that_splits_pairs_rejected_before_swift_starts(tmp_path, warm_model_dir):
    # the launcher's preflight catches it first, naming the variables; the trainer's own check (the same rule on
    # ms-swift's arguments) is exercised directly by check_pair_config above
    proc = launch(tmp_path, warm_model_dir, PER_DEVICE_TRAIN_BS="12", NPROC_PER_NODE="1")
    assert proc.returncode != 0 and "must be a multiple of 2 x NUM_GENERATIONS (8)" in proc.stderr
    assert "PER_DEVICE_TRAIN_BS (12)" in proc.stderr and "swift rlhf" not in proc.stdout


@pytest.mark.slow
def test_density_reward_with_weighted_pair_sampling(tmp_path, warm_model_dir):
    """Pairs with density_weight 0 are never drawn; the reward's weights are the column's values."""
    data = build_dataset(tmp_path / "plain.jsonl")
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    weight = {p: (0.0 if p % 2 else 1.5) for p in {r["pair_id"] for r in rows}}
    dense = tmp_path / "dense.jsonl"
    dense.write_text("".join(json.dumps({**r, "density_weight": weight[r["pair_id"]]}) + "\n" for r in rows))
    proc = launch(tmp_path, warm_model_dir, after_preset=f"export DATASET={dense} REWARD_NAME=bt_pointwise_density "
                  "BT_PAIR_SAMPLING=weighted &&", NPROC_PER_NODE="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    calls = [json.loads(x) for x in (tmp_path / "dump.jsonl").read_text().splitlines()]
    drawn = {p for c in calls for p in c["pair_id"]}
    assert drawn and all(weight[p] > 0 for p in drawn)
    assert {w for c in calls for w in c["weights"]} == {1.5}


def test_response_prefix_and_truncation_reach_the_reward(tmp_path, warm_model_dir):
    """RESPONSE_PREFIX goes to ms-swift --response_prefix; the reward parses prefix + continuation and honours
    ms-swift's is_truncated column (MAX_COMPLETION_LENGTH=3 cuts most completions off)."""
    from grpo_bt_rm.parsing import get_parser

    proc = launch(tmp_path, warm_model_dir, "export MAX_COMPLETION_LENGTH=3 MAX_STEPS=1;", PER_DEVICE_TRAIN_BS="8",
                  NPROC_PER_NODE="1", RESPONSE_PREFIX="<s>")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "--response_prefix <s>" in proc.stdout
    calls = [json.loads(x) for x in (tmp_path / "dump.jsonl").read_text().splitlines()]
    parser = get_parser("score100_first")
    rows = [(c, t, z) for call in calls for c, t, z in zip(call["completions"], call["is_truncated"], call["scores"])]
    assert rows and all(c.startswith("<s>") for c, _, _ in rows)  # ms-swift 4.6 hands the reward prefix + text
    assert any(t for _, t, _ in rows) and not all(t for _, t, _ in rows)  # some cut off at 3 tokens, some not
    for c, t, z in rows:
        assert z == parser.parse(c, truncated=t), (c, t, z)
    # a cut-off completion without a closed first tag has no score
    assert any(t and z is None for c, t, z in rows)
    run_dir = next((tmp_path / "run").glob("v*-*"))
    settings = json.loads((run_dir / "bt_reward_settings.json").read_text())
    assert settings["rewards"]["bt_pointwise_baseline"]["response_prefix"] == "<s>"
    assert settings["rewards"]["bt_pointwise_baseline"]["reasoning_tag"] == "think"
    logs = [json.loads(x) for x in (run_dir / "logging.jsonl").read_text().splitlines()]
    rates = [row["bt/truncated_rate"] for row in logs if "bt/truncated_rate" in row]
    assert rates and 0 < rates[0] < 1
