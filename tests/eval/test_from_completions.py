"""`eval_bt --from_completions`: metrics recomputed from a saved file without a model, with the right parser."""

from __future__ import annotations

import json

import pytest

from grpo_bt_rm.eval import eval_bt
from grpo_bt_rm.eval.metrics import REQUIRED_METRICS
from grpo_bt_rm.io import write_json, write_jsonl
from tests.eval.fixtures import write_fixture


def test_fixture_through_cli(tmp_path):
    comp = write_fixture(tmp_path / "fx.completions.jsonl")
    out = tmp_path / "fx.json"
    assert eval_bt.main(["--from_completions", str(comp), "--bt_temp", "20", "--out_json", str(out), "--seed", "0"]) == 0
    res = json.loads(out.read_text())
    m = res["metrics"]
    assert res["complete"] and set(REQUIRED_METRICS) <= set(m)
    assert (m["acc_all"], m["acc_parsed"], m["pair_fail_rate"]) == (0.5, 0.625, 0.2)  # see test_metrics.py
    assert res["source"]["from_completions"] == str(comp) and len(res["source"]["sha256"]) == 64
    assert out.with_suffix(".reliability.png").is_file()


def test_parser_and_checkpoint_come_from_the_generating_result(tmp_path):
    comp = tmp_path / "eval_ck_seed0.completions.jsonl"
    write_jsonl(comp, [{"pair_key": "a:b:0", "preferred_side": 0, "completions_0": ["<s>4</s>"],
                        "completions_1": ["<s>50</s>"]}])  # 50 is out of range on the 1-5 scale
    write_json(tmp_path / "eval_ck_seed0.json", {
        "kind": "eval_bt", "complete": True, "seed": 0, "metrics": {k: 0 for k in REQUIRED_METRICS},
        "prompt": {"name": "hh_score5_v1", "version": 1}, "parser": {"name": "score5_first"},
        "checkpoint": {"name": "checkpoint-7", "kind": "lora", "path": "/x/checkpoint-7", "step": 7}})
    out = tmp_path / "rescored.json"
    assert eval_bt.main(["--from_completions", str(comp), "--out_json", str(out), "--no_plot"]) == 0
    res = json.loads(out.read_text())
    assert res["parser"]["name"] == "score5_first" and res["prompt"]["name"] == "hh_score5_v1"
    assert res["metrics"]["n_failed_completions"] == 1 and res["metrics"]["acc_all"] == 0.0
    assert res["checkpoint"]["step"] == 7
    # an explicit --parser wins: on the 0-100 scale both tags parse and side 0 (4) loses to 50
    assert eval_bt.main(["--from_completions", str(comp), "--out_json", str(out), "--no_plot", "--parser",
                         "score100_first"]) == 0
    res = json.loads(out.read_text())
    assert res["metrics"]["n_failed_completions"] == 0 and res["metrics"]["acc_strict"] == 0.0


@pytest.mark.parametrize("argv,message", [
    (["--n_samples", "2"], "needs --do_sample"),
    (["--do_sample", "--temperature", "0"], "--temperature"),
    (["--batch_pairs", "0"], "--batch_pairs"),
    # counts and sizes are checked when the flags are parsed (a negative --n_pairs once sliced off 5 pairs)
    (["--n_pairs", "-5"], "argument --n_pairs: expected an integer >= 0, got '-5'"),
    (["--n_samples", "0"], "argument --n_samples: expected an integer >= 1"),
    (["--max_new_tokens", "2.5"], "argument --max_new_tokens: expected an integer >= 1, got '2.5'"),
    (["--top_p", "1.5"], "argument --top_p"),
    (["--n_boot", "0"], "argument --n_boot: expected an integer >= 1"),
    (["--reasoning_tag", "<think>"], "--reasoning_tag"),
])
def test_bad_settings_fail_before_any_work(tmp_path, capsys, argv, message):
    comp = write_fixture(tmp_path / "fx.jsonl")
    try:
        rc = eval_bt.main(["--from_completions", str(comp), *argv])
    except SystemExit as e:  # argparse's usage error
        rc = e.code
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))  # nothing written
