"""Variance diagnostics: hand-computed metrics, mean ties are ties, shards merged == one run (tiny warm model)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from grpo_bt_rm.eval import variance
from grpo_bt_rm.io import InputError, write_jsonl
from grpo_bt_rm.parsing import get_parser
from tests.eval.conftest import HH_SAMPLE, REPO, SYSTEM, offline_env
from tests.eval.fixtures import tag

P100 = get_parser("score100_first")


def rec(i, pref, s0, s1):
    return {"pair_key": f"v:t:{i}", "preferred_side": pref, "pair_index": i,
            "completions_0": [tag(s) for s in s0], "completions_1": [tag(s) for s in s1]}


RECORDS = [
    rec(0, 0, [80, 60, None], [40, 60, 50]),  # aligned: (80,40) right, (60,60) tie, third skipped; means 70 vs 50
    rec(1, 1, [50, 50], [50, 50]),  # every aligned sample ties and the means tie: 0.5, not a vote for side 1
]


def test_variance_metrics_by_hand():
    m = variance.variance_metrics(RECORDS, P100, range_thresholds=[10, 20, 25])
    assert m["valid_rate"] == pytest.approx(9 / 10)
    # stds: [80,60] -> 10; [40,60,50] -> 8.164966; [50,50] -> 0 twice
    assert m["within_side_std"] == pytest.approx((10 + 8.164966 + 0 + 0) / 4, abs=1e-6)
    assert m["unique_per_side"] == pytest.approx((2 + 3 + 1 + 1) / 4)
    assert m["n_aligned"] == 4 and m["aligned_tie_rate"] == pytest.approx(3 / 4)
    assert m["expected_acc"] == pytest.approx((0.75 + 0.5) / 2)
    assert m["expected_acc_strict"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["mean_acc"] == pytest.approx(0.75) and m["mean_tie_rate"] == pytest.approx(0.5)
    assert m["mean_acc_strict"] == pytest.approx(0.5)
    assert m["range_rates"]["20"] == {"sides": 0.5, "pairs": 0.5}
    assert m["range_rates"]["25"] == {"sides": 0.0, "pairs": 0.0}
    assert m["uncertainty"]["n_wrong"] == 0


def test_thresholds_parse():
    assert variance.parse_thresholds("10, 20,30") == [10.0, 20.0, 30.0]
    with pytest.raises(InputError, match="range_thresholds"):
        variance.parse_thresholds("ten")


def test_merge_tool_equals_whole(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", RECORDS[1:])
    write_jsonl(tmp_path / "b.jsonl", RECORDS[:1])
    out = subprocess.run([sys.executable, str(REPO / "tools" / "merge_variance_shards.py"), str(tmp_path / "a.jsonl"),
                          str(tmp_path / "b.jsonl"), "--range_thresholds", "10,20,25", "--out_json",
                          str(tmp_path / "m.json"), "--no_plot"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    merged = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert merged == json.loads(json.dumps(variance.variance_metrics(RECORDS, P100, range_thresholds=[10, 20, 25])))
    # the same shard twice would count pairs twice: refused
    again = subprocess.run([sys.executable, str(REPO / "tools" / "merge_variance_shards.py"), str(tmp_path / "a.jsonl"),
                            str(tmp_path / "a.jsonl"), "--out_json", str(tmp_path / "x.json")], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 2 and "also in" in again.stderr


def test_shards_merge_to_single_run(warm_model_dir, tmp_path):
    common = ["--model", str(warm_model_dir), "--checkpoint", "base", "--template", "qwen2_5", "--system", SYSTEM,
              "--model_type", "qwen2",
              "--dataset", "anthropic_hh", "--split", "sample", "--data_files", str(HH_SAMPLE), "--prompt",
              "hh_score100_v1", "--n_pairs", "3", "--n_samples", "3", "--batch_pairs", "1", "--max_new_tokens", "10",
              "--temperature", "1.0", "--range_thresholds", "10,30", "--seed", "5", "--no_plot"]
    assert variance.main(common + ["--out_json", str(tmp_path / "one.json"), "--save_jsonl",
                                   str(tmp_path / "one.jsonl")]) == 0
    for i in (0, 1):
        assert variance.main(common + ["--shard_id", str(i), "--num_shards", "2", "--out_json",
                                       str(tmp_path / f"s{i}.json"), "--save_jsonl", str(tmp_path / f"s{i}.jsonl")]) == 0
    assert len((tmp_path / "s0.jsonl").read_text().splitlines()) == 2  # batches 0 and 2
    single = json.loads((tmp_path / "one.json").read_text())
    assert single["metrics"]["valid_rate"] > 0.5  # the warm model writes tags: the metrics are not all n/a
    merged = variance.merge([tmp_path / "s0.jsonl", tmp_path / "s1.jsonl"], "score100_first", [10.0, 30.0], None,
                            None)
    assert json.loads(json.dumps(merged["metrics"])) == single["metrics"]


@pytest.mark.slow  # a subprocess that imports ms-swift: ~30 s on a busy 2-core machine
def test_shell_wrapper_cpu(warm_model_dir, tmp_path):
    out = subprocess.run(["bash", str(REPO / "tools" / "run_variance_test.sh"), "--gpus", "cpu", "--out_dir",
                          str(tmp_path / "v"), "--", "--model", str(warm_model_dir), "--checkpoint", "base",
                          "--template", "qwen2_5", "--system", SYSTEM, "--model_type", "qwen2", "--dataset",
                          "anthropic_hh", "--split",
                          "sample", "--data_files", str(HH_SAMPLE), "--prompt", "hh_score100_v1", "--n_pairs", "2",
                          "--n_samples", "2", "--max_new_tokens", "8", "--range_thresholds", "20"],
                         env=offline_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    merged = json.loads((tmp_path / "v" / "merged.json").read_text())
    assert merged["metrics"]["n_pairs"] == 2 and "20" in merged["metrics"]["range_rates"]
    assert (tmp_path / "v" / "merged.hist.png").read_bytes()[:4] == b"\x89PNG"
