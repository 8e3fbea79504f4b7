"""bench/demo_variants_table.py's per-seed gain table on made-up variant results and demo summaries (no model)."""

from __future__ import annotations

import json

import pytest

from grpo_bt_rm.io import InputError
from tests.script_module import load_script


def load_table():
    return load_script("bench/demo_variants_table.py")


def _write(tmp_path, sft: dict, results: dict):
    demos, out = tmp_path / "demos", tmp_path / "out"
    out.mkdir()
    for seed, acc in sft.items():
        (demos / f"seed{seed}").mkdir(parents=True)
        (demos / f"seed{seed}" / "summary.json").write_text(json.dumps({"sft": {"acc_all": acc}}))
    for (variant, seed), (acc, fail) in results.items():
        (out / f"{variant}.s{seed}.test.json").write_text(
            json.dumps({"metrics": {"acc_all": acc, "parse_fail_rate": fail}}))
    return demos, out


def test_gain_table_counts_the_seeds_meeting_the_target(tmp_path, capsys):
    demos, out = _write(tmp_path, {"0": 0.8, "1": 0.7}, {
        ("baseline", "0"): (0.9, 0.0),    # exactly +10 (0.9 - 0.8 is 0.0999... in floats): met
        ("baseline", "1"): (0.84, 0.0),   # +14 but under 0.85: not met
        ("graded", "0"): (0.95, 0.03),    # +15 but 3% parse failures: not met
    })
    load_table().gain_table(out, demos, ["0", "1"], ["baseline", "graded", "binary"])
    lines = capsys.readouterr().out.splitlines()
    assert "seed 0: test acc_all (gain over SFT 0.800)" in lines[1]
    assert lines[3] == "| baseline | 0.900 (+10.0) | 0.840 (+14.0) | 1 of 2 |"
    assert lines[4] == "| graded | 0.950 (+15.0) | n/a | 0 of 1 |"
    assert len(lines) == 5  # binary has no result on any seed: no row


def test_gain_table_names_a_missing_or_bad_summary(tmp_path):
    demos, out = _write(tmp_path, {"0": 0.8}, {("baseline", "0"): (0.9, 0.0)})
    with pytest.raises(InputError, match=r"seed1/summary.json: missing"):
        load_table().gain_table(out, demos, ["0", "1"], ["baseline"])
    (demos / "seed0" / "summary.json").write_text(json.dumps({"sft": {}}))
    with pytest.raises(InputError, match=r"seed0/summary.json: no SFT acc_all read as text"):
        load_table().gain_table(out, demos, ["0"], ["baseline"])
    # a demo read with expected scores and no readouts: its SFT figure is not the variants' (text) one
    (demos / "seed0" / "summary.json").write_text(json.dumps({"scoring": "expected", "sft": {"acc_all": 0.7}}))
    with pytest.raises(InputError, match=r"no SFT acc_all read as text \(.*readouts.text"):
        load_table().gain_table(out, demos, ["0"], ["baseline"])


def test_gain_is_over_the_sft_judge_read_the_variants_way(tmp_path, capsys):
    demos, out = _write(tmp_path, {"0": 0.8}, {("baseline", "0"): (0.9, 0.0)})
    (demos / "seed0" / "summary.json").write_text(json.dumps({
        "scoring": "expected", "sft": {"acc_all": 0.7}, "readouts": {"text": {"sft": {"acc_all": 0.85}}}}))
    load_table().gain_table(out, demos, ["0"], ["baseline"])
    assert "| baseline | 0.900 (+5.0) | 0 of 1 |" in capsys.readouterr().out  # over the text SFT 0.85, not 0.7
