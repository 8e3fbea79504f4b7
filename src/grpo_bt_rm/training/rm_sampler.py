"""Density-weighted pair sampling for the scalar reward model: rows drawn with replacement, P(i) = w_i / sum(w).

    sampler = weighted_sampler(weights, seed=42)   # what WeightedRewardTrainer._get_train_sampler returns

The scalar-RM counterpart of `PairRepeatSampler`'s weighted mode: one RM row is one whole pair, so the plain index
sampler suffices (torch's WeightedRandomSampler with a seeded generator). The HF Trainer under ms-swift's
RewardTrainer wraps it in a BatchSampler, and accelerate hands consecutive batches to the processes; every process
seeds the same generator, so all draw the same sequence (as the stock RandomSampler's seeded permutation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import WeightedRandomSampler


def check_weights(weights: Sequence, where: str = "density_weight") -> torch.Tensor:
    """The weights as a float64 tensor.

    Raises:
        ValueError: naming the first bad row, unless every weight is a finite number >= 0 and one is > 0.
    """
    out = []
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            raise ValueError(f"{where} row {i}: expected a number >= 0, got {w!r}")
        out.append(float(w))
    t = torch.tensor(out, dtype=torch.float64)
    bad = (~torch.isfinite(t)) | (t < 0)
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ValueError(f"{where} row {i}: expected a finite number >= 0, got {out[i]!r}")
    if t.numel() == 0 or t.sum() <= 0:
        raise ValueError(f"{where}: no positive weight among {t.numel()} rows")
    return t


def weighted_sampler(weights: Sequence[float], seed: int, num_samples: int | None = None) -> WeightedRandomSampler:
    """An index sampler drawing `num_samples` (default: one per row, i.e. one epoch) rows i.i.d. with replacement
    in proportion to `weights`; successive iterations (epochs) continue the same seeded generator.

    Args:
        weights: one weight per dataset row (checked by `check_weights`).
        seed: generator seed (the trainer passes data_seed, else seed).
        num_samples: draws per iteration.
    """
    w = check_weights(weights)
    g = torch.Generator().manual_seed(int(seed))
    return WeightedRandomSampler(w, num_samples or len(w), replacement=True, generator=g)
