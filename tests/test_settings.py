"""Per-stage settings: frozen, validated on construction, and a bad value names its flag."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from grpo_bt_rm.data.build_dataset import BuildSettings
from grpo_bt_rm.density.compute import DensitySettings
from grpo_bt_rm.eval import eval_bt, variance
from grpo_bt_rm.eval.settings import EvalSettings, VarianceSettings
from grpo_bt_rm.io import InputError, SettingsError
from grpo_bt_rm.prompts import get_prompt
from grpo_bt_rm.teacher import generate
from grpo_bt_rm.teacher.runner import RunSettings
from grpo_bt_rm.teacher.settings import TeacherSettings
from grpo_bt_rm.teacher.sft_data import SftDataSettings

TEACHER = {"backend": "openai", "model": "m"}

CASES = [
    # (settings class, keyword arguments, the flag the error must name)
    (EvalSettings, {"bt_temp": 0.0}, "--bt_temp"),  # T = 0 divides the score difference by zero
    (EvalSettings, {"bt_temp": float("nan")}, "--bt_temp"),
    (EvalSettings, {"n_boot": 0}, "--n_boot"),
    (EvalSettings, {"n_samples": 2}, "--do_sample"),  # greedy decoding repeats the same completion
    (EvalSettings, {"batch_pairs": 0}, "--batch_pairs"),
    (EvalSettings, {"engine": "tgi"}, "--engine"),
    (EvalSettings, {"reasoning_tag": "<think>"}, "--reasoning_tag"),
    (VarianceSettings, {"n_samples": 1}, "--n_samples"),  # one sample has no variance
    (VarianceSettings, {"shard_id": 2, "num_shards": 2}, "--shard_id"),
    (VarianceSettings, {"range_thresholds": "10,x"}, "--range_thresholds"),
    (VarianceSettings, {"range_thresholds": "-1"}, "--range_thresholds"),
    (DensitySettings, {"inputs": ["a.jsonl"], "k": 0}, "--k"),
    (DensitySettings, {"inputs": ["a.jsonl"], "alpha": -1.0}, "--alpha"),
    (DensitySettings, {"inputs": ["a.jsonl"], "max_ratio": 0.5}, "--max_ratio"),
    (DensitySettings, {"inputs": ["a.jsonl"], "index": "lsh"}, "--index"),
    (DensitySettings, {}, "--in file or --dataset"),  # nothing to read
    (BuildSettings, {"out": "o.jsonl", "limit": 0}, "--limit"),
    (BuildSettings, {"out": "o.jsonl", "seed": -1}, "--seed"),
    (TeacherSettings, {**TEACHER, "concurrency": 0}, "--concurrency"),
    (TeacherSettings, {**TEACHER, "timeout": 0}, "--timeout"),
    (TeacherSettings, {**TEACHER, "reasoning_effort": "max"}, "--reasoning_effort"),
    (RunSettings, {**TEACHER, "prompt": None, "batch_size": 0}, "--batch_size"),
    (RunSettings, {**TEACHER, "prompt": None, "rpm_limit": -1}, "--rpm_limit"),
    (SftDataSettings, {"input_dirs": ["t"], "output": "o", "min_margin": -2.0}, "--min_margin"),
    (SftDataSettings, {"input_dirs": [], "output": "o"}, "--input_dirs"),
]


@pytest.mark.parametrize("cls, kwargs, flag", CASES, ids=[f"{c.__name__}-{f}" for c, _, f in CASES])
def test_bad_value_names_its_flag(cls, kwargs, flag):
    with pytest.raises(SettingsError, match=flag.replace("-", r"\-")):
        cls(**kwargs)


def test_settings_errors_are_input_errors():
    assert issubclass(SettingsError, InputError)  # code that stops on bad input stops on bad settings too


@pytest.mark.parametrize("settings", [
    EvalSettings(), VarianceSettings(), DensitySettings(inputs=["a.jsonl"]), BuildSettings(out="o.jsonl"),
    TeacherSettings(**TEACHER), RunSettings(**TEACHER, prompt=get_prompt("hh_score100_v1")),
], ids=lambda s: type(s).__name__)
def test_settings_are_frozen(settings):
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 1


def test_from_args_takes_every_flag_and_leaves_the_namespace_alone():
    args = eval_bt.build_argparser().parse_args(["--data_files", "a.jsonl", "b.jsonl", "--n_pairs", "7"])
    before = vars(args).copy()
    s = EvalSettings.from_args(args)
    assert s.data_files == ("a.jsonl", "b.jsonl") and s.n_pairs == 7 and s.prompt is None and s.bt_temp is None
    assert set(vars(args)) <= set(s.as_dict())  # no flag is dropped on the way
    assert vars(args) == before
    v = VarianceSettings.from_args(variance.build_argparser().parse_args(["--range_thresholds", "5 15"]))
    assert v.do_sample and v.n_pairs == 50 and v.thresholds == [5.0, 15.0]


def test_teacher_settings_keep_the_key_out_of_logs_and_records():
    args = generate.build_argparser().parse_args(["--backend", "openai", "--model", "m", "--api_key", "sk-secret"])
    s = TeacherSettings.from_args(args)
    assert s.api_key == "sk-secret"
    assert "sk-secret" not in repr(s) and "api_key" not in s.as_dict()


def test_density_defaults_resolve_under_the_base_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRPO_BT_RM_BASE_DIR", str(tmp_path))
    s = DensitySettings(inputs=("a.jsonl",))
    assert s.out_dir == str(tmp_path / "density" / "latest")
    assert s.cache_dir == str(tmp_path / "density" / "embed_cache")


def test_cli_reports_a_settings_error_as_one_line(tmp_path, capsys):
    # --bt_temp passes argparse (any float) and is refused by EvalSettings: one line, exit 2, nothing written
    rc = eval_bt.main(["--from_completions", str(tmp_path / "c.jsonl"), "--bt_temp", "0",
                       "--out_json", str(tmp_path / "r.json")])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.startswith("error: --bt_temp 0.0: expected") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_build_settings_record_the_flags_as_lists():
    s = BuildSettings.from_args(argparse.Namespace(out="o", dataset=["anthropic_hh"], data_files=["x"], limit=None))
    assert s.as_dict()["dataset"] == ["anthropic_hh"] and s.as_dict()["data_files"] == ["x"]
    assert BuildSettings(out="o").dataset == ("summarize_from_feedback",)
