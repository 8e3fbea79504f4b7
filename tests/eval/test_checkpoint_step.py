"""A checkpoint's training step is only reported on the evaluated run's step axis when it belongs to that run."""

from grpo_bt_rm.eval.loading import RunInfo, resolve_checkpoint


def _full_model(d):
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"")
    return d


def test_step_only_for_checkpoints_of_the_run(tmp_path):
    run_dir = tmp_path / "grpo" / "v0-1"
    _full_model(run_dir / "checkpoint-100")
    sft = _full_model(tmp_path / "sft" / "v0-2" / "checkpoint-360")  # another run's checkpoint (the SFT model)
    run = RunInfo(run_dir, {"model": "m"}, run_dir / "args.json")
    assert resolve_checkpoint("checkpoint-100", run).step == 100
    ck = resolve_checkpoint(str(sft), run)
    assert ck.kind == "full" and ck.step is None  # not drawn as GRPO step 360
    assert resolve_checkpoint(str(sft), RunInfo(None)).step == 360  # standalone eval keeps its own step
