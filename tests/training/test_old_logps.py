"""PairGRPOTrainer skips ms-swift's no-grad "old log-probs" forward only when training is on-policy, and the loss
and gradients then equal the stock path's on the same batch (real ms-swift trainer, tiny model, in-process)."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from grpo_bt_rm.rewards.settings import SettingsError
from grpo_bt_rm.training.settings import PairTrainSettings
from grpo_bt_rm.training.trainer import PairGRPOTrainer, old_logps_needed

ROOT = Path(__file__).resolve().parents[2]
K = 4


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("old_logps") / "train.jsonl"
    subprocess.run([sys.executable, "-m", "grpo_bt_rm.data.build_dataset", "--dataset", "anthropic_hh", "--split",
                    "sample", "--data_files", str(ROOT / "src/grpo_bt_rm/data/samples/hh_sample.jsonl"),
                    "--prompt", "hh_score100_v1", "--add_meta", "--out", str(out)], check=True, capture_output=True)
    return out


TINY = ("qwen2", "qwen2_5")  # ms-swift --model_type, --template


def build_trainer(tmp_path, monkeypatch, model_dir, dataset, *extra, kind=TINY):
    """The trainer `swift rlhf` would train, built in this process (SwiftRLHF.train returns it untrained)."""
    from swift.pipelines.train.rlhf import SwiftRLHF, rlhf_main

    monkeypatch.setenv("BT_SCORE_PARSER", "score100_first")
    monkeypatch.setattr(SwiftRLHF, "train", lambda self, trainer: trainer)
    return rlhf_main([
        "--rlhf_type", "grpo", "--model", str(model_dir), "--model_type", kind[0], "--template", kind[1],
        "--dataset", str(dataset), "--output_dir", str(tmp_path / "run"), "--check_model", "false",
        "--external_plugins", str(ROOT / "src/grpo_bt_rm/training/plugin.py"),
        "--reward_funcs", "bt_pointwise_baseline", "--num_generations", str(K), "--max_completion_length", "8",
        "--per_device_train_batch_size", "8", "--max_steps", "1", "--use_cpu", "true", "--report_to", "none",
        "--dataloader_num_workers", "0", "--dataloader_pin_memory", "false", "--dataset_num_proc", "1",
        "--seed", "0", *extra])


def count_forwards(model):
    calls = []
    handle = model.register_forward_pre_hook(lambda module, args: calls.append(torch.is_grad_enabled()))
    return calls, handle


def loss_and_grads(trainer, batch, advantages):
    grpo_batch = batch["grpo_batch"]
    grpo_batch.advantages = advantages.expand_as(grpo_batch.completion_mask).clone()
    trainer.model.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def stock_vs_ours(trainer):
    """One rollout; its batch prepared by ms-swift's own _prepare_batch_inputs and by ours, forwards counted."""
    from swift.rlhf_trainers import GRPOTrainer

    trainer.model.train()
    rows = next(iter(trainer.get_train_dataloader()))
    samples = trainer._score_completions(trainer._rollout_samples(rows))
    calls, handle = count_forwards(trainer.model)
    try:
        stock = GRPOTrainer._prepare_batch_inputs(trainer, samples)
        n_stock = len(calls)
        ours = trainer._prepare_batch_inputs(samples)
        n_ours = len(calls) - n_stock
    finally:
        handle.remove()
    assert not any(calls), "every batch-preparation forward runs without gradients"
    return stock, ours, n_stock, n_ours


@pytest.mark.parametrize("extra", [
    pytest.param(["--tuner_type", "full", "--beta", "0"], id="full-beta0"),
    # LoRA with beta > 0: the reference forward is self.model inside null_ref_context and must still run
    pytest.param(["--tuner_type", "lora", "--lora_dropout", "0", "--beta", "0.04"], id="lora-beta0.04"),
])
def test_skip_gives_stock_loss_and_gradients(tmp_path, monkeypatch, tiny_model_dir, dataset, extra):
    check_skip_equals_stock(build_trainer(tmp_path, monkeypatch, tiny_model_dir, dataset, *extra), tmp_path)


@pytest.mark.slow
def test_skip_gives_stock_loss_and_gradients_real_model(tmp_path, monkeypatch, dataset):
    """The same on SmolLM2-135M-Instruct (LoRA, beta 0.04), the real judge of issue 13."""
    from grpo_bt_rm.smollm2 import MODEL_TYPE, TEMPLATE, ensure_model

    trainer = build_trainer(tmp_path, monkeypatch, ensure_model(), dataset, "--tuner_type", "lora", "--lora_dropout",
                            "0", "--beta", "0.04", kind=(MODEL_TYPE, TEMPLATE))
    check_skip_equals_stock(trainer, tmp_path)


