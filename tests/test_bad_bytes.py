"""Issue 12 item 8: a non-UTF-8 byte in any input is reported as file:line by every CLI (exit 2, nothing written);
build_dataset --skip_bad skips and counts such lines."""

from __future__ import annotations

import json

import pytest

from grpo_bt_rm.data.build_dataset import main as build_main
from grpo_bt_rm.density import compute
from grpo_bt_rm.eval import eval_bt
from grpo_bt_rm.reports import diversity, regions
from tests.eval.conftest import HH_SAMPLE
from tests.eval.fixtures import write_fixture

BAD = b'{"text": "caf\xe9"}\n'  # latin-1 e-acute: not UTF-8


def with_bad_line(src, dst, at=3):
    lines = src.read_bytes().splitlines(keepends=True)
    dst.write_bytes(b"".join(lines[:at - 1]) + BAD + b"".join(lines[at - 1:]))
    return dst


@pytest.fixture
def files(tmp_path):
    pw = tmp_path / "pw.jsonl"
    assert build_main(["--dataset", "anthropic_hh", "--split", "sample", "--data_files", str(HH_SAMPLE), "--prompt",
                       "hh_score100_v1", "--add_meta", "--out", str(pw)]) == 0
    weights = tmp_path / "w"
    assert compute.main(["--in", str(pw), "--out_dir", str(weights), "--embedder", "hashing", "--k", "2"]) == 0
    comp = write_fixture(tmp_path / "c.completions.jsonl")
    return {"raw": HH_SAMPLE, "pw": pw, "weights": weights, "comp": comp}


# (CLI, which input gets the bad line, argv given {good paths} and the bad path, output that must not appear)
CASES = [
    ("build_dataset", "raw", lambda f, bad, out: (build_main, ["--dataset", "anthropic_hh", "--split", "sample",
                                                               "--data_files", str(bad), "--out", str(out)])),
    ("eval_bt --from_completions", "comp", lambda f, bad, out: (eval_bt.main, [
        "--from_completions", str(bad), "--out_json", str(out), "--no_plot"])),
    ("density.compute", "pw", lambda f, bad, out: (compute.main, ["--in", str(bad), "--out_dir", str(out),
                                                                  "--embedder", "hashing", "--k", "2"])),
    ("density.compute pairs", "raw", lambda f, bad, out: (compute.main, [
        "--dataset", "anthropic_hh", "--data_files", str(bad), "--split", "sample", "--out_dir", str(out),
        "--embedder", "hashing", "--k", "2"])),
    ("diversity", "comp", lambda f, bad, out: (diversity.main, ["--completions", f"a={f['comp']}",
                                                                "--completions", f"b={bad}", "--out_dir", str(out)])),
    ("regions dataset", "pw", lambda f, bad, out: (regions.main, [
        "--weights", str(f["weights"]), "--dataset", str(bad), "--completions", f"a={f['comp']}",
        "--out_dir", str(out)])),
    ("regions completions", "comp", lambda f, bad, out: (regions.main, [
        "--weights", str(f["weights"]), "--dataset", str(f["pw"]), "--completions", f"a={bad}",
        "--out_dir", str(out)])),
]


@pytest.mark.parametrize("name,which,cmd", CASES, ids=[c[0] for c in CASES])
def test_bad_byte_names_file_and_line(files, tmp_path, capsys, name, which, cmd):
    bad = with_bad_line(files[which], tmp_path / f"bad{files[which].suffix}")
    out = tmp_path / "out"
    main, argv = cmd(files, bad, out)
    assert main(argv) == 2
    assert f"{bad}:3: not valid UTF-8 (byte 0xe9 at column 14)" in capsys.readouterr().err
    assert not out.exists()


def test_build_dataset_skip_bad_counts_the_bad_line(tmp_path):
    bad = with_bad_line(HH_SAMPLE, tmp_path / "bad.jsonl")
    out = tmp_path / "out.jsonl"
    assert build_main(["--dataset", "anthropic_hh", "--split", "sample", "--data_files", str(bad), "--out", str(out),
                       "--skip_bad"]) == 0
    manifest = json.loads(out.with_name("out.jsonl.manifest.json").read_text())
    assert manifest["malformed"] == 1 and "bad.jsonl:3: not valid UTF-8" in manifest["malformed_examples"][0]
    assert manifest["pairs"] == 8
