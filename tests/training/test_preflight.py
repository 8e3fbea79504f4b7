"""Issue 12 items 10, 11 and the multi-node pass-through: train_grpo.sh checks every setting it can before ms-swift
starts (a stand-in `swift` on PATH records whether it was reached) and passes extra flags through, last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grpo_bt_rm.training.preflight import preflight

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_grpo.sh"
MSG = [{"role": "user", "content": "x"}]


def pointwise(path: Path, n_pairs=4, bad_line=None) -> Path:
    rows = [{"messages": MSG, "pair_id": p, "side": s, "preferred_side": 0, "parser_name": "score100_last"}
            for p in range(n_pairs) for s in (0, 1)]
    if bad_line:
        rows[bad_line - 1]["preferred_side"] = 1
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def argv(data, model, *extra):
    return ["rlhf", "--rlhf_type", "grpo", "--model", str(model), "--dataset", str(data), "--reward_funcs",
            "bt_pointwise_baseline", "--num_generations", "2", "--per_device_train_batch_size", "4",
            "--gradient_accumulation_steps", "1", "--max_completion_length", "16", "--temperature", "1.0",
            "--top_p", "1.0", "--learning_rate", "1e-6", "--beta", "0.04", "--save_steps", "5", *extra]


@pytest.fixture
def ok(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    return pointwise(tmp_path / "d.jsonl"), model


ENV = {"NPROC_PER_NODE": "1", "HF_HUB_OFFLINE": "1"}

# (extra flags, extra env, expected error naming the variable). Each case has exactly one fault.
CASES = [
    (["--num_generations", "3"], {}, "PER_DEVICE_TRAIN_BS (4) x steps per generation (1) = 4 must be a multiple of "
                                     "2 x NUM_GENERATIONS (6)"),
    (["--num_generations", "0"], {}, "NUM_GENERATIONS (--num_generations)='0': expected an integer >= 1"),
    (["--per_device_train_batch_size", "-4"], {}, "PER_DEVICE_TRAIN_BS (--per_device_train_batch_size)='-4'"),
    (["--max_steps", "0"], {}, "MAX_STEPS (--max_steps)='0': expected an integer >= 1"),
    (["--save_steps", "2.5"], {}, "SAVE_STEPS (--save_steps)='2.5'"),
    (["--temperature", "0"], {}, "TEMPERATURE (--temperature)='0': expected a number > 0"),
    (["--top_p", "1.5"], {}, "TOP_P (--top_p)='1.5'"),
    (["--generation_batch_size", "6"], {}, "GENERATION_BATCH_SIZE=6: must be a multiple of the global batch"),
    (["--reward_funcs", "bt_pointwise_basline"], {}, "REWARD_NAME: unknown reward 'bt_pointwise_basline'"),
    (["--dataset", "missing.jsonl"], {}, "DATASET (--dataset): missing.jsonl does not exist"),
    (["--model", "Qwen/Not-Cached-7B"], {}, "MODEL (--model)='Qwen/Not-Cached-7B': not a local directory and not in"),
    ([], {"BT_DELTA_TEMP": "0"}, "BT_DELTA_TEMP"),
    ([], {"NNODES": "2", "NODE_RANK": "0"}, "MASTER_ADDR: required with NNODES=2"),
    ([], {"NNODES": "2", "NODE_RANK": "2", "MASTER_ADDR": "10.0.0.1"}, "NODE_RANK='2': expected an integer >= 0 "
                                                                          "and <= 1"),
    ([], {"MASTER_PORT": "70000"}, "MASTER_PORT='70000'"),
    ([], {"NODE_RANK": "1"}, "NODE_RANK='1': needs NNODES > 1"),
]


@pytest.mark.parametrize("extra,env,error", CASES, ids=[e[:40] for *_, e in CASES])
def test_preflight_names_the_bad_setting(ok, tmp_path, monkeypatch, extra, env, error):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    errors = preflight(argv(*ok, *extra), {**ENV, "MODELSCOPE_CACHE": str(tmp_path / "ms"), **env})
    assert len(errors) == 1 and error in errors[0], errors


def test_preflight_passes_a_good_launch_and_multi_node_worlds(ok):
    assert preflight(argv(*ok), ENV) == []
    # 2 nodes x 4 processes, generation batch 64 = 4 per device x 8 processes x 2 steps: pairs stay whole
    env = {**ENV, "NPROC_PER_NODE": "4", "NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1"}
    assert preflight(argv(*ok, "--generation_batch_size", "64"), env) == []
    assert "multiple of the global batch" in preflight(argv(*ok, "--generation_batch_size", "48"), env)[0]


def test_a_reward_from_another_plugin_is_a_warning(ok, tmp_path, capsys):
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text("")
    assert preflight(argv(*ok, "--reward_funcs", "my_reward", "--external_plugins", str(plugin)), ENV) == []
    assert "'my_reward' is not a grpo_bt_rm or ms-swift reward" in capsys.readouterr().err
    ours = ROOT / "src" / "grpo_bt_rm" / "training" / "plugin.py"
    assert "unknown reward 'my_reward'" in preflight(argv(*ok, "--reward_funcs", "my_reward", "--external_plugins",
                                                          str(ours)), ENV)[0]


def test_preflight_reads_the_dataset_with_line_numbers(ok, tmp_path):
    bad = pointwise(tmp_path / "bad.jsonl", bad_line=6)
    (err,) = preflight(argv(bad, ok[1]), ENV)
    assert f"DATASET (--dataset): {bad}:6: field 'preferred_side'" in err


FAKE_SWIFT = """#!/usr/bin/env bash
python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$FAKE_SWIFT_LOG"
"""


def launch(tmp_path, *args, **env):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "swift").write_text(FAKE_SWIFT)
    (bin_dir / "swift").chmod(0o755)
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BT_", "NNODES", "NODE_RANK", "MASTER_"))}
    base.update(PATH=f"{bin_dir}:{base['PATH']}", VIRTUAL_ENV=str(tmp_path), PYTHON=sys.executable,
                FAKE_SWIFT_LOG=str(tmp_path / "log"), DATASET=str(pointwise(tmp_path / "d.jsonl")),
                OUT_DIR=str(tmp_path / "out"), MODEL=str(model), NUM_GENERATIONS="2", PER_DEVICE_TRAIN_BS="4",
                MAX_STEPS="4", BT_SCORE_PARSER="score100_last")
    base.update(env)
    res = subprocess.run(["bash", str(SCRIPT), *args], env=base, capture_output=True, text=True, timeout=120)
    log = tmp_path / "log"
    calls = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return res, calls


def test_extra_arguments_reach_swift_last(tmp_path):
    res, (argv_,) = launch(tmp_path, "cpu", "--max_steps", "1", EXTRA_ARGS="--max_steps 2 --seed 3")
    assert res.returncode == 0, res.stderr
    assert argv_[-2:] == ["--max_steps", "1"] and argv_.index("--seed") < len(argv_) - 2  # after EXTRA_ARGS


def test_bad_settings_stop_before_swift_starts(tmp_path):
    res, calls = launch(tmp_path, "cpu", NUM_GENERATIONS="3", NNODES="2")
    assert res.returncode == 2 and calls == []
    assert "2 x NUM_GENERATIONS (6)" in res.stderr and "MASTER_ADDR: required with NNODES=2" in res.stderr


def test_multi_node_variables_are_passed_to_swift(tmp_path):
    res, calls = launch(tmp_path, "cpu", NNODES="2", NODE_RANK="1", MASTER_ADDR="10.0.0.1", MASTER_PORT="29501")
    assert res.returncode == 0 and len(calls) == 1, res.stderr
    assert "NNODES                 2" in res.stdout and "MASTER_ADDR            10.0.0.1" in res.stdout


@pytest.mark.parametrize("script,args", [("train_grpo.sh", ["--help"]), ("train_grpo.sh", ["cpu", "-h"]),
                                         ("train_sft.sh", ["--help"]), ("merge_lora.sh", ["--help"]),
                                         ("run_eval_sweep.sh", ["--help"]), ("demo.sh", ["--help"])])
def test_every_launcher_answers_help_and_runs_nothing(tmp_path, script, args):
    """Issue 12 item 12: --help prints the usage and variables; nothing starts (demo.sh used to run the demo)."""
    env = dict(os.environ, PYTHON=sys.executable, DEMO_DIR=str(tmp_path / "demo"))
    res = subprocess.run(["bash", str(ROOT / "scripts" / script), *args], env=env, capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "usage" in res.stdout.lower() or script.removesuffix(".sh") in res.stdout
    assert not (tmp_path / "demo").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow  # importing swift.rewards takes ~10 s
def test_swift_reward_names_match_ms_swift():
    from swift.rewards import orms

    from grpo_bt_rm.rewards import REWARD_VARIANTS
    from grpo_bt_rm.training.preflight import SWIFT_REWARDS

    # ms-swift's own rewards; ours are in `orms` too once any test in this process has loaded the plugin
    assert set(SWIFT_REWARDS) == set(orms) - set(REWARD_VARIANTS.names())