def check_skip_equals_stock(trainer, tmp_path):
    assert trainer._skip_old_logps, old_logps_needed(trainer)
    settings = json.loads(next((tmp_path / "run").glob("v*-*/bt_reward_settings.json")).read_text())
    assert settings["old_logps_forward"] == "skipped (on-policy)"
    ref = trainer.beta != 0
    if ref:  # LoRA B starts at zero (policy == reference): move it, so a swapped ref/old forward would show
        torch.manual_seed(0)
        for name, p in trainer.model.named_parameters():
            if "lora_B" in name:
                p.data.normal_(0, 0.5)
    stock, ours, n_stock, n_ours = stock_vs_ours(trainer)
    assert len(stock) == len(ours) == 1
    assert n_stock == 1 + ref and n_ours == int(ref)  # the old-log-prob forward is gone, the reference one is not
    stock_b, ours_b = stock[0]["grpo_batch"], ours[0]["grpo_batch"]
    assert stock_b.old_per_token_logps is not None and ours_b.old_per_token_logps is None
    if ref:
        assert torch.equal(ours_b.ref_per_token_logps, stock_b.ref_per_token_logps)
        assert not torch.allclose(stock_b.ref_per_token_logps, stock_b.old_per_token_logps)
    # fixed advantages of both signs, so the loss and the gradients are not zero
    advantages = torch.linspace(-1.5, 1.5, stock_b.completion_mask.shape[0]).unsqueeze(1)
    loss_s, grads_s = loss_and_grads(trainer, stock[0], advantages)
    loss_o, grads_o = loss_and_grads(trainer, ours[0], advantages)
    assert grads_s and grads_s.keys() == grads_o.keys()
    assert any(g.abs().max() > 0 for g in grads_s.values())
    torch.testing.assert_close(loss_o, loss_s, rtol=1e-5, atol=1e-6)
    for name, g in grads_s.items():
        torch.testing.assert_close(grads_o[name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_forward_kept_when_off_policy(tmp_path, monkeypatch, tiny_model_dir, dataset):
    trainer = build_trainer(tmp_path, monkeypatch, tiny_model_dir, dataset, "--tuner_type", "full", "--beta", "0",
                            "--num_iterations", "2")
    assert not trainer._skip_old_logps and "num_iterations=2" in old_logps_needed(trainer)
    stock, ours, n_stock, n_ours = stock_vs_ours(trainer)
    assert n_stock == n_ours == 1 and ours[0]["grpo_batch"].old_per_token_logps is not None


def bare(**over):
    """Just what old_logps_needed reads, on a real PairGRPOTrainer (ms-swift's own old_policy())."""
    t = PairGRPOTrainer.__new__(PairGRPOTrainer)
    args = dict(gradient_accumulation_steps=2, steps_per_generation=2, use_vllm=False, async_generate=False)
    attrs = dict(num_iterations=1, beta=0.04, kl_in_reward=False, use_liger_loss=False, _teacher_model=None,
                 _is_dynamic_self_distillation=True,  # ms-swift's default with no teacher model
                 train_dataset=[{"pair_id": 0}], eval_dataset=None,
                 rollout_importance_sampling_mode=None, log_rollout_offpolicy_metrics=False)
    for key, value in over.items():
        (args if key in args else attrs)[key] = value
    t.args, t.template = SimpleNamespace(**args), SimpleNamespace(sequence_parallel_size=1)
    for key, value in attrs.items():
        setattr(t, key, value)
    return t


@pytest.mark.parametrize("over, reason", [
    ({}, None),  # on-policy, beta > 0 without kl_in_reward: redundant
    ({"gradient_accumulation_steps": 4}, None),  # two generation batches per optimizer step: still on-policy
    ({"num_iterations": 2}, "num_iterations=2"),
    ({"steps_per_generation": 4}, "not a multiple"),  # a generation batch spans two optimizer steps
    ({"use_vllm": True}, "use_vllm"),
    ({"async_generate": True}, "async_generate"),
    ({"kl_in_reward": True}, "kl_in_reward"),
    ({"kl_in_reward": True, "beta": 0.0}, None),  # no reference model: kl_in_reward reads nothing
    ({"_teacher_model": object()}, "teacher model"),
    ({"train_dataset": [{"pair_id": 0, "teacher_prompt": "x"}]}, "teacher_prompt"),
    ({"eval_dataset": {"a": [{"teacher_prompt": "x"}]}}, "teacher_prompt"),
    ({"rollout_importance_sampling_mode": "token_truncate"}, "rollout importance"),
    ({"log_rollout_offpolicy_metrics": True}, "rollout importance"),
    ({"use_liger_loss": True}, "liger"),
])
def test_old_logps_needed(over, reason):
    got = old_logps_needed(bare(**over))
    assert (got is None) if reason is None else (reason in got), got


@pytest.mark.parametrize("raw, expected", [(None, True), ("1", True), ("0", False), (" 0 ", False)])
def test_skip_setting(raw, expected):
    env = {} if raw is None else {"BT_SKIP_OLD_LOGPS": raw}
    assert PairTrainSettings.from_env(env).skip_old_logps is expected


@pytest.mark.parametrize("raw", ["2", "yes", "off"])
def test_skip_setting_rejects(raw):
    with pytest.raises(SettingsError, match="BT_SKIP_OLD_LOGPS"):
        PairTrainSettings.from_env({"BT_SKIP_OLD_LOGPS": raw})
