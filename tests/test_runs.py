"""runs.py: the newest run by version number and the latest checkpoint by step number, never by mtime."""

import os

import pytest

from grpo_bt_rm import runs
from grpo_bt_rm.io import InputError


def _mk(path, args_json=True):
    path.mkdir(parents=True)
    if args_json:
        (path / "args.json").write_text("{}")
    return path


def test_latest_checkpoint_is_by_step_and_version_not_mtime(tmp_path, caplog):
    v2 = _mk(tmp_path / "v2-20250101-000000")
    v10 = _mk(tmp_path / "v10-20250102-000000")  # v10 > v2 although it sorts first as text
    for run, steps in ((v2, (5000,)), (v10, (1000, 200, 30))):
        for s in steps:
            (run / f"checkpoint-{s}").mkdir()
    for i, d in enumerate([v10 / "checkpoint-1000", v10 / "checkpoint-30", v10 / "checkpoint-200", v2]):
        os.utime(d, (1_700_000_000 + i, 1_700_000_000 + i))  # mtimes in the wrong order, as after a copy
    _mk(tmp_path / "v11-20250103-000000", args_json=False)  # a failed launch: ignored, with a log line
    caplog.set_level("INFO")
    assert runs.latest_checkpoint(tmp_path) == v10 / "checkpoint-1000"
    assert "v11-20250103-000000: no args.json" in caplog.text
    assert runs.latest_checkpoint(v2) == v2 / "checkpoint-5000"
    assert [p.name for p in runs.runs_in(tmp_path)] == [v2.name, v10.name]


def test_newest_run_without_checkpoints_falls_back_with_a_log_line(tmp_path, caplog):
    old = _mk(tmp_path / "v0-1")
    (old / "checkpoint-7").mkdir()
    _mk(tmp_path / "v1-2")  # started, crashed before the first save
    caplog.set_level("INFO")
    assert runs.latest_checkpoint(tmp_path) == old / "checkpoint-7"
    assert "v1-2: no checkpoint-<step> folder" in caplog.text


def test_no_checkpoint_is_an_error(tmp_path, capsys):
    _mk(tmp_path / "v0-1")
    with pytest.raises(InputError, match="no checkpoint-<step> folder"):
        runs.latest_checkpoint(tmp_path)
    assert runs.main(["latest-checkpoint", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_eval_run_dir_skips_an_empty_failed_launch(tmp_path, caplog):
    """Issue 12 item 4: a failed launch's empty vN folder is not what `eval --run_dir OUT` evaluates."""
    from grpo_bt_rm.eval.loading import resolve_run

    good = _mk(tmp_path / "v0-20250101-000000")
    _mk(tmp_path / "v1-20250102-000000", args_json=False)
    caplog.set_level("INFO")
    assert resolve_run(tmp_path).run_dir == good
    assert "v1-20250102-000000: no args.json" in caplog.text
