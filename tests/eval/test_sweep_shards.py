"""`run_eval_sweep.sh --shard i/n` runs a slice of the jobs; tools/merge_sweep_shards.py checks and summarizes the
shards' results (eval_bt with the model faked by the stand-in, so the results carry real provenance)."""

from __future__ import annotations

import csv
import importlib.util
import subprocess

import pytest

from grpo_bt_rm.eval import sweep
from tests.eval.conftest import HH_SAMPLE, REPO, offline_env
from tests.eval.stand_in_eval import use_stand_in

spec = importlib.util.spec_from_file_location("merge_sweep_shards", REPO / "tools" / "merge_sweep_shards.py")
merge_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(merge_tool)


def test_shards_then_merge(tmp_path, monkeypatch, capsys):
    run, _, _ = use_stand_in(monkeypatch, tmp_path)

    def shard(i, out, *extra):
        return sweep.main(["--run_dir", str(run), "--ckpts", "base checkpoint-5", "--seeds", "0 1", "--shard", i,
                           "--out_dir", str(tmp_path / out), "--n_pairs", "3", "--bt_temp", "20", "--dataset",
                           "anthropic_hh", "--split", "sample", "--data_files", str(HH_SAMPLE), "--no_plot",
                           "--no_wandb", *extra])

    assert shard("0/2", "a") == 0 and shard("1/2", "b") == 0
    a, b = sorted(p.name for p in (tmp_path / "a").glob("*.json")), sorted(p.name for p in (tmp_path / "b").glob("*.json"))
    assert a == ["eval_base_seed0.json", "eval_checkpoint-5_seed0.json"]  # jobs 0 and 2 of the plan
    assert b == ["eval_base_seed1.json", "eval_checkpoint-5_seed1.json"]
    assert not (tmp_path / "a" / "summary.csv").exists(), "a shard wrote a partial summary"
    assert "shard 1/2 complete: 2 jobs" in capsys.readouterr().out

    assert merge_tool.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out_dir", str(tmp_path / "m"),
                            "--no_plot"]) == 0
    with open(tmp_path / "m" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["ckpt"], r["n_seeds"], r["seeds"]) for r in rows] == [("base", "2", "0 1"), ("checkpoint-5", "2", "0 1")]
    assert len(list((tmp_path / "m").glob("eval_*.json"))) == 4

    # a shard run with other settings is refused, naming the setting; nothing is merged
    assert shard("1/2", "c", "--n_pairs", "4") == 0
    capsys.readouterr()
    assert merge_tool.main([str(tmp_path / "a"), str(tmp_path / "c"), "--out_dir", str(tmp_path / "m2")]) == 2
    assert "made with other settings (data.n_pairs" in capsys.readouterr().err
    assert not (tmp_path / "m2").exists()
    # the same job twice with different numbers is refused too
    assert merge_tool.main([str(tmp_path / "b"), str(tmp_path / "c"), "--out_dir", str(tmp_path / "m3")]) == 2
    assert "two different results for eval_base_seed1.json" in capsys.readouterr().err


@pytest.mark.parametrize("spec", ["2/2", "-1/2", "1", "a/b", "0/0"])
def test_bad_shard_specs(tmp_path, spec):
    out = subprocess.run(["bash", str(REPO / "scripts" / "run_eval_sweep.sh"), "--out_dir", str(tmp_path / "o"),
                          "--ckpts", "base", "--shard", spec], env=offline_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "--shard" in out.stderr, out.stderr
    assert not (tmp_path / "o").exists()
