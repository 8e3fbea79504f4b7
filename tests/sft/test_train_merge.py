"""Teacher -> build_sft_data -> train_sft.sh cpu -> merge_lora.sh on the tiny model; the merged directory loads as
a plain model."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~30 s alone, up to ~90 s on a busy 2-core machine
def test_train_sft_cpu_then_merge(tmp_path, tiny_model_dir):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from grpo_bt_rm.teacher.sft_data import main as sft_main

    # The whole warm-up chain: teacher scores (mock API) -> build_sft_data -> train_sft.sh cpu -> merge_lora.sh
    from grpo_bt_rm.testing.mock_server import MockServer
    from tests.teacher.helpers import hh_file, run

    with MockServer() as server:
        assert run(server.url, hh_file(tmp_path, 6), tmp_path / "teacher", "openai") == 0
    data = tmp_path / "sft.jsonl"
    assert sft_main(["--input_dirs", str(tmp_path / "teacher" / "*"), "--output", str(data), "--prompt",
                     "hh_score100_v1", "--filter_correct", "--include_both_sides"]) == 0
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    assert len(rows) == 12 and rows[0]["messages"][-1]["content"].startswith("<s>")
    env = {**os.environ, "MODEL": str(tiny_model_dir), "MODEL_TYPE": "qwen2", "NUM_EPOCHS": "1",
           "GRAD_ACC_STEPS": "1", "PER_DEVICE_TRAIN_BS": "2", "MAX_LENGTH": "512", "LEARNING_RATE": "1e-2",
           "EXTRA_ARGS": "--max_steps 3"}
    out = tmp_path / "sft_out"
    train = subprocess.run(["bash", str(ROOT / "scripts/train_sft.sh"), "cpu", str(data), str(out)], env=env,
                           capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    ckpt = Path((out / "last_checkpoint.txt").read_text().strip())
    assert (ckpt / "adapter_config.json").exists()
    args = json.loads((ckpt / "args.json").read_text())
    assert args["template"] == "qwen2_5" and args["system"].startswith("You are a careful")  # same as GRPO/eval
    assert args["tuner_type"] == "lora"

    merged = tmp_path / "merged"
    merge = subprocess.run(["bash", str(ROOT / "scripts/merge_lora.sh"), str(out), str(merged)], env=env,
                           capture_output=True, text=True, timeout=600)
    assert merge.returncode == 0, merge.stdout[-3000:] + merge.stderr[-3000:]
    assert not (merged / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(merged)  # a plain directory, no peft needed
    AutoTokenizer.from_pretrained(merged)
    base = load_file(str(Path(tiny_model_dir) / "model.safetensors"))
    changed = [k for k, v in model.state_dict().items() if k in base and not torch.equal(v.float(), base[k].float())]
    assert changed, "merging the adapter changed no weight"
    assert any("proj" in k for k in changed)


def test_merge_refuses_a_directory_without_adapter(tmp_path):
    res = subprocess.run(["bash", str(ROOT / "scripts/merge_lora.sh"), str(tmp_path), str(tmp_path / "m")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "no LoRA adapter" in res.stderr


@pytest.mark.parametrize("argv", [[], ["cpu", "missing.jsonl", "out"]])
def test_train_sft_usage_errors(tmp_path, argv):
    res = subprocess.run(["bash", str(ROOT / "scripts/train_sft.sh"), *argv], capture_output=True, text=True,
                         cwd=tmp_path)
    assert res.returncode == 2 and "error:" in res.stderr
