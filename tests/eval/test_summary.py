"""Summaries from structured results: per-checkpoint mean/std over seeds, CSV/MD/PNG, W&B offline, CLI tools."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from grpo_bt_rm.eval import summary
from grpo_bt_rm.eval.metrics import REQUIRED_METRICS
from grpo_bt_rm.io import InputError, write_json
from tests.eval.conftest import REPO, offline_env


def fake_result(name, step, seed, acc_all, logloss):
    metrics = {k: 0.1 for k in REQUIRED_METRICS}
    metrics.update(n_pairs=100, acc_all=acc_all, acc_parsed=acc_all + 0.05, logloss_all=logloss, acc_ci95=[0, 1])
    return {"kind": "eval_bt", "complete": True, "seed": seed, "metrics": metrics,
            "checkpoint": {"name": name, "kind": "lora", "path": f"/runs/x/{name}", "step": step}}


@pytest.fixture
def eval_dir(tmp_path):
    d = tmp_path / "eval"
    for name, step, accs in (("checkpoint-200", 200, (0.7, 0.5)), ("base", 0, (0.55, 0.55)),
                             ("checkpoint-100", 100, (0.6, 0.62))):
        for seed, acc in enumerate(accs):
            write_json(d / f"eval_{name}_seed{seed}.json", fake_result(name, step, seed, acc, 1 - acc))
    partial = fake_result("checkpoint-300", 300, 0, 0.9, 0.1)
    partial["complete"] = False  # an unfinished result is never summarized
    write_json(d / "eval_checkpoint-300_seed0.json", partial)
    (d / "notes.json").write_text("[1, 2]")  # unrelated JSON is ignored
    return d


def test_aggregate_mean_std_by_hand(eval_dir):
    rows = summary.aggregate(summary.results_in(eval_dir))
    assert [r["ckpt"] for r in rows] == ["base", "checkpoint-100", "checkpoint-200"]  # ordered by step
    r200 = rows[2]
    assert r200["n_seeds"] == 2 and r200["seeds"] == "0 1"
    assert r200["acc_all_mean"] == pytest.approx(0.6)
    assert r200["acc_all_std"] == pytest.approx(0.141421, abs=1e-6)  # sample std of (0.7, 0.5)
    assert (r200["acc_all_min"], r200["acc_all_max"]) == (0.5, 0.7)
    assert rows[0]["acc_all_std"] == 0.0 and rows[0]["n_pairs_mean"] == 100


def test_same_weights_under_two_names_stay_two_rows(tmp_path):
    a = fake_result("base", 0, 0, 0.5, 0.7) | {"_path": "a.json"}
    b = fake_result("tiny", None, 0, 0.6, 0.7) | {"_path": "b.json"}
    a["checkpoint"].update(kind="base", path="/models/tiny")
    b["checkpoint"].update(kind="full", path="/models/tiny")
    assert [r["ckpt"] for r in summary.aggregate([a, b])] == ["base", "tiny"]


def test_write_summary_files(eval_dir):
    files = summary.write_summary(summary.results_in(eval_dir), eval_dir, "demo run")
    with open(files["csv"]) as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3 and float(table[2]["acc_all_mean"]) == pytest.approx(0.6)
    for col in ("acc_all_mean", "acc_parsed_mean", "nontie_acc_mean", "tie_rate_mean", "logloss_all_mean",
                "ece_mean", "parse_fail_rate_mean", "n_pairs_mean"):
        assert col in table[0]
    md = open(files["md"]).read()
    assert "| checkpoint-200 | 200 | 2 | 100 | 0.600 ± 0.141 | 0.650 ± 0.141 |" in md
    png = open(files["png"], "rb").read()
    assert png[:4] == b"\x89PNG" and len(png) > 10_000


def test_empty_dir_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no complete eval_bt result"):
        summary.write_summary(summary.results_in(tmp_path), tmp_path)


def test_tools_and_wandb_offline(eval_dir):
    env = offline_env(WANDB_MODE="offline", WANDB_PROJECT="gbr-test", WANDB_SILENT="true")
    out = subprocess.run([sys.executable, str(REPO / "tools" / "summarize_eval_logs.py"), str(eval_dir),
                          "--no_plot"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "checkpoint-100" in out.stdout and (eval_dir / "summary.csv").is_file()
    out = subprocess.run([sys.executable, str(REPO / "tools" / "wandb_log_eval_summary.py"), str(eval_dir)],
                         env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    run_dir = json.loads(out.stdout[out.stdout.index("{"):])["wandb_run_dir"]
    assert "offline-run" in run_dir


def test_results_read_two_ways_are_two_rows_and_never_one_summary(tmp_path):
    from grpo_bt_rm.eval.summary import aggregate, result_scoring, write_summary

    def res(seed, scoring):
        r = {"kind": "eval_bt", "complete": True, "seed": seed, "_path": f"/x/{seed}.json",
             "metrics": {"acc_all": 0.5 + seed / 10}, "checkpoint": {"name": "checkpoint-5", "path": "/c", "step": 5}}
        if scoring:
            r["settings"] = {"scoring": scoring}
        return r

    old, text, expected = res(0, None), res(1, "text"), res(2, "expected")
    assert [result_scoring(r) for r in (old, text, expected)] == ["text", "text", "expected"]
    assert result_scoring({"scorer": "scalar"}) == "scalar"
    rows = aggregate([old, text, expected])
    assert sorted((r["scoring"], r["n_seeds"]) for r in rows) == [("expected", 1), ("text", 2)]  # old = text
    write_summary([old, text], tmp_path, plot=False)  # a result from before the flag joins a text one
    assert "Scores read as: text" in (tmp_path / "summary.md").read_text()
    with pytest.raises(InputError, match=r"other settings \(settings.scoring\)"):
        write_summary([text, expected], tmp_path, plot=False)
