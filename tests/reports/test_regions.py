"""reports.regions: accuracy per density bin from eval completions files."""

from __future__ import annotations

import json

import pytest

from grpo_bt_rm.density import compute
from grpo_bt_rm.reports import regions
from tests.density.test_density_cli import DENSE, ISOLATED, write_pairs


def _completions(path, rows, right):
    """One record per pair; the judge ranks the pair right when right(prompt_index) is true."""
    with open(path, "w") as f:
        for r in rows[::2]:
            i = r["source_index"]
            good, bad = ["<s>80</s> fine"], ["<s>20</s> poor"]
            pref = r["preferred_side"]
            c0, c1 = (good, bad) if (pref == 0) == right(i) else (bad, good)
            f.write(json.dumps({"pair_key": f"pairs_jsonl:train:{i}", "preferred_side": pref,
                                "completions_0": c0, "completions_1": c1}) + "\n")
    return path


def test_regions_separate_crowded_from_isolated(tmp_path):
    from grpo_bt_rm.data.build_dataset import main as build_main

    raw = write_pairs(tmp_path / "pairs.jsonl", DENSE + ISOLATED)  # 24 crowded prompts, then 3 isolated
    ds = tmp_path / "test.jsonl"
    assert build_main(["--dataset", "pairs_jsonl", "--data_files", str(raw), "--prompt", "generic_score100_v1",
                       "--add_meta", "--out", str(ds)]) == 0
    assert compute.main(["--in", str(ds), "--out_dir", str(tmp_path / "w"), "--embedder", "hashing", "--k", "3"]) == 0
    rows = [json.loads(x) for x in ds.read_text().splitlines()]
    uni = _completions(tmp_path / "uni.jsonl", rows, right=lambda i: i < len(DENSE))  # wrong on isolated prompts
    dens = _completions(tmp_path / "dens.jsonl", rows, right=lambda i: True)
    out = tmp_path / "r"
    assert regions.main(["--weights", str(tmp_path / "w"), "--dataset", str(ds), "--completions", f"uniform={uni}",
                         "--completions", f"density={dens}", "--bins", "9", "--out_dir", str(out)]) == 0
    data = json.loads((out / "regions.json").read_text())
    assert [r["region"] for r in data["regions"]] == list(range(1, 10)) and data["parser"] == "score100_first"
    assert sum(r["models"]["uniform"]["n_pairs"] for r in data["regions"]) == 27
    last, first = data["regions"][-1]["models"], data["regions"][0]["models"]
    assert last["uniform"]["n_pairs"] == 3 and last["uniform"]["acc_all"] == 0.0 and last["density"]["acc_all"] == 1.0
    assert first["uniform"]["acc_all"] == 1.0 == first["density"]["acc_all"]
    md = (out / "regions.md").read_text()
    assert "acc_all uniform" in md and md.count("\n| ") == 11 and "| 9 | > " in md


def test_regions_errors(tmp_path, capsys):
    from grpo_bt_rm.data.build_dataset import main as build_main

    raw = write_pairs(tmp_path / "pairs.jsonl", DENSE[:5])
    ds = tmp_path / "test.jsonl"
    assert build_main(["--dataset", "pairs_jsonl", "--data_files", str(raw), "--prompt", "generic_score100_v1",
                       "--add_meta", "--out", str(ds)]) == 0
    sub = tmp_path / "sub.jsonl"
    sub.write_text("".join(ds.read_text().splitlines(keepends=True)[:6]))
    assert compute.main(["--in", str(sub), "--out_dir", str(tmp_path / "w"), "--embedder", "hashing"]) == 0
    rows = [json.loads(x) for x in ds.read_text().splitlines()]
    comp = _completions(tmp_path / "c.jsonl", rows, right=lambda i: True)
    argv = ["--weights", str(tmp_path / "w"), "--dataset", str(ds), "--completions", f"m={comp}",
            "--out_dir", str(tmp_path / "r")]
    assert regions.main(argv) == 2
    err = capsys.readouterr().err
    assert rows[6]["prompt_id"] in err and "not in --weights" in err
    with pytest.raises(SystemExit):
        regions.main(["--weights", "x"])  # argparse: --dataset and --completions are required
