"""Post-normalisation advantage edits: a floor on the reward std (BT_MIN_REWARD_STD) and per-pair weights.

    adv = floor_reward_std(adv, rewards, num_generations, scale_rewards, min_std)
    adv = apply_pair_weights(adv, weights)

GRPO normalises per group (one row = one side of a pair), so a per-pair constant such as a hard-mining or
density weight cancels inside `(r - mean) / std`. Multiplying the advantages afterwards makes it act under every
`scale_rewards` mode (group, batch, none).
"""

from __future__ import annotations

import torch

STD_EPS = 1e-4  # ms-swift adds this to the std before dividing

FLOOR_SCALE_MODES = ("group", "batch")


def floor_reward_std(advantages: torch.Tensor, rewards: torch.Tensor, num_generations: int, scale_rewards: str,
                     min_std: float) -> torch.Tensor:
    """Turn ms-swift's `(r - mean) / (std + eps)` into `(r - mean) / (max(std, min_std) + eps)`."""
    if min_std <= 0 or scale_rewards not in FLOOR_SCALE_MODES:
        return advantages
    if scale_rewards == "group":
        std = rewards.view(-1, num_generations).std(dim=1).repeat_interleave(num_generations)
    else:
        std = rewards.std().expand_as(rewards)
    return advantages * (std + STD_EPS) / (std.clamp(min=min_std) + STD_EPS)


def apply_pair_weights(advantages: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Each completion's advantage times its pair's weight (no-op when weights is None)."""
    if weights is None:
        return advantages
    if weights.shape != advantages.shape:
        raise ValueError(f"pair weights shape {tuple(weights.shape)} != advantages shape {tuple(advantages.shape)}")
    return advantages * weights.to(advantages.dtype)
