"""Issue 12 item 1: a sweep rerun into the same out dir never reuses a result made with other settings.

The eval job is `tests/eval/stand_in_eval.py` (eval_bt with the model faked), so the stored results carry eval_bt's
real provenance; each case changes one setting and asserts the sweep reruns (default) or refuses naming it.
"""

from __future__ import annotations

import json
import logging
import os

import pytest

from grpo_bt_rm.eval import sweep
from grpo_bt_rm.eval.summary import read_result
from tests.eval.conftest import HH_SAMPLE, PROMPT
from tests.eval.stand_in_eval import use_stand_in


@pytest.fixture
def setup(tmp_path, monkeypatch):
    run, ck, base = use_stand_in(monkeypatch, tmp_path)
    data = tmp_path / "hh.jsonl"
    data.write_bytes(HH_SAMPLE.read_bytes())
    out = tmp_path / "eval"

    def run_sweep(*extra):
        argv = ["--run_dir", str(run), "--ckpts", "checkpoint-5", "--seeds", "0", "--out_dir", str(out),
                "--n_pairs", "3", "--prompt", PROMPT, "--bt_temp", "20", "--dataset", "anthropic_hh", "--split",
                "sample", "--data_files", str(data), "--no_plot", "--no_wandb", *extra]
        return sweep.main(argv)

    assert run_sweep() == 0
    result = out / "eval_checkpoint-5_seed0.json"
    assert read_result(result)["data"]["n_pairs"] == 3
    return run_sweep, result, ck, data, base


def test_same_settings_are_skipped(setup, caplog):
    run_sweep, result, *_ = setup
    before = result.stat().st_mtime_ns
    caplog.set_level(logging.INFO)
    assert run_sweep() == 0
    assert result.stat().st_mtime_ns == before
    assert "1 already complete (skipped)" in caplog.text


SLOW = pytest.mark.slow  # ~7 s each on a loaded 2-core machine; the fast five cover flags, run files and data

# (what changes, extra sweep flags or a file change, the setting the sweep must name)
CASES = [
    ("n_pairs", ["--n_pairs", "4"], "--n_pairs: 3 -> 4"),
    pytest.param("bt_temp", ["--bt_temp", "10"], "--bt_temp: 20.0 -> 10.0", marks=SLOW),
    pytest.param("prompt", ["--prompt", "score100_v1"], 'prompt: "hh_score100_v1" -> "score100_v1"', marks=SLOW),
    pytest.param("data_seed", ["--data_seed", "1"], "--data_seed: 0 -> 1", marks=SLOW),
    pytest.param("model", ["--model", "OTHER"], "--model: null ->", marks=SLOW),
    pytest.param("sampling", ["--do_sample", "--temperature", "0.5"], "--do_sample: false -> true", marks=SLOW),
    pytest.param("max_new_tokens", ["--max_new_tokens", "64"], "--max_new_tokens: 128 -> 64", marks=SLOW),
    pytest.param("dtype", ["--dtype", "bf16"], "dtype: \"float32\" -> \"bfloat16\"", marks=SLOW),
    pytest.param("response_prefix flag", ["--response_prefix", "Score: "], 'response_prefix: null -> "Score: "',
                 marks=SLOW),
    ("response_prefix trained", "prefix", 'response_prefix: null -> "<s>"'),
    ("reasoning_tag", ["--reasoning_tag", "reason"], 'parser reasoning_tag: "think" -> "reason"'),
    # a result read from the text is never reused as an expected-score one (old results count as text)
    ("scoring", ["--scoring", "expected"], '--scoring: "text" -> "expected"'),
    ("weights rewritten", "weights", "checkpoint weights: fingerprint differs"),
    ("data file edited", "data", "data files: contents or list differ"),
]


@pytest.mark.parametrize("what,change,named", CASES, ids=[getattr(c, "values", c)[0] for c in CASES])
def test_changed_setting_is_refused_then_rerun(setup, capsys, what, change, named):
    run_sweep, result, ck, data, base = setup
    if change == "prefix":  # the run's args.json now names a pre-fill (e.g. the run dir was re-trained)
        args_json = ck.parent / "args.json"
        args_json.write_text(json.dumps({**json.loads(args_json.read_text()), "response_prefix": "<s>"}))
        extra = []
    elif change == "weights":
        (ck / "adapter_model.safetensors").write_bytes(b"adapter v2, retrained")
        extra = []
    elif change == "data":
        lines = data.read_text().splitlines(keepends=True)
        data.write_text("".join(lines[1:] + lines[:1]))  # same rows, other order: other pairs drawn
        extra = []
    else:
        extra = list(change)
        if "OTHER" in extra:
            extra[extra.index("OTHER")] = str(base)
    old = result.read_bytes()
    capsys.readouterr()

    assert run_sweep("--no-rerun_changed", *extra) == 2  # refuse: name the setting, run nothing, keep the result
    err = capsys.readouterr().err
    assert "made with other settings" in err and named in err, err
    assert result.read_bytes() == old

    assert run_sweep(*extra) == 0  # default: move the old result aside, rerun with the new settings
    stale = list((result.parent / "stale").glob(f"*/{result.name}"))
    assert len(stale) == 1 and stale[0].read_bytes() == old, "the old result was lost"
    new = read_result(result)
    assert new is not None and new["seconds"] is not None and result.read_bytes() != old
    assert run_sweep("--no-rerun_changed", *extra) == 0  # now it matches: skipped


def test_missing_checkpoint_is_named(setup, capsys):
    run_sweep, result, ck, *_ = setup
    os.rename(ck, ck.with_name("moved"))
    assert run_sweep("--no-rerun_changed") == 2
    assert "checkpoint: cannot be resolved now" in capsys.readouterr().err
