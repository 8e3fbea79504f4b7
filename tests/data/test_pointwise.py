"""The shared pointwise reader: schema and pair checks with the file's own line numbers (issue 12 items 5, 9)."""

import json

import pytest

from grpo_bt_rm.data.pointwise import main, read_pointwise
from grpo_bt_rm.io import InputError

MSG = [{"role": "user", "content": "judge this"}]


def row(pid, side, pref=0, **kw):
    return {"messages": MSG, "pair_id": pid, "side": side, "preferred_side": pref, **kw}


def write(path, rows):
    """One row per line, with a blank line first so line numbers differ from row numbers."""
    path.write_text("\n" + "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# (rows written from line 2 on, expected error). Each case has exactly one fault.
CASES = [
    # the two sides disagree on which one is preferred: line 5 contradicts line 3
    ([row(0, 0), row(1, 0), row(0, 1, pref=1), row(1, 1)], r"f\.jsonl:4: field 'preferred_side': 1 here but 0 at line 2"),
    # pair 1 has no side 1: the error names the line of the side that is there
    ([row(0, 0), row(0, 1), row(1, 0)], r"f\.jsonl:4: pair_id 1 has no side 1"),
    # a second side-0 row for pair 0 on line 4 (first on line 2)
    ([row(0, 0), row(0, 1), row(0, 0)], r"f\.jsonl:4: duplicate row for pair_id 0 side 0 \(first at line 2\)"),
    # messages as a string (passed density.compute/attach before)
    ([{**row(0, 0), "messages": "judge this"}, row(0, 1)], r"f\.jsonl:2: field 'messages': expected a non-empty list"),
    # a message without string content
    ([{**row(0, 0), "messages": [{"role": "user", "content": 3}]}, row(0, 1)], r"f\.jsonl:2: field 'messages\.0'"),
    # side must be 0 or 1 (True is not 1 here)
    ([row(0, True), row(0, 1)], r"f\.jsonl:2: field 'side': expected 0 or 1, got True"),
    # preferred_side missing
    ([{k: v for k, v in row(0, 0).items() if k != "preferred_side"}, row(0, 1)], r"field 'preferred_side'"),
    # pair_id missing
    ([{k: v for k, v in row(0, 0).items() if k != "pair_id"}], r"f\.jsonl:2: field 'pair_id'"),
    # a line that is not UTF-8
    ([row(0, 0), "\udcff"], r"f\.jsonl:3: not valid UTF-8 \(byte 0xff at column 1\)"),
]


@pytest.mark.parametrize("rows,error", CASES)
def test_bad_files_name_file_line_and_field(tmp_path, rows, error):
    path = tmp_path / "f.jsonl"
    text = "\n" + "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(InputError, match=error):
        read_pointwise(path)


def test_good_file_and_cli(tmp_path, capsys):
    path = write(tmp_path / "ok.jsonl", [row("a", 1, 1), row("b", 0), row("a", 0, 1), row("b", 1)])
    assert [n for n, _ in read_pointwise(path)] == [2, 3, 4, 5]
    assert main([str(path)]) == 0 and "4 rows, 2 pairs, ok" in capsys.readouterr().out
    bad = write(tmp_path / "bad.jsonl", [row(0, 0), row(0, 1, pref=1)])
    assert main([str(path), str(bad)]) == 2
    assert "bad.jsonl:3: field 'preferred_side'" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.jsonl")]) == 2
