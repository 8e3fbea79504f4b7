"""Issue 12 item 14: defaults agree across stages (prompt follows the dataset family, the sweep's bt_temp follows
the run, --data_files takes several values and repeats in every CLI)."""

from __future__ import annotations

import json

import pytest

from grpo_bt_rm.data import build_dataset
from grpo_bt_rm.density import compute
from grpo_bt_rm.io import InputError
from tests.eval.conftest import HH_SAMPLE


def test_build_dataset_prompt_follows_the_dataset_family(tmp_path):
    out = tmp_path / "hh.jsonl"
    assert build_dataset.main(["--dataset", "anthropic_hh", "--split", "sample", "--data_files", str(HH_SAMPLE),
                               "--add_meta", "--out", str(out)]) == 0
    row = json.loads(out.read_text().splitlines()[0])
    assert row["prompt_name"] == "hh_score100_v1"  # was score100_v1, the Reddit-summary prompt
    assert "dialogue" in row["messages"][0]["content"].lower() or "conversation" in row["messages"][0]["content"].lower()
    assert build_dataset.default_prompt(["summarize_from_feedback"]) == "score100_v1"
    assert build_dataset.default_prompt(["ultrafeedback_binarized,pairs_jsonl"]) == "generic_score100_v1"
    with pytest.raises(InputError, match="different prompt families"):
        build_dataset.default_prompt(["anthropic_hh", "pairs_jsonl"])


@pytest.mark.parametrize("form", [["--data_files", "A", "B"], ["--data_files", "A", "--data_files", "B"]],
                         ids=["several values", "repeated"])
def test_data_files_forms(tmp_path, form):
    halves = HH_SAMPLE.read_text().splitlines(keepends=True)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(halves[:4]))
    b.write_text("".join(halves[4:]))
    files = [str(a) if x == "A" else str(b) if x == "B" else x for x in form]
    out = tmp_path / "o.jsonl"
    assert build_dataset.main(["--dataset", "anthropic_hh", "--split", "sample", *files, "--out", str(out)]) == 0
    assert json.loads((tmp_path / "o.jsonl.manifest.json").read_text())["pairs"] == 8
    args = compute.build_argparser().parse_args(["--dataset", "anthropic_hh", *files])
    assert args.data_files == [str(a), str(b)]


def test_sweep_bt_temp_follows_the_run(tmp_path, monkeypatch):
    from grpo_bt_rm.eval import sweep
    from grpo_bt_rm.eval.summary import read_result
    from tests.eval.stand_in_eval import use_stand_in

    run, _, _ = use_stand_in(monkeypatch, tmp_path)
    (run / "bt_reward_settings.json").write_text(json.dumps({"rewards": {"bt_pointwise_baseline": {"delta_temp": 20}}}))
    argv = ["--run_dir", str(run), "--ckpts", "base", "--n_pairs", "2", "--dataset", "anthropic_hh", "--split",
            "sample", "--data_files", str(HH_SAMPLE), "--no_plot", "--no_wandb"]
    assert sweep.main(argv) == 0
    result = read_result(run / "eval" / "eval_base_seed0.json")
    assert result["metrics"]["bt_temp"] == 20.0 and result["prompt"]["name"] == "hh_score100_v1"
    before = (run / "eval" / "eval_base_seed0.json").stat().st_mtime_ns
    assert sweep.main(argv) == 0  # the same defaults resolve the same way: reused, not rerun
    assert (run / "eval" / "eval_base_seed0.json").stat().st_mtime_ns == before
    assert sweep.main([*argv, "--bt_temp", "5"]) == 0  # an explicit value wins (and the old result is rerun)
    assert read_result(run / "eval" / "eval_base_seed0.json")["metrics"]["bt_temp"] == 5.0
