"""PairGRPOTrainer._compute_advantages on top of ms-swift's real implementation: pair weights act after
normalisation under every scale_rewards mode, and the std floor applies."""

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from grpo_bt_rm.training.settings import PairTrainSettings
from grpo_bt_rm.training.trainer import PairGRPOTrainer

K = 4


def bare_trainer(scale_rewards, min_std=0.0):
    """A PairGRPOTrainer without __init__: just the attributes ms-swift's _compute_advantages reads."""
    t = PairGRPOTrainer.__new__(PairGRPOTrainer)
    t.kl_in_reward, t.beta, t.dynamic_num_samples = False, 0.0, False
    t.reward_weights = torch.ones(1)
    t.model = SimpleNamespace(training=True)
    t.num_generations = t.num_generations_eval = K
    t.advantage_estimator, t.scale_rewards = "grpo", scale_rewards
    t._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    t._logs = {"rewards": defaultdict(list)}
    t.reward_func_names = ["bt_pointwise_baseline_hardmine"]
    t.pair_settings = PairTrainSettings(min_reward_std=min_std)
    t._pair_weights = None
    return t


# two pairs x two sides x K completions; the first pair has weight 0.2
REWARDS = torch.tensor([-0.1, -0.3, -2.0, -0.2, -0.9, -0.4, -5.7, -0.5,
                        -0.6, -0.7, -0.69, -1.2, -0.8, -0.3, -0.5, -5.7]).unsqueeze(1)
WEIGHTS = torch.tensor([0.2] * 8 + [1.0] * 8)


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
def test_pair_weight_multiplies_trainer_advantages(scale_rewards):
    t = bare_trainer(scale_rewards)
    plain = t._compute_advantages([], REWARDS, [])
    t._pair_weights = WEIGHTS.clone()
    weighted = t._compute_advantages([], REWARDS, [])
    assert torch.allclose(weighted[:8], 0.2 * plain[:8]) and torch.equal(weighted[8:], plain[8:])
    assert plain[:8].abs().sum() > 0 and t._pair_weights is None  # weights are consumed once


def test_std_floor_in_trainer():
    flat = torch.tensor([1.0, 1.0, 1.0, 1.001] + [0.0, 2.0, 4.0, 6.0]).unsqueeze(1)
    plain = bare_trainer("group")._compute_advantages([], flat, [])
    floored = bare_trainer("group", min_std=0.5)._compute_advantages([], flat, [])
    assert plain[:4].abs().max() > 0.8 and floored[:4].abs().max() < 0.01  # a near-flat group no longer blows up
    assert torch.allclose(floored[4:], plain[4:])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_pair_weights_of_another_shape_raise(mode):
    """Issue 14 §5: a weights/advantages mismatch is a bug and raises, in training and in eval alike (both score and
    normalise the gathered batch), instead of silently dropping the weights."""
    t = bare_trainer("group")
    t.model = SimpleNamespace(training=mode == "train")
    t._pair_weights = WEIGHTS[:8].clone()  # 8 weights for 16 advantages
    with pytest.raises(ValueError, match=r"pair weights shape \(8,\) != advantages shape \(16,\)"):
        t._compute_advantages([], REWARDS, [])
    assert t._pair_weights is None  # consumed even when it raises: a stale tensor never reaches the next batch


def test_no_bt_reward_means_no_weights():
    t = bare_trainer("group")
    assert t._pair_weights is None
    assert t._compute_advantages([], REWARDS, []).shape == (16,)
