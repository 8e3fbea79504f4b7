"""The sweep on cpu: 2 checkpoints x 2 seeds, killed midway and resumed; a failed job exits non-zero, named."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from grpo_bt_rm.eval import sweep
from grpo_bt_rm.eval.summary import read_result
from grpo_bt_rm.io import InputError
from tests.eval.conftest import HH_SAMPLE, PROMPT, REPO, offline_env

SCRIPT = REPO / "scripts" / "run_eval_sweep.sh"


def sweep_cmd(run_dir, ckpts, seeds, *extra):
    return ["bash", str(SCRIPT), "--run_dir", str(run_dir), "--ckpts", ckpts, "--seeds", seeds, "--gpus", "cpu",
            "--n_pairs", "2", "--max_new_tokens", "6", "--prompt", PROMPT, "--bt_temp", "20", "--dataset",
            "anthropic_hh", "--split", "sample", "--data_files", str(HH_SAMPLE), "--no_plot", *extra]


def test_plan_labels_and_devices(tmp_path):
    jobs = sweep.plan(["base", "checkpoint-5", "/abs/sft merged"], [0, 1], tmp_path)
    assert [j.out_json.name for j in jobs[:2]] == ["eval_base_seed0.json", "eval_base_seed1.json"]
    assert jobs[-1].name == "sft_merged" and jobs[-1].ckpt == "/abs/sft merged"
    with pytest.raises(InputError, match="both be labelled"):
        sweep.plan(["/a/checkpoint-5", "/b/checkpoint-5"], [0], tmp_path)
    assert sweep.devices("0, 1", 1) == ["0", "1"] and sweep.devices("cpu", 2) == ["", ""]
    with pytest.raises(InputError, match="--gpus"):
        sweep.devices("gpu0", 1)


@pytest.mark.slow  # ~6 eval subprocesses (each imports ms-swift): 40 s CPU, 90 s on a busy 2-core machine
def test_sweep_killed_midway_then_resumed(grpo_runs, tmp_path):
    eval_dir = grpo_runs.lora_run / "eval_sweep_test"
    jobs = [eval_dir / f"eval_checkpoint-{c}_seed{s}.json" for c in (1, 2) for s in (0, 1)]
    cmd = sweep_cmd(grpo_runs.lora_run, "checkpoint-1 checkpoint-2", "0 1", "--eval_subdir", eval_dir.name)
    proc = subprocess.Popen(cmd, env=offline_env(), start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not any(read_result(j) for j in jobs):
        assert proc.poll() is None, "sweep ended before it could be killed"
        assert time.time() < deadline, "no job finished in time"
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its running eval job die at once
    proc.wait()
    finished = {j: j.stat().st_mtime_ns for j in jobs if read_result(j)}
    assert 1 <= len(finished) < len(jobs)
    assert all(read_result(j) is not None for j in jobs if j.exists()), "a killed job left a result file"
    assert not (eval_dir / "summary.csv").exists()

    out = subprocess.run(cmd, env=offline_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert all(read_result(j) is not None for j in jobs)
    assert {j: j.stat().st_mtime_ns for j in finished} == finished, "a complete job was redone"
    assert f"{len(finished)} already complete (skipped)" in out.stderr
    with open(eval_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["ckpt"], r["step"], r["n_seeds"], r["seeds"]) for r in rows] == [
        ("checkpoint-1", "1", "2", "0 1"), ("checkpoint-2", "2", "2", "0 1")]
    assert "| checkpoint-2 | 2 | 2 | 2 |" in (eval_dir / "summary.md").read_text()

    # a failing job: the sweep exits 1 and names it; the complete jobs are kept (and not rerun)
    kept = jobs[0].stat().st_mtime_ns
    bad = subprocess.run(sweep_cmd(grpo_runs.lora_run, "checkpoint-1 checkpoint-404", "0", "--eval_subdir",
                                   eval_dir.name), env=offline_env(), capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    assert "checkpoint-404/seed0" in bad.stderr and "1 of 2 jobs failed" in bad.stderr
    assert read_result(jobs[0]) is not None and jobs[0].stat().st_mtime_ns == kept
    assert "not found" in (eval_dir / "eval_checkpoint-404_seed0.run.log").read_text()

    # issue 12 #1 on the real stack: the same command reuses the results; another --bt_temp is refused with
    # --no-rerun_changed, naming the setting, before any job runs; a rewritten checkpoint is named too
    same = subprocess.run(cmd, env=offline_env(), capture_output=True, text=True, timeout=300)
    assert same.returncode == 0 and f"{len(jobs)} already complete (skipped)" in same.stderr, same.stderr[-2000:]
    refused = subprocess.run([*cmd, "--no-rerun_changed", "--bt_temp", "10"], env=offline_env(), capture_output=True,
                             text=True, timeout=300)
    assert refused.returncode == 2 and "--bt_temp: 20.0 -> 10.0" in refused.stderr
    assert {j: j.stat().st_mtime_ns for j in finished} == finished


def test_sweep_rejects_bad_flags(tmp_path):
    out = subprocess.run(["bash", str(SCRIPT), "--out_dir", str(tmp_path), "--ckpts", "base", "--seed", "3"],
                         env=offline_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--seed" in out.stderr


FAKE_EVAL = """
import json, os, sys, time
a = sys.argv[1:]
ck, out = a[a.index("--checkpoint") + 1], a[a.index("--out_json") + 1]
time.sleep(6.0 if ck == "slow" else 0.05)
if ck == "bad":
    sys.exit(3)
metrics = {k: 0.5 for k in %r}
with open(out, "w") as f:
    json.dump({"kind": "eval_bt", "complete": True, "seed": 0, "metrics": metrics,
               "device": os.environ["CUDA_VISIBLE_DEVICES"]}, f)
"""


def test_dynamic_scheduling_and_failures_with_a_stand_in_eval(tmp_path):
    """Each device takes the next job when it is free; a failing job is reported, the others are kept."""
    from grpo_bt_rm.eval.metrics import REQUIRED_METRICS

    script = tmp_path / "fake_eval.py"
    script.write_text(FAKE_EVAL % (REQUIRED_METRICS,))
    jobs = sweep.plan(["slow", "a", "b", "bad", "c"], [0], tmp_path)
    runner = sweep.Sweep(jobs, ["0", "1"], [sys.executable, str(script)], [])
    runner.run(None, False)
    device = {j.ckpt: json.loads(j.out_json.read_text())["device"] for j in jobs if j.ckpt != "bad"}
    # the slow job holds one GPU; the other GPU runs every other job in turn
    assert len({device["a"], device["b"], device["c"]}) == 1 and device["slow"] != device["a"]
    assert [(j.ckpt, rc) for j, rc in runner.failed] == [("bad", 3)]
    assert not jobs[3].out_json.exists() and jobs[3].out_json.with_suffix(".run.log").exists()
