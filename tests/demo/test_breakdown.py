"""demo.breakdown.kind_breakdown: accuracy per failure kind, or per asked category (`field="category"`), from eval
completions linked to the task's raw pairs by `source_index`."""

from __future__ import annotations

import json

import pytest

from grpo_bt_rm.demo.breakdown import kind_breakdown
from grpo_bt_rm.demo.task import make_pairs
from grpo_bt_rm.eval.completions import make_record
from grpo_bt_rm.io import InputError, write_jsonl
from grpo_bt_rm.parsing import get_parser


def judged(rows: list[dict], right: set[str], tie: set[str]) -> list[dict]:
    """Completions records: a correct judgement for categories in `right`, a tie for `tie`, a wrong one otherwise;
    every fourth pair has the preferred reply on side 1."""
    parser, out = get_parser("score100_first"), []
    for i, r in enumerate(rows):
        side = i % 4 == 3
        good, bad = ("<s>50</s>", "<s>50</s>") if r["category"] in tie else (
            ("<s>90</s>", "<s>10</s>") if r["category"] in right else ("<s>10</s>", "<s>90</s>"))
        s0, s1 = (bad, good) if side else (good, bad)
        out.append(make_record(f"pairs_jsonl:test:{i}", int(side), [s0], [s1], parser, source_index=i, pair_index=i))
    return out


@pytest.fixture
def files(tmp_path):
    rows = make_pairs("test", 80, seed=0)
    raw = tmp_path / "test.jsonl"
    write_jsonl(raw, rows)
    comp = tmp_path / "c.completions.jsonl"
    write_jsonl(comp, judged(rows, right={"animal"}, tie={"color"}))
    return rows, raw, comp


def test_per_category(files):
    rows, raw, comp = files
    got = kind_breakdown(comp, raw, field="category")
    assert list(got) == ["animal", "color", "fruit", "tool"]  # sorted
    assert {c: g["n"] for c, g in got.items()} == {c: sum(r["category"] == c for r in rows) for c in got}
    assert got["animal"]["acc_all"] == 1.0 and got["animal"]["tie_rate"] == 0.0  # right on every pair
    assert got["color"]["acc_all"] == 0.5 and got["color"]["tie_rate"] == 1.0  # a tie counts 0.5
    assert got["fruit"]["acc_all"] == 0.0 and got["tool"]["acc_all"] == 0.0  # wrong on every pair


def test_default_is_still_per_kind(files):
    rows, raw, comp = files
    got = kind_breakdown(comp, raw)
    assert set(got) == {r["kind"] for r in rows}
    assert sum(g["n"] for g in got.values()) == len(rows)


def test_missing_field_is_named(files, tmp_path):
    _, raw, comp = files
    with pytest.raises(InputError, match="field 'speaker': missing"):
        kind_breakdown(comp, raw, field="speaker")
    bad = tmp_path / "raw_without_category.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b", "kind": "rude"}) + "\n")
    with pytest.raises(InputError, match="field 'category': missing"):
        kind_breakdown(comp, bad, field="category")


def test_environment_records_the_kernels_that_ran(monkeypatch):
    """A rerun elsewhere can only match if it dispatched the same CPU kernels: the summary says which ran."""
    import torch

    from grpo_bt_rm.demo.breakdown import environment

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.delenv("MKL_CBWR", raising=False)
    env = environment()
    assert env["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["MKL_CBWR"] is None
    assert env["torch"] == torch.__version__ and env["ms-swift"]


def _summary(d, seed, sft, grpo, met, scoring="expected", readouts=None):
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps({
        "seed": seed, "scoring": scoring, "sft": {"acc_all": sft}, "grpo": {"acc_all": grpo, "parse_fail_rate": 0.0},
        "acc_all_gain": grpo - sft, "target": {"met": met}, "total_seconds": 400.0,
        "readouts": readouts or {}}))
    return d


def test_seeds_table_prints_both_readouts_and_counts_targets(tmp_path):
    from grpo_bt_rm.demo.breakdown import main, seeds_table

    text_ro = {"gain": 0.05, "met": False}
    dirs = [_summary(tmp_path / f"s{s}", s, 0.7, 0.9 + s / 100, True,
                     readouts={"text": text_ro, "expected": {"gain": 0.2 + s / 100, "met": True}}) for s in range(3)]
    md, out = seeds_table(dirs)
    assert out["scoring"] == "expected" and out["gain"]["mean"] == pytest.approx(0.21)
    assert "Scores read as: expected" in md
    assert "| 1 | 0.700 | 0.910 | +21.0 | 0.000 | yes | +5.0, not met | +21.0, met | 400.0 |" in md
    assert md.rstrip().endswith("| 3 of 3 | 0 of 3 | 3 of 3 | |")
    assert main(["--seeds", *map(str, dirs), "--out", str(tmp_path / "t")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["seeds"][2]["readouts"]["text"] == text_ro


def test_seeds_table_refuses_summaries_read_two_ways(tmp_path):
    from grpo_bt_rm.demo.breakdown import seeds_table

    dirs = [_summary(tmp_path / "a", 0, 0.7, 0.9, True), _summary(tmp_path / "b", 1, 0.7, 0.9, True, scoring="text")]
    with pytest.raises(InputError, match=r"read the scores differently .*a: expected, .*b: text"):
        seeds_table(dirs)
    with pytest.raises(InputError, match=r"c/summary.json: missing"):
        seeds_table([tmp_path / "c"])
