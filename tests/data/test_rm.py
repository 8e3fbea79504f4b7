"""data.rm: ms-swift RM rows from the adapters (same pairs and pair_id as build_dataset), weights, the checker."""

import json
from pathlib import Path

import pytest

from grpo_bt_rm.data.pairs import prompt_id
from grpo_bt_rm.data.rm import main, read_rm
from grpo_bt_rm.io import InputError

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "src/grpo_bt_rm/data/samples/hh_sample.jsonl")


def build(tmp_path, *extra):
    out = tmp_path / "rm.jsonl"
    assert main(["--dataset", "anthropic_hh", "--split", "sample", "--data_files", SAMPLE, "--out", str(out),
                 *extra]) == 0
    return out, [json.loads(x) for x in out.read_text().splitlines()]


def test_rows_follow_ms_swift_rm_format_and_builder_pairs(tmp_path):
    from grpo_bt_rm.data.build_dataset import main as build_main

    out, rows = build(tmp_path, "--shuffle", "--seed", "3", "--limit", "5")
    assert len(rows) == 5 and json.loads(Path(f"{out}.manifest.json").read_text())["rows"] == 5
    pw = tmp_path / "pw.jsonl"
    assert build_main(["--dataset", "anthropic_hh", "--split", "sample", "--data_files", SAMPLE, "--out", str(pw),
                       "--shuffle", "--seed", "3", "--limit", "5", "--add_meta"]) == 0
    pw_rows = [json.loads(x) for x in pw.read_text().splitlines()]
    for r in rows:
        assert [m["role"] for m in r["messages"]] == ["user", "assistant"]
        assert r["rejected_response"] and r["rejected_response"] != r["messages"][-1]["content"]
        assert r["prompt_id"] == prompt_id(r["messages"][0]["content"])
        # the same pair under the same pair_id as the pointwise builder (prompt ids agree)
        assert {x["prompt_id"] for x in pw_rows if x["pair_id"] == r["pair_id"]} == {r["prompt_id"]}
        assert "density_weight" not in r and "margin" not in r
    assert read_rm(out)


def test_weights_and_margin(tmp_path):
    _, plain = build(tmp_path)
    d = tmp_path / "density"
    d.mkdir()
    lines = [json.dumps({"prompt_id": r["prompt_id"], "weight": 1.0 + i}) for i, r in enumerate(plain)]
    (d / "weights.jsonl").write_text("\n".join(lines) + "\n")
    (d / "metadata.json").write_text(json.dumps({"counts": {"prompts": len({r["prompt_id"] for r in plain})}}))
    out, rows = build(tmp_path, "--weights", str(d), "--margin", "0.5")
    assert [r["density_weight"] for r in rows] == [1.0 + i for i in range(len(rows))]
    assert {r["margin"] for r in rows} == {0.5}
    assert read_rm(out, need_weight=True)
    # a prompt missing from the weights is an error naming the pair
    (d / "weights.jsonl").write_text("\n".join(lines[1:]) + "\n")
    (d / "metadata.json").write_text(json.dumps({"counts": {"prompts": len(lines) - 1}}))
    with pytest.raises(InputError, match="anthropic_hh:sample:.*not in the density weights"):
        from argparse import Namespace

        from grpo_bt_rm.data.rm import build as rm_build
        rm_build(Namespace(dataset=["anthropic_hh"], split="sample", data_files=[SAMPLE], seed=0, shuffle=False,
                           dedupe=False, limit=None, skip_bad=False, weights=str(d), margin=None,
                           out=str(tmp_path / "x.jsonl")))


GOOD = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "rejected_response": "b"}


@pytest.mark.parametrize("row, field", [
    ({**GOOD, "messages": [{"role": "user", "content": "q"}]}, "messages"),  # no chosen reply
    ({**GOOD, "messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "a"}]}, "messages"),
    ({**GOOD, "rejected_response": "a"}, "rejected_response"),  # identical replies (ms-swift asserts mid-run)
    ({**GOOD, "rejected_response": ""}, "rejected_response"),
    ({**GOOD, "margin": "big"}, "margin"),
    ({**GOOD, "density_weight": -1}, "density_weight"),
])
def test_checker_names_file_line_field(tmp_path, row, field):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps(GOOD) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(InputError, match=rf"bad.jsonl:2: field '{field}'"):
        read_rm(f)


def test_weighted_needs_a_weight_on_every_row(tmp_path, capsys):
    f = tmp_path / "rm.jsonl"
    f.write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(InputError, match="rm.jsonl:1: field 'density_weight'"):
        read_rm(f, need_weight=True)
    assert main(["--check", str(f)]) == 0 and "1 pairs, ok" in capsys.readouterr().out
