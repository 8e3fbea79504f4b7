"""Scalar BT reward model: scripts/train_rm.sh cpu on the tiny model (full and LoRA, uniform and density-weighted
sampling), then eval_bt --scorer scalar on the checkpoint; presets, launcher and preflight errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from grpo_bt_rm.eval.eval_bt import main as eval_main
from grpo_bt_rm.training.rm_preflight import preflight

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ["tea", "rain", "maps", "bread", "music", "trains", "books", "stars", "rivers", "glass", "paint", "salt"]


def learnable_pairs(tmp_path) -> Path:
    """Pairs whose chosen reply always says 'correct' and rejected 'wrong': a scalar RM can learn this quickly."""
    f = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"Human: tell me about {t}, please", "chosen": f"The answer is correct about {t}.",
             "rejected": f"The answer is wrong about {t}."} for t in TOPICS]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


def rm_data(tmp_path, raw: Path, *extra) -> Path:
    out = tmp_path / "rm.jsonl"
    subprocess.run([sys.executable, "-m", "grpo_bt_rm.data.rm", "--dataset", "pairs_jsonl", "--split", "train",
                    "--data_files", str(raw), "--out", str(out), *extra], check=True, capture_output=True)
    return out


def train(tmp_path, model_dir, data: Path, **env_extra) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "rm_run"
    env = dict(os.environ, MODEL=str(model_dir), **env_extra)
    cmd = f"cd / && source {ROOT}/configs/runs/rm_cpu_tiny.env && {ROOT}/scripts/train_rm.sh cpu {data} {out}"
    return subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True, timeout=600), out


def scalar_eval(tmp_path, ckpt: str, raw: Path, name: str = "ev", *extra: str) -> dict:
    out = tmp_path / name / "r.json"
    rc = eval_main(["--scorer", "scalar", "--checkpoint", ckpt, "--dataset", "pairs_jsonl", "--split", "train",
                    "--data_files", str(raw), "--n_pairs", "0", "--n_boot", "50", "--out_json", str(out), *extra])
    assert rc == 0
    return json.loads(out.read_text())


def test_full_rm_trains_and_scores_its_pairs(tmp_path, tiny_model_dir):
    raw = learnable_pairs(tmp_path)
    proc, out = train(tmp_path, tiny_model_dir, rm_data(tmp_path, raw), MAX_STEPS="12", SAVE_STEPS="12",
                      PER_DEVICE_TRAIN_BS="4")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ckpt = Path((out / "last_checkpoint.txt").read_text().strip())
    assert ckpt.name == "checkpoint-12"
    logs = [json.loads(x) for x in (ckpt.parent / "logging.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in logs if "loss" in row]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    before, after = load_file(tiny_model_dir / "model.safetensors"), load_file(ckpt / "model.safetensors")
    assert "score.weight" in after  # a sequence classifier with its value head
    assert any(not torch.equal(before[k], after[k]) for k in before if k in after)  # learning happened
    res = scalar_eval(tmp_path, str(ckpt), raw)
    m = res["metrics"]
    assert res["kind"] == "eval_bt" and res["complete"] and res["scorer"] == "scalar"
    assert res["checkpoint"]["kind"] == "full" and res["checkpoint"]["step"] == 12
    assert m["n_pairs"] == len(TOPICS) and m["parse_fail_rate"] == 0
    # eval encodes and pools as training did: the learned 'correct' > 'wrong' shows on every pair
    assert m["acc_all"] == 1.0 and m["delta"]["min"] > 0
    assert m["fitted_bt_temp"] > 0 and m["logloss_fitted"] <= m["logloss_all"] + 1e-9
    from grpo_bt_rm.eval.summary import aggregate, load_results

    rows = aggregate(load_results([tmp_path / "ev" / "r.json"]))  # the summaries read it unchanged
    assert rows[0]["ckpt"] == "checkpoint-12"


def test_lora_rm_weighted_sampling_and_head_checks(tmp_path, tiny_model_dir):
    raw = learnable_pairs(tmp_path)
    data = rm_data(tmp_path, raw)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    for i, r in enumerate(rows):  # all weight on two pairs
        r["density_weight"] = 1.0 if i in (2, 7) else 0.0
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc, out = train(tmp_path, tiny_model_dir, data, TUNER_TYPE="lora", BT_PAIR_SAMPLING="weighted",
                      MAX_STEPS="3", SAVE_STEPS="3", PER_DEVICE_TRAIN_BS="2", LORA_RANK="4", LORA_ALPHA="8")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    assert "--remove_unused_columns false" in proc.stdout
    assert f"epoch draw of {len(rows)} rows, 2 distinct" in text  # our sampler drew only the weighted pairs
    ckpt = Path((out / "last_checkpoint.txt").read_text().strip())
    settings = json.loads((ckpt.parent / "rm_settings.json").read_text())
    assert settings["trainer"]["pair_sampling"] == "weighted"
    res = scalar_eval(tmp_path, str(ckpt), raw)
    assert res["checkpoint"]["kind"] == "lora" and res["checkpoint"]["value_head"]
    assert res["metrics"]["n_parsed_pairs"] == len(TOPICS)
    # loaded in bf16 (the default on a GPU) the fp32-saved head still counts as loaded: this check once compared
    # the bf16 weights cast up to fp32 with the saved ones and refused a correct checkpoint on an H200
    res16 = scalar_eval(tmp_path, str(ckpt), raw, "ev16", "--dtype", "bf16")
    assert res16["metrics"]["n_parsed_pairs"] == len(TOPICS)

    # an adapter without its value head is refused, naming the directory, never scored with a random head
    headless = tmp_path / "headless"
    shutil.copytree(ckpt, headless)
    from safetensors.torch import save_file
    tensors = load_file(headless / "adapter_model.safetensors")
    save_file({k: v for k, v in tensors.items() if "score" not in k}, headless / "adapter_model.safetensors")
    rc = eval_main(["--scorer", "scalar", "--checkpoint", str(headless), "--dataset", "pairs_jsonl", "--split",
                    "train", "--data_files", str(raw), "--out_json", str(tmp_path / "h.json")])
    assert rc == 2 and not (tmp_path / "h.json").exists()


def test_scalar_refuses_base_and_judge_adapters(tmp_path, tiny_model_dir, capsys):
    raw = learnable_pairs(tmp_path)
    common = ["--scorer", "scalar", "--dataset", "pairs_jsonl", "--split", "train", "--data_files", str(raw)]
    assert eval_main([*common, "--checkpoint", "base", "--model", str(tiny_model_dir), "--template", "qwen2_5"]) == 2
    assert "no trained value head" in capsys.readouterr().err
    judge = tmp_path / "judge_lora"
    judge.mkdir()
    (judge / "adapter_config.json").write_text(json.dumps({"task_type": "CAUSAL_LM"}))
    assert eval_main([*common, "--checkpoint", str(judge)]) == 2
    assert "not 'SEQ_CLS'" in capsys.readouterr().err
    assert eval_main([*common, "--checkpoint", str(tiny_model_dir)]) == 2  # a causal LM, not a classifier
    assert "not a scalar reward model" in capsys.readouterr().err


def test_launcher_and_preflight_errors(tmp_path):
    res = subprocess.run(["bash", str(ROOT / "scripts/train_rm.sh"), "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "BT_PAIR_SAMPLING" in res.stdout
    res = subprocess.run(["bash", str(ROOT / "scripts/train_rm.sh"), "cpu", "missing.jsonl", "out"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2 and "does not exist" in res.stderr
    data = tmp_path / "rm.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                                "rejected_response": "b"}) + "\n")
    env = {"BT_PAIR_SAMPLING": "weighted", "HF_HUB_OFFLINE": "1"}
    argv = ["rlhf", "--rlhf_type", "rm", "--model", str(tmp_path), "--dataset", str(data), "--tuner_type", "lora",
            "--per_device_train_batch_size", "0", "--learning_rate", "-1"]
    errors = preflight(argv, env)
    assert any("per_device_train_batch_size" in e for e in errors) and any("learning_rate" in e for e in errors)
    errors = preflight(argv[:-4], env)  # counts fixed: now the file is read, and weighted needs a weight per row
    assert errors == [f"DATASET (--dataset): {data}:1: field 'density_weight': expected a finite number >= 0, "
                      "got None"]
    assert preflight(argv[:-4], {"BT_PAIR_SAMPLING": "sometimes"})[0].startswith("BT_PAIR_SAMPLING='sometimes'")
    assert preflight(argv[:-4], {}) == []


@pytest.mark.parametrize("preset", sorted((ROOT / "configs/runs").glob("rm_*.env")), ids=lambda p: p.stem)
def test_rm_presets_source_cleanly(preset, tmp_path):
    env = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "GRPO_BT_RM_BASE_DIR": str(tmp_path)}
    out = subprocess.run(["bash", "-c", f"set -u; source {preset}; python3 -c 'import json, os; "
                          "print(json.dumps(dict(os.environ)))'"], env=env, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    for var in ("MODEL", "DATASET", "OUT_DIR", "TUNER_TYPE", "LEARNING_RATE", "PER_DEVICE_TRAIN_BS",
                "BT_PAIR_SAMPLING"):
        assert got.get(var), var
    assert got["OUT_DIR"].startswith(str(tmp_path)) and "/home/" not in preset.read_text()
