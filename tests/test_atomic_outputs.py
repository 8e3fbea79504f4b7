"""Issue 12 items 6, 7, 15: outputs land whole or not at all (a full disk is simulated by ENOSPC from the last
write), nothing already written is lost, weights and metadata must belong together, and the umask is honoured."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat

import pytest

from grpo_bt_rm import io
from grpo_bt_rm.data import build_dataset
from grpo_bt_rm.density import attach, compute
from tests.eval.conftest import HH_SAMPLE

BUILD = ["--dataset", "anthropic_hh", "--split", "sample", "--data_files", str(HH_SAMPLE), "--prompt",
         "hh_score100_v1", "--add_meta"]


def disk_full(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def listing(d):
    return sorted(p.name for p in d.iterdir())


def test_build_dataset_full_disk_leaves_nothing_and_keeps_the_old_pair(tmp_path, monkeypatch):
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr(build_dataset, "manifest_base", disk_full)  # the rows are written; the manifest fails
    with pytest.raises(OSError):
        build_dataset.main([*BUILD, "--out", str(out)])
    assert listing(tmp_path) == [], "a data file without its manifest (or a temp file) was left"
    monkeypatch.undo()
    assert build_dataset.main([*BUILD, "--out", str(out), "--limit", "3"]) == 0
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(build_dataset, "manifest_base", disk_full)
    with pytest.raises(OSError):
        build_dataset.main([*BUILD, "--out", str(out)])
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before  # the old pair, untouched
    manifest = json.loads((tmp_path / "out.jsonl.manifest.json").read_text())
    assert manifest["pairs"] == 3 and manifest["sha256"] == io.sha256_file(out)


@pytest.fixture
def pointwise(tmp_path):
    out = tmp_path / "pw.jsonl"
    assert build_dataset.main([*BUILD, "--out", str(out)]) == 0
    return out


def compute_argv(inp, out):
    return ["--in", str(inp), "--out_dir", str(out), "--embedder", "hashing", "--k", "2", "--cache_dir", "none"]


def test_density_compute_swaps_the_whole_dir_or_nothing(pointwise, tmp_path, monkeypatch):
    small = tmp_path / "small.jsonl"
    small.write_text("".join(pointwise.read_text().splitlines(keepends=True)[:6]))  # 3 pairs
    out = tmp_path / "w"
    assert compute.main(compute_argv(small, out)) == 0
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(compute, "write_hist", disk_full)  # fails after the new weights are written
    with pytest.raises(OSError):
        args = compute.build_argparser().parse_args(compute_argv(pointwise, out))
        compute.run(compute.DensitySettings.from_args(args))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old, "new weights beside the old metadata"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "a temp dir was left"
    # an out dir holding other files is refused, not wiped
    (out / "notes.txt").write_text("mine")
    monkeypatch.undo()
    assert compute.main(compute_argv(pointwise, out)) == 2
    assert (out / "notes.txt").read_text() == "mine"


def test_attach_refuses_weights_and_metadata_that_do_not_belong_together(pointwise, tmp_path, capsys):
    small = tmp_path / "small.jsonl"
    small.write_text("".join(pointwise.read_text().splitlines(keepends=True)[:6]))
    big, little = tmp_path / "big", tmp_path / "little"
    assert compute.main(compute_argv(pointwise, big)) == 0
    assert compute.main(compute_argv(small, little)) == 0
    shutil.copy(big / "weights.jsonl", little / "weights.jsonl")  # the half-written state of the issue
    out = tmp_path / "dw.jsonl"
    capsys.readouterr()
    assert attach.main(["--in", str(small), "--weights", str(little), "--out", str(out)]) == 2
    assert "do not belong together" in capsys.readouterr().err and not out.exists()
    (big / "metadata.json").unlink()
    assert attach.main(["--in", str(small), "--weights", str(big), "--out", str(out)]) == 2
    assert "no metadata.json beside it" in capsys.readouterr().err and not out.exists()


def test_attach_full_disk_leaves_nothing(pointwise, tmp_path, monkeypatch):
    w = tmp_path / "w"
    assert compute.main(compute_argv(pointwise, w)) == 0
    out = tmp_path / "dw.jsonl"
    monkeypatch.setattr(attach, "manifest_base", disk_full)
    with pytest.raises(OSError):
        attach.main(["--in", str(pointwise), "--weights", str(w), "--out", str(out)])
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".dw")]


@pytest.mark.parametrize("umask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                      (0o002, 0o664, 0o775)])
def test_outputs_honour_the_umask(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        assert build_dataset.main([*BUILD, "--out", str(tmp_path / "o.jsonl"), "--limit", "2"]) == 0
        with io.atomic_dir(tmp_path / "model") as d:
            (d / "config.json").write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "o.jsonl").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "o.jsonl.manifest.json").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == dir_mode


def test_regions_refuses_mismatched_weights_too(pointwise, tmp_path, capsys):
    from grpo_bt_rm.reports import regions

    small = tmp_path / "small.jsonl"
    small.write_text("".join(pointwise.read_text().splitlines(keepends=True)[:6]))
    big, little = tmp_path / "big", tmp_path / "little"
    assert compute.main(compute_argv(pointwise, big)) == 0
    assert compute.main(compute_argv(small, little)) == 0
    shutil.copy(big / "weights.jsonl", little / "weights.jsonl")
    capsys.readouterr()
    comp = tmp_path / "c.jsonl"
    comp.write_text("")
    assert regions.main(["--weights", str(little), "--dataset", str(pointwise), "--completions", f"a={comp}",
                         "--out_dir", str(tmp_path / "r")]) == 2
    assert "do not belong together" in capsys.readouterr().err and not (tmp_path / "r").exists()
