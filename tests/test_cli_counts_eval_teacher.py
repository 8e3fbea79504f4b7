"""Count, size and rate flags of eval_bt's siblings and the teacher CLIs fail at parse time with the flag's name;
--data_files / --input_dirs keep every value when repeated."""

import pytest

from grpo_bt_rm.eval import variance
from grpo_bt_rm.teacher import generate, sft_data


@pytest.mark.parametrize("make,argv,message", [
    (variance.build_argparser, ["--n_samples", "1"], "argument --n_samples: expected an integer >= 2, got '1'"),
    (variance.build_argparser, ["--num_shards", "0"], "argument --num_shards"),
    (variance.build_argparser, ["--n_pairs", "-5"], "argument --n_pairs"),
    (generate.build_argparser, ["--concurrency", "0"], "argument --concurrency: expected an integer >= 1"),
    (generate.build_argparser, ["--max_retries", "-1"], "argument --max_retries"),
    (generate.build_argparser, ["--n_pairs", "-5"], "argument --n_pairs"),
    (generate.build_argparser, ["--max_tokens", "1e3"], "argument --max_tokens"),
    (generate.build_argparser, ["--price_in", "-1"], "argument --price_in"),
    (generate.build_argparser, ["--timeout", "0"], "argument --timeout"),
    (sft_data.build_argparser, ["--input_dirs", "x", "--min_margin", "-2"], "argument --min_margin"),
])
def test_bad_counts_are_usage_errors(make, argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        make().parse_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_repeated_list_flags_keep_every_value():
    args = generate.build_argparser().parse_args(["--backend", "openai", "--model", "m", "--data_files", "a", "b",
                                              "--data_files", "c"])
    assert args.data_files == ["a", "b", "c"]
    args = sft_data.build_argparser().parse_args(["--input_dirs", "r1", "--input_dirs", "r2", "r3", "--output", "o"])
    assert args.input_dirs == ["r1", "r2", "r3"]
