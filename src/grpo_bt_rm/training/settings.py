"""`PairTrainSettings`: the trainer-side BT settings, read once from the environment and validated.

    BT_PAIR_SAMPLING=uniform|weighted   how PairRepeatSampler draws pairs (weighted: with replacement,
                                        proportional to the rows' `density_weight` column)
    BT_MIN_REWARD_STD=0                 floor on the reward std before GRPO divides by it (0 = off)
    BT_REWARD_DUMP=<file>               append one JSON line per reward call (pair_id, side, scores, rewards, weights)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from grpo_bt_rm.rewards.settings import SettingsError

PAIR_SAMPLING_MODES = ("uniform", "weighted")


@dataclass(frozen=True)
class PairTrainSettings:
    pair_sampling: str = "uniform"
    min_reward_std: float = 0.0
    reward_dump: str | None = None

    def __post_init__(self):
        if self.pair_sampling not in PAIR_SAMPLING_MODES:
            raise SettingsError(f"BT_PAIR_SAMPLING={self.pair_sampling!r}: expected one of {PAIR_SAMPLING_MODES}")
        if not (math.isfinite(self.min_reward_std) and self.min_reward_std >= 0):
            raise SettingsError(f"BT_MIN_REWARD_STD={self.min_reward_std!r}: expected a finite number >= 0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PairTrainSettings:
        env = os.environ if env is None else env
        raw_std = (env.get("BT_MIN_REWARD_STD") or "0").strip()
        try:
            min_std = float(raw_std)
        except ValueError:
            raise SettingsError(f"BT_MIN_REWARD_STD={raw_std!r}: expected a number") from None
        return cls(
            pair_sampling=(env.get("BT_PAIR_SAMPLING") or "uniform").strip(),
            min_reward_std=min_std,
            reward_dump=(env.get("BT_REWARD_DUMP") or "").strip() or None,
        )

    def to_dict(self) -> dict:
        return asdict(self)
