"""io.append_jsonl: whole lines, no interleaving across processes, a torn tail repaired."""

import json
import multiprocessing as mp

from grpo_bt_rm.io import append_jsonl, read_jsonl


def _writer(path, k):
    for j in range(50):
        append_jsonl(path, [{"writer": k, "j": j, "pad": "x" * 3000}])  # > PIPE_BUF: O_APPEND must still hold


def test_appends_whole_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    assert append_jsonl(path, []) == 0 and not path.exists()  # nothing to write: no file
    assert append_jsonl(path, [{"a": 1}, {"b": "é"}]) == 2
    assert append_jsonl(path, [{"c": "synced"}], fsync=True) == 1
    assert read_jsonl(path) == [{"a": 1}, {"b": "é"}, {"c": "synced"}]
    assert "é" in path.read_text(encoding="utf-8")  # UTF-8, not \\u escapes


def test_unserialisable_values_are_written_as_str(tmp_path):
    path = tmp_path / "d.jsonl"
    append_jsonl(path, [{"p": tmp_path}])
    assert read_jsonl(path) == [{"p": str(tmp_path)}]


def test_torn_tail_is_ended_before_appending(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n{"b": ')  # a crash mid-line
    append_jsonl(path, [{"c": 3}])
    lines = path.read_text().splitlines()
    assert lines == ['{"a": 1}', '{"b": ', '{"c": 3}']  # the torn line stays alone; the new one parses


def test_concurrent_processes_never_interleave(tmp_path):
    path = tmp_path / "d.jsonl"
    procs = [mp.get_context("fork").Process(target=_writer, args=(str(path), k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted((r["writer"], r["j"]) for r in rows) == [(k, j) for k in range(4) for j in range(50)]
