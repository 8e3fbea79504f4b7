"""The trainer's start-up check of the dataset files named in args.json (issue 12 item 5): one bad pair anywhere in
the file stops the run before the first step, with the file's line number."""

import json

import pytest

from grpo_bt_rm.io import InputError
from grpo_bt_rm.training.trainer import check_dataset_files

MSG = [{"role": "user", "content": "x"}]


def test_bad_pair_in_the_training_file_fails_at_start_up(tmp_path):
    good = [{"messages": MSG, "pair_id": p, "side": s, "preferred_side": 0} for p in range(20) for s in (0, 1)]
    bad = [dict(r) for r in good]
    bad[35]["preferred_side"] = 1  # pair 17, side 1: line 36
    train, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in bad))
    val.write_text("".join(json.dumps(r) + "\n" for r in good))
    run = tmp_path / "run"
    run.mkdir()
    (run / "args.json").write_text(json.dumps({"dataset": [f"{train}#30"], "val_dataset": [str(val)]}))
    with pytest.raises(InputError, match=r"train\.jsonl:36: field 'preferred_side': 1 here but 0 at line 35"):
        check_dataset_files(run)
    train.write_text(val.read_text())
    assert check_dataset_files(run) == [str(train), str(val)]
    assert check_dataset_files(tmp_path) == []  # no args.json: nothing to read (logged)
