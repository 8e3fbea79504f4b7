"""Issue 12 item 3: every count, size and seed flag rejects negative, zero-where-meaningless and non-integer values
at parse time, naming the flag (argparse usage error, exit 2) before anything runs."""

from __future__ import annotations

import argparse

import pytest

from grpo_bt_rm.argtypes import COUNT, SEED, float_in, int_at_least
from grpo_bt_rm.data import build_dataset
from grpo_bt_rm.demo import task
from grpo_bt_rm.density import compute
from grpo_bt_rm.eval import sweep
from grpo_bt_rm.reports import regions

# (value, parser, expected: a number or the error text)
TYPE_CASES = [
    ("3", COUNT, 3),
    ("0", COUNT, "expected an integer >= 1, got '0'"),  # zero pairs/neighbours/workers is meaningless
    ("-5", COUNT, "expected an integer >= 1, got '-5'"),  # the `--n_pairs -5` kind: no Python slice semantics
    ("2.5", COUNT, "expected an integer >= 1, got '2.5'"),  # non-integer
    ("1e3", COUNT, "expected an integer >= 1"),  # scientific notation is not an integer count
    ("0", SEED, 0),
    ("-1", SEED, "expected an integer >= 0"),  # numpy refuses negative seeds later, mid-run
    ("0", int_at_least(0), 0),
    ("0.5", float_in(0, 1), 0.5),
    ("1.5", float_in(0, 1), "expected a number >= 0 and <= 1, got '1.5'"),
    ("nan", float_in(0), "expected a number >= 0"),
    ("0", float_in(0, low_open=True), "expected a number > 0"),
]


@pytest.mark.parametrize("text,parse,expected", TYPE_CASES)
def test_types(text, parse, expected):
    if isinstance(expected, str):
        with pytest.raises(argparse.ArgumentTypeError, match=expected.replace("(", r"\(")):
            parse(text)
    else:
        assert parse(text) == expected


OUT = ["--out", "x.jsonl"]
CLI_CASES = [
    (build_dataset.main, [*OUT, "--limit", "-5"], "--limit"),
    (build_dataset.main, [*OUT, "--limit", "0"], "--limit"),
    (build_dataset.main, [*OUT, "--seed", "1.5"], "--seed"),
    (compute.main, ["--k", "0"], "--k"),
    (compute.main, ["--batch_size", "-1"], "--batch_size"),
    (compute.main, ["--nprobe", "x"], "--nprobe"),
    (compute.main, ["--max_ratio", "0.5"], "--max_ratio"),
    (compute.main, ["--alpha", "-1"], "--alpha"),
    (regions.main, ["--weights", "w", "--dataset", "d", "--completions", "a=b", "--bins", "0"], "--bins"),
    (regions.main, ["--weights", "w", "--dataset", "d", "--completions", "a=b", "--bt_temp", "0"], "--bt_temp"),
    (sweep.main, ["--out_dir", "o", "--ckpts", "base", "--cpu_workers", "0"], "--cpu_workers"),
    (task.main, ["--out", "o", "--n_test", "-3"], "--n_test"),
]


@pytest.mark.parametrize("main,argv,flag", CLI_CASES, ids=[f"{m.__module__}{a[-2]}={a[-1]}" for m, a, _ in CLI_CASES])
def test_cli_rejects_bad_counts_before_running(tmp_path, monkeypatch, capsys, main, argv, flag):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert f"argument {flag}: expected" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_sweep_rejects_a_negative_seed(tmp_path, capsys):
    assert sweep.main(["--out_dir", str(tmp_path / "o"), "--ckpts", "base", "--seeds", "0 -1"]) == 2
    assert "--seeds '0 -1': expected an integer >= 0, got '-1'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
