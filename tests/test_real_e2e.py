"""Every stage on a real pretrained model (SmolLM2-135M-Instruct, `real` extra) and real pairs (Anthropic HH-RLHF
harmless-base test, read from ../shared, never copied): build_dataset, eval_bt and variance on the base model with
the `<s>` response prefix, LoRA SFT on label-derived targets + merge, LoRA GRPO with RESPONSE_PREFIX, the eval sweep
over base, checkpoints and the merged SFT model, and `make demo-real`'s script.

Slow (15 min measured with the 2 cores shared, load average ~6): `pytest -m slow tests/test_real_e2e.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HH_FILE = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"
SYSTEM = "You are a careful, impartial judge of response quality."


def _run(cmd, cwd, env, timeout=900):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd[:3]}: rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _py(*args):
    return [sys.executable, "-m", *args]


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_real_model_and_real_pairs_through_every_stage(tmp_path):
    assert HH_FILE.is_file(), f"{HH_FILE}: the HH-RLHF pairs are expected next to the repo (../shared)"
    from grpo_bt_rm.smollm2 import ensure_model

    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", PYTHON=sys.executable, TEMPLATE="chatml", SYSTEM=SYSTEM)
    for k in ("EXTRA_ARGS", "MODEL_TYPE", "RESPONSE_PREFIX"):
        env.pop(k, None)
    model = ensure_model()  # under the test's own base dir (conftest), so `make demo-real` below reuses it
    assert (model / "config.json").is_file()
    hh = ["--dataset", "anthropic_hh", "--split", "test", "--data_files", str(HH_FILE)]

    # `make demo-real`'s script on 4 pairs: the base model with the `<s>` pre-fill writes parseable scores.
    demo = tmp_path / "demo_real"
    proc = _run(["bash", str(ROOT / "scripts/demo_real.sh")], ROOT,
                dict(env, N_PAIRS="4", OUT_DIR=str(demo), MAX_NEW_TOKENS="16"))
    assert "acc_all" in proc.stdout and "truncated_rate" in proc.stdout
    res = json.loads((demo / "hh_score100_scoreonly.prefix.json").read_text())
    assert res["complete"] and res["metrics"]["n_pairs"] == 4 and res["settings"]["response_prefix"] == "<s>"
    assert res["metrics"]["parse_fail_rate"] < 0.5
    first = json.loads((demo / "hh_score100_scoreonly.prefix.completions.jsonl").read_text().splitlines()[0])
    assert all(c.startswith("<s>") for c in first["completions_0"])  # recorded as prefix + continuation

    # build_dataset on the raw HH file.
    data = tmp_path / "train.jsonl"
    _run(_py("grpo_bt_rm.data.build_dataset", *hh, "--prompt", "hh_score100_scoreonly", "--add_meta", "--shuffle",
             "--seed", "0", "--limit", "16", "--out", str(data)), ROOT, env)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    assert len(rows) == 32 and [r["side"] for r in rows[:2]] == [0, 1] and rows[0]["pair_id"] == rows[1]["pair_id"]

    # variance of the base model (sampled), prefix from the command line.
    var = tmp_path / "variance.json"
    _run(_py("grpo_bt_rm.eval.variance", "--checkpoint", "base", "--model", str(model), "--model_type", "llama",
             "--template", "chatml", "--system", SYSTEM, "--response_prefix", "<s>", *hh, "--n_pairs", "2",
             "--n_samples", "2", "--batch_pairs", "2", "--prompt", "hh_score100_scoreonly", "--max_new_tokens", "8",
             "--out_json", str(var)), ROOT, env)
    assert var.is_file()

    # LoRA SFT on label-derived targets (preferred side 80, the other 20), then merge.
    sft = tmp_path / "sft.jsonl"
    sft.write_text("".join(json.dumps({"messages": r["messages"] + [
        {"role": "assistant", "content": f"<s>{80 if r['side'] == r['preferred_side'] else 20}</s>"}]}) + "\n"
        for r in rows[:8]))
    _run(["bash", str(ROOT / "scripts/train_sft.sh"), "cpu", str(sft), str(tmp_path / "sft_run")], ROOT,
         dict(env, MODEL=str(model), MODEL_TYPE="llama", MAX_LENGTH="1024", NUM_EPOCHS="1", PER_DEVICE_TRAIN_BS="2",
              GRAD_ACC_STEPS="1", LORA_RANK="4", LORA_ALPHA="8", SAVE_STEPS="2",
              EXTRA_ARGS="--max_steps 2 --split_dataset_ratio 0"))
    _run(["bash", str(ROOT / "scripts/merge_lora.sh"), str(tmp_path / "sft_run"), str(tmp_path / "sft_merged")],
         ROOT, env)
    assert (tmp_path / "sft_merged" / "config.json").is_file()

    # LoRA GRPO from the base model with the `<s>` pre-fill: the reward sees parseable scores from step 1.
    grpo = tmp_path / "grpo"
    _run(["bash", str(ROOT / "scripts/train_grpo.sh"), "cpu"], ROOT, dict(
        env, MODEL=str(model), MODEL_TYPE="llama", TUNER_TYPE="lora", DATASET=str(data), OUT_DIR=str(grpo),
        RESPONSE_PREFIX="<s>", NUM_GENERATIONS="2", PER_DEVICE_TRAIN_BS="4", MAX_COMPLETION_LENGTH="8",
        MAX_STEPS="2", SAVE_STEPS="1", LOGGING_STEPS="1", LEARNING_RATE="1e-4", BETA="0", MAX_LENGTH="1024",
        BT_SCORE_PARSER="score100_first", BT_DELTA_TEMP="20",
        EXTRA_ARGS="--lora_rank 4 --lora_alpha 8 --torch_dtype float32"))
    run = next(grpo.glob("v*"))
    assert json.loads((run / "args.json").read_text())["response_prefix"] == "<s>"
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    logs = [d for d in map(json.loads, (run / "logging.jsonl").read_text().splitlines()) if "bt/parse_fail_rate" in d]
    assert logs and min(float(x["bt/parse_fail_rate"]) for x in logs) < 1.0

    # The sweep over base, both checkpoints and the merged SFT model reads the prefix from the run's args.json.
    _run(["bash", str(ROOT / "scripts/run_eval_sweep.sh"), "--run_dir", str(run), "--ckpts",
          f"base checkpoint-2 {tmp_path / 'sft_merged'}", "--seeds", "0", "--gpus", "cpu", "--cpu_workers", "1",
          "--no_wandb", *hh, "--n_pairs", "2", "--prompt", "hh_score100_scoreonly", "--max_new_tokens", "8"],
         ROOT, env, timeout=1200)
    results = sorted((run / "eval").glob("eval_*_seed0.json"))
    assert len(results) == 3 and (run / "eval" / "summary.md").is_file()
    for path in results:
        r = json.loads(path.read_text())
        assert r["complete"] and r["settings"]["response_prefix"] == "<s>" and r["metrics"]["n_pairs"] == 2
        assert "truncated_rate" in r["metrics"]
