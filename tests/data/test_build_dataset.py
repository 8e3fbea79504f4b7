import hashlib
import json
import os
import subprocess
import sys

import pytest

from grpo_bt_rm.data.build_dataset import main
from grpo_bt_rm.io import sha256_file
from tests.data.rawfixtures import hh_rows, write_jsonl
from tests.data.rawfixtures import hh_transcript as T


def _rows(path):
    return [json.loads(line) for line in open(path)]


def test_end_to_end_rows_meta_manifest(tmp_path):
    raw = write_jsonl(tmp_path / "hh.jsonl", hh_rows(40) + [hh_rows(1)[0]])  # last row repeats pair 0
    out = tmp_path / "out.jsonl"
    rc = main(["--dataset", "anthropic_hh", "--split", "test", "--data_files", str(raw), "--prompt",
               "hh_score100_v1", "--add_meta", "--out", str(out), "--dedupe", "--seed", "3"])
    assert rc == 0
    rows = _rows(out)
    assert len(rows) == 80
    assert [r["pair_id"] for r in rows] == [i // 2 for i in range(80)]
    assert [r["side"] for r in rows] == [0, 1] * 40
    prefs = {r["preferred_side"] for r in rows}
    assert prefs == {0, 1}  # randomize_sides is on by default
    for a, b in zip(rows[::2], rows[1::2], strict=True):
        assert a["preferred_side"] == b["preferred_side"] and a["prompt_id"] == b["prompt_id"]
        chosen = a if a["preferred_side"] == 0 else b
        assert "plus" in chosen["messages"][-1]["content"].split("ASSISTANT REPLY:")[1]  # the chosen reply
    r0 = rows[0]
    assert r0["prompt_name"] == "hh_score100_v1" and r0["parser_name"] == "score100_first"
    assert r0["dataset"] == "anthropic_hh" and r0["split"] == "test" and r0["prompt_version"] == 1
    ctx = "Human: What is 0 plus 0?"
    assert r0["prompt_id"] == hashlib.md5(ctx.encode()).hexdigest()[:16] and r0["source_index"] == 0
    m = json.loads((tmp_path / "out.jsonl.manifest.json").read_text())
    assert m["pairs"] == 40 and m["rows"] == 80 and m["dropped"] == {"duplicate": 1}
    assert m["sha256"] == sha256_file(out)
    assert m["package_version"] and m["args"]["seed"] == 3


def test_sides_depend_on_seed_and_can_be_disabled(tmp_path):
    raw = write_jsonl(tmp_path / "hh.jsonl", hh_rows(30))

    def prefs(*extra):
        out = tmp_path / "o.jsonl"
        main(["--dataset", "anthropic_hh", "--data_files", str(raw), "--prompt", "hh_score5_v3", "--out",
              str(out), *extra])
        return [r["preferred_side"] for r in _rows(out)[::2]]

    assert prefs("--seed", "0") == prefs("--seed", "0")
    assert prefs("--seed", "0") != prefs("--seed", "1")
    assert set(prefs("--no-randomize_sides")) == {0}


def test_shuffle_and_limit(tmp_path):
    raw = write_jsonl(tmp_path / "hh.jsonl", hh_rows(20))
    out = tmp_path / "o.jsonl"
    main(["--dataset", "anthropic_hh", "--data_files", str(raw), "--prompt", "hh_score100_v1", "--add_meta",
          "--shuffle", "--limit", "5", "--out", str(out)])
    idx = [r["source_index"] for r in _rows(out)[::2]]
    assert len(idx) == 5 and idx != sorted(idx)


def test_bad_row_leaves_nothing_and_keeps_old_output(tmp_path, capsys):
    raw = write_jsonl(tmp_path / "hh.jsonl", hh_rows(3) + [{"chosen": T(("Human", "a"), ("Assistant", "b"))}])
    out = tmp_path / "o.jsonl"
    out.write_text("previous\n")
    rc = main(["--dataset", "anthropic_hh", "--data_files", str(raw), "--prompt", "hh_score100_v1", "--out",
               str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "hh.jsonl:4" in err and "'rejected'" in err
    assert out.read_text() == "previous\n"  # nothing already written is lost
    assert not (tmp_path / "o.jsonl.manifest.json").exists()
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []
    rc = main(["--dataset", "anthropic_hh", "--data_files", str(raw), "--prompt", "hh_score100_v1", "--out",
               str(out), "--skip_bad"])
    assert rc == 0 and len(_rows(out)) == 6
    assert json.loads((tmp_path / "o.jsonl.manifest.json").read_text())["malformed"] == 1


def test_multi_source(tmp_path):
    hh = write_jsonl(tmp_path / "hh.jsonl", hh_rows(2))
    pj = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "chosen": "c", "rejected": "r"}])
    out = tmp_path / "o.jsonl"
    rc = main(["--dataset", "anthropic_hh,pairs_jsonl", "--data_files", f"anthropic_hh={hh}", "--data_files",
               f"pairs_jsonl={pj}", "--prompt", "generic_score100_v1", "--add_meta", "--out", str(out)])
    assert rc == 0
    assert [r["dataset"] for r in _rows(out)[::2]] == ["anthropic_hh", "anthropic_hh", "pairs_jsonl"]
    assert main(["--dataset", "anthropic_hh,pairs_jsonl", "--data_files", str(hh), "--out", str(out)]) == 2


def test_out_without_directory_part_via_cli(tmp_path):
    raw = write_jsonl(tmp_path / "hh.jsonl", hh_rows(2))
    r = subprocess.run([sys.executable, "-m", "grpo_bt_rm.data.build_dataset", "--dataset", "anthropic_hh",
                        "--data_files", str(raw), "--prompt", "hh_score100_v1", "--out", "plain.jsonl"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(_rows(tmp_path / "plain.jsonl")) == 4


def test_unknown_prompt_and_bad_flag(tmp_path, capsys):
    raw = write_jsonl(tmp_path / "hh.jsonl", hh_rows(2))
    assert main(["--dataset", "anthropic_hh", "--data_files", str(raw), "--prompt", "zzz", "--out",
                 str(tmp_path / "o.jsonl")]) == 2
    assert "hh_score100_v1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--bogus"])
