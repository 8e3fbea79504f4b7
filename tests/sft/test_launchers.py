"""train_sft.sh / merge_lora.sh command lines, checked with a stand-in `swift` on PATH (fast; the real run on the
tiny model is test_train_merge.py, marked slow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_SWIFT = """#!/usr/bin/env bash
# Records its arguments; `swift sft` leaves a checkpoint, `swift export` a config.json, like the real one.
python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$FAKE_SWIFT_LOG"
out=""; prev=""
for a in "$@"; do [ "$prev" = "--output_dir" ] && out="$a"; prev="$a"; done
if [ "$1" = "sft" ]; then
  mkdir -p "$out/v0-1"; echo '{}' > "$out/v0-1/args.json"
  for step in ${FAKE_SWIFT_STEPS:-3}; do  # saved in this order: the last one has the newest mtime
    mkdir -p "$out/v0-1/checkpoint-$step"; echo '{}' > "$out/v0-1/checkpoint-$step/adapter_config.json"; sleep 0.01
  done
fi
if [ "$1" = "export" ]; then mkdir -p "$out"; echo '{}' > "$out/config.json"; fi
"""


def _env(tmp_path, **extra):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    swift = bin_dir / "swift"
    swift.write_text(FAKE_SWIFT)
    swift.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_TYPE", "EXTRA_ARGS", "SYSTEM", "TEMPLATE")}
    # VIRTUAL_ENV set: _common.sh then leaves PATH alone, so the stand-in is found first
    env.update(PATH=f"{bin_dir}:{env['PATH']}", VIRTUAL_ENV=str(tmp_path), FAKE_SWIFT_LOG=str(tmp_path / "log"),
               PYTHON=sys.executable, **extra)
    return env


def _calls(tmp_path):
    return [json.loads(x) for x in (tmp_path / "log").read_text().splitlines()]


def _common_default(name):
    env = {k: v for k, v in os.environ.items() if k not in ("SYSTEM", "TEMPLATE")}
    return subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/_common.sh"; printf %s "${name}"'], env=env,
                          capture_output=True, text=True, check=True).stdout


def _flag(argv, name):
    return argv[argv.index(name) + 1]


def test_train_sft_passes_template_system_knobs_and_extra_args(tmp_path):
    data = tmp_path / "sft.jsonl"
    data.write_text('{"messages": []}\n')
    env = _env(tmp_path, MODEL="/models/base", MODEL_TYPE="qwen2", LEARNING_RATE="3e-5", NUM_EPOCHS="4",
               PER_DEVICE_TRAIN_BS="2", GRAD_ACC_STEPS="16", MAX_LENGTH="1024", REPORT_TO="wandb",
               EXTRA_ARGS="--max_steps 7 --seed 3")
    res = subprocess.run(["bash", str(ROOT / "scripts/train_sft.sh"), "cpu", str(data), str(tmp_path / "o")],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    (argv,) = _calls(tmp_path)
    assert argv[0] == "sft" and _flag(argv, "--tuner_type") == "lora"
    assert _flag(argv, "--template") == _common_default("TEMPLATE") == "qwen2_5"
    assert _flag(argv, "--system") == _common_default("SYSTEM")  # the one GRPO and eval use
    expected = {"--model": "/models/base", "--model_type": "qwen2", "--learning_rate": "3e-5",
                "--num_train_epochs": "4", "--per_device_train_batch_size": "2",
                "--gradient_accumulation_steps": "16", "--max_length": "1024", "--report_to": "wandb",
                "--max_steps": "7", "--seed": "3", "--use_cpu": "true", "--dataset": str(data)}
    assert {k: _flag(argv, k) for k in expected} == expected
    ckpt = (tmp_path / "o" / "last_checkpoint.txt").read_text().strip()
    assert ckpt.endswith("v0-1/checkpoint-3") and f"adapter: {ckpt}" in res.stdout


def test_merge_lora_resolves_the_checkpoint_from_a_run_dir(tmp_path):
    run = tmp_path / "run"
    ckpt = run / "v0-1" / "checkpoint-3"
    ckpt.mkdir(parents=True)
    (ckpt / "adapter_config.json").write_text("{}")
    (run / "last_checkpoint.txt").write_text(str(ckpt) + "\n")
    env = _env(tmp_path, EXTRA_ARGS="--max_steps 7", EXPORT_ARGS="--safe_serialization true")
    res = subprocess.run(["bash", str(ROOT / "scripts/merge_lora.sh"), str(run), str(tmp_path / "merged")],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    (argv,) = _calls(tmp_path)
    assert argv[:1] == ["export"] and _flag(argv, "--adapters") == str(ckpt)
    assert _flag(argv, "--merge_lora") == "true" and _flag(argv, "--safe_serialization") == "true"
    assert "--max_steps" not in argv and "--check_model" not in argv  # swift export rejects both
    # an existing output is never overwritten
    res = subprocess.run(["bash", str(ROOT / "scripts/merge_lora.sh"), str(run), str(tmp_path / "merged")],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 2 and "already exists" in res.stderr


def _touch_in_order(*dirs):
    """Give each dir a newer mtime than the one before (as `scp -r` / `rsync -r` might leave them)."""
    for i, d in enumerate(dirs):
        os.utime(d, (1_700_000_000 + i, 1_700_000_000 + i))


def test_train_sft_records_the_highest_step_not_the_newest_mtime(tmp_path):
    data = tmp_path / "sft.jsonl"
    data.write_text('{"messages": []}\n')
    out = tmp_path / "o"
    (out / "v1-2").mkdir(parents=True)  # a later launch that failed before writing args.json: ignored
    env = _env(tmp_path, FAKE_SWIFT_STEPS="1000 200")  # checkpoint-200 saved last (save_total_limit keeps the best)
    res = subprocess.run(["bash", str(ROOT / "scripts/train_sft.sh"), "cpu", str(data), str(out)], env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (out / "last_checkpoint.txt").read_text().strip() == str(out / "v0-1" / "checkpoint-1000")


def test_merge_lora_picks_the_highest_step_of_a_copied_run_dir(tmp_path):
    run = tmp_path / "copied"
    cks = [run / "v0-1" / f"checkpoint-{s}" for s in (1000, 200)]
    for ck in cks:
        ck.mkdir(parents=True)
        (ck / "adapter_config.json").write_text("{}")
    (run / "v0-1" / "args.json").write_text("{}")
    _touch_in_order(*cks)  # checkpoint-200 looks newest
    res = subprocess.run(["bash", str(ROOT / "scripts/merge_lora.sh"), str(run), str(tmp_path / "merged")],
                         env=_env(tmp_path), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    (argv,) = _calls(tmp_path)
    assert _flag(argv, "--adapters") == str(cks[0].resolve())


def test_merge_lora_without_a_checkpoint_says_so(tmp_path):
    (tmp_path / "empty" / "v0-1").mkdir(parents=True)
    res = subprocess.run(["bash", str(ROOT / "scripts/merge_lora.sh"), str(tmp_path / "empty"), str(tmp_path / "m")],
                         env=_env(tmp_path), capture_output=True, text=True)
    assert res.returncode == 2 and "no checkpoint-<step> folder" in res.stderr, res.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("var,value", [("NUM_EPOCHS", "0"), ("LORA_RANK", "-1"), ("SAVE_STEPS", "2.5"),
                                       ("PER_DEVICE_TRAIN_BS", "x"), ("LEARNING_RATE", "-1e-4")])
def test_train_sft_rejects_bad_counts_before_swift(tmp_path, var, value):
    """Issue 12 item 3 for the SFT launcher: a bad count names the variable; swift never starts."""
    data = tmp_path / "sft.jsonl"
    data.write_text('{"messages": []}\n')
    res = subprocess.run(["bash", str(ROOT / "scripts/train_sft.sh"), "cpu", str(data), str(tmp_path / "o")],
                         env=_env(tmp_path, **{var: value}), capture_output=True, text=True)
    assert res.returncode == 2 and f"error: {var}={value}: expected" in res.stderr
    assert not (tmp_path / "log").exists() and not (tmp_path / "o").exists()
