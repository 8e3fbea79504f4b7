"""Issue 12 item 16: a hub load that fails offline is one clear line pointing to --data_files, in every CLI that
reads hub sources (exit 2, nothing written), not a long traceback."""

import datasets
import pytest

from grpo_bt_rm.data import build_dataset
from grpo_bt_rm.density import compute


def offline(*_a, **_k):
    raise ConnectionError("Couldn't reach 'Anthropic/hh-rlhf' on the Hub (OfflineModeIsEnabled)")


@pytest.mark.parametrize("cli", ["build_dataset", "density.compute"])
def test_offline_hub_load_says_what_to_do(tmp_path, monkeypatch, capsys, cli):
    monkeypatch.setattr(datasets, "load_dataset", offline)
    out = tmp_path / "out"
    if cli == "build_dataset":
        rc = build_dataset.main(["--dataset", "anthropic_hh", "--split", "test", "--out", str(out)])
    else:
        rc = compute.main(["--dataset", "anthropic_hh", "--split", "test", "--out_dir", str(out), "--embedder",
                           "hashing"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--dataset anthropic_hh: cannot load Anthropic/hh-rlhf from the hub (Couldn't reach" in err
    assert "No network: pass --data_files with local raw files (see README section 1)" in err
    assert "Traceback" not in err and not out.exists()
