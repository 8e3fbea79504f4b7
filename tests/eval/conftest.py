"""Session fixtures for eval tests: a pointwise dataset and real CPU GRPO runs (LoRA, full) on the warm tiny model."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HH_SAMPLE = REPO / "src" / "grpo_bt_rm" / "data" / "samples" / "hh_sample.jsonl"
PLUGIN = Path(__file__).with_name("grpo_record_plugin.py")
PROMPT = "hh_score100_v1"
SYSTEM = "You are a careful, impartial judge of response quality."
PREFIX = "<s>"  # the full run's assistant pre-fill (--response_prefix)


def offline_env(**extra) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               CUDA_VISIBLE_DEVICES="", TOKENIZERS_PARALLELISM="false", WANDB_MODE="offline")
    env.update(extra)
    return env


@dataclass
class GrpoRuns:
    lora_run: Path  # vN-<time>/ with checkpoint-1, checkpoint-2 (LoRA), trained with --system SYSTEM
    full_run: Path  # vN-<time>/ with checkpoint-1 (full weights), no --system (template default), prefix "<s>"
    recorded: Path  # prompts the LoRA run's rollout encoded
    recorded_full: Path  # prompts the full run's rollout encoded (with its response prefix)
    dataset: Path  # the pointwise rows both runs trained on
    base_model: Path


def _swift_grpo(model: Path, dataset: Path, out: Path, extra: list[str], env: dict) -> subprocess.Popen:
    swift = Path(sys.executable).with_name("swift")
    cmd = [str(swift), "rlhf", "--rlhf_type", "grpo", "--model", str(model), "--model_type", "qwen2",
           "--template", "qwen2_5", "--check_model", "false", "--use_cpu", "true", "--dataloader_num_workers", "0",
           "--dataloader_pin_memory", "false", "--dataset", str(dataset), "--external_plugins", str(PLUGIN),
           "--reward_funcs", "gbr_test_tag_score", "--num_generations", "2", "--per_device_train_batch_size",
           "4", "--max_completion_length", "8", "--save_steps", "1", "--output_dir", str(out), "--report_to",
           "none", "--logging_steps", "1", "--learning_rate", "1e-3", *extra]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "swift.log", "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _finish(proc: subprocess.Popen, out: Path) -> Path:
    if proc.wait(timeout=600) != 0:
        raise RuntimeError(f"swift rlhf failed ({proc.returncode}):\n{(out / 'swift.log').read_text()[-4000:]}")
    runs = sorted(out.glob("v*-*"))
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="session")
def grpo_runs(warm_model_dir, tmp_path_factory) -> GrpoRuns:
    root = tmp_path_factory.mktemp("grpo")
    dataset = root / "hh_pointwise.jsonl"
    subprocess.run([sys.executable, "-m", "grpo_bt_rm.data.build_dataset", "--dataset", "anthropic_hh", "--split",
                    "sample", "--data_files", str(HH_SAMPLE), "--prompt", PROMPT, "--add_meta", "--out",
                    str(dataset)], check=True, capture_output=True, env=offline_env())
    recorded = root / "rollout_prompts.jsonl"
    # both runs at once: most of each is ms-swift start-up
    lora = _swift_grpo(warm_model_dir, dataset, root / "lora", ["--max_steps", "2", "--system", SYSTEM],
                       offline_env(GBR_RECORD_PROMPTS=str(recorded)))
    recorded_full = root / "rollout_prompts_full.jsonl"
    full = _swift_grpo(warm_model_dir, dataset, root / "full", ["--max_steps", "1", "--tuner_type", "full",
                                                                 "--response_prefix", PREFIX],
                       offline_env(GBR_RECORD_PROMPTS=str(recorded_full)))
    lora, full = _finish(lora, root / "lora"), _finish(full, root / "full")
    return GrpoRuns(lora, full, recorded, recorded_full, dataset, Path(warm_model_dir))
