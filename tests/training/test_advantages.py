"""Pair weights act after GRPO normalisation (under every scale_rewards mode); the reward-std floor."""

import pytest
import torch
from swift.rl_core.advantage import compute_advantages

from grpo_bt_rm.rewards import BTRewardSettings, bt_rewards
from grpo_bt_rm.training.advantages import apply_pair_weights, floor_reward_std

K = 4


def pair_rewards():
    """Two pairs x two sides x K completions, rewards and hardmine weights from the real reward function."""
    scores = {("easy", 0): [90, 80, 70, 85], ("easy", 1): [20, 30, None, 10],
              ("hard", 0): [40, 60, 50, 45], ("hard", 1): [55, 50, 60, None]}
    rows = [(p, s, z) for (p, s), zs in scores.items() for z in zs]
    out = bt_rewards("bt_pointwise_baseline_hardmine", ["x" if z is None else f"<s>{z}</s>" for _, _, z in rows],
                     pair_id=[p for p, _, _ in rows], side=[s for _, s, _ in rows], preferred_side=[0] * len(rows),
                     settings=BTRewardSettings(parser="score100_first", delta_temp=20))
    return torch.tensor(out.rewards).unsqueeze(1), torch.tensor(out.weights)


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
def test_weighted_pair_gets_w_times_the_advantages(scale_rewards):
    rewards, weights = pair_rewards()
    assert torch.allclose(weights[:8], torch.full((8,), 0.2)) and torch.equal(weights[8:], torch.ones(8))
    adv, _ = compute_advantages(rewards, torch.ones(1), K, scale_rewards=scale_rewards)
    weighted = apply_pair_weights(adv, weights)
    assert torch.allclose(weighted[:8], 0.2 * adv[:8]) and torch.allclose(weighted[8:], adv[8:])
    assert adv[:8].abs().sum() > 0  # the easy pair had a real signal to scale

    # Without post-normalisation weighting, a per-pair factor on the rewards cancels under `group`
    if scale_rewards == "group":
        pre, _ = compute_advantages(rewards * weights.unsqueeze(1), torch.ones(1), K, scale_rewards="group")
        assert torch.allclose(pre, adv, rtol=0.05, atol=0.05)  # cancels, up to the 1e-4 std epsilon


def test_scale_and_offset_cancel_under_group_but_not_none():
    rewards, _ = pair_rewards()
    g1, _ = compute_advantages(rewards, torch.ones(1), K, scale_rewards="group")
    g2, _ = compute_advantages(3 * rewards + 5, torch.ones(1), K, scale_rewards="group")
    n1, _ = compute_advantages(rewards, torch.ones(1), K, scale_rewards="none")
    n2, _ = compute_advantages(3 * rewards + 5, torch.ones(1), K, scale_rewards="none")
    assert torch.allclose(g1, g2, rtol=1e-2, atol=1e-2) and torch.allclose(n2, 3 * n1, rtol=1e-4, atol=1e-5)


def test_std_floor():
    rewards = torch.tensor([1.0, 1.0, 1.0, 1.01, 0.0, 2.0, 4.0, 6.0]).unsqueeze(1)
    adv, r = compute_advantages(rewards, torch.ones(1), K, scale_rewards="group")
    floored = floor_reward_std(adv, r, K, "group", min_std=0.5)
    std0 = r[:4].std()
    # near-flat group: divided by 0.5 instead of its tiny std; a wide group (std 2.58 > 0.5) is untouched
    assert torch.allclose(floored[:4], (r[:4] - r[:4].mean()) / (0.5 + 1e-4))
    assert adv[:4].abs().max() > 0.8 > floored[:4].abs().max()
    assert torch.allclose(floored[4:], adv[4:]) and std0 < 0.5
    assert torch.equal(floor_reward_std(adv, r, K, "none", 0.5), adv)
    assert torch.equal(floor_reward_std(adv, r, K, "group", 0.0), adv)


def test_weights_shape_checked():
    with pytest.raises(ValueError, match="shape"):
        apply_pair_weights(torch.zeros(4), torch.ones(3))
