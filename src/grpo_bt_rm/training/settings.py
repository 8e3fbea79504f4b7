"""`PairTrainSettings`: the trainer-side BT settings, read once from the environment and validated.

    BT_PAIR_SAMPLING=uniform|weighted   how PairRepeatSampler draws pairs (weighted: with replacement,
                                        proportional to the rows' `density_weight` column)
    BT_MIN_REWARD_STD=0                 floor on the reward std before GRPO divides by it (0 = off)
    BT_REWARD_DUMP=<file>               append one JSON line per reward call (pair_id, side, scores, rewards, weights)
    BT_SKIP_OLD_LOGPS=1|0               1: skip ms-swift's no-grad "old log-probs" forward when training is provably
                                        on-policy (PairGRPOTrainer decides and logs which path it takes); 0: always run it
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
    """The trainer-side BT settings (see the module doc for the environment variables).

    Attributes:
        pair_sampling: "uniform" or "weighted" (BT_PAIR_SAMPLING).
        min_reward_std: floor on the reward std before GRPO divides by it; 0 is off (BT_MIN_REWARD_STD).
        reward_dump: file to append one JSON line per reward call to, or None (BT_REWARD_DUMP).
        skip_old_logps: skip the old-log-prob forward when training is on-policy (BT_SKIP_OLD_LOGPS).

    Raises:
        SettingsError: an unknown sampling mode, a negative or non-finite std floor, or a non-bool skip flag.
    """
    pair_sampling: str = "uniform"
    min_reward_std: float = 0.0
    reward_dump: str | None = None
    skip_old_logps: bool = True

    def __post_init__(self):
        if self.pair_sampling not in PAIR_SAMPLING_MODES:
            raise SettingsError(f"BT_PAIR_SAMPLING={self.pair_sampling!r}: expected one of {PAIR_SAMPLING_MODES}")
        if not (math.isfinite(self.min_reward_std) and self.min_reward_std >= 0):
            raise SettingsError(f"BT_MIN_REWARD_STD={self.min_reward_std!r}: expected a finite number >= 0")
        if not isinstance(self.skip_old_logps, bool):
            raise SettingsError(f"BT_SKIP_OLD_LOGPS={self.skip_old_logps!r}: expected 0 or 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PairTrainSettings:
        """Read and validate the settings from `env` (default `os.environ`); unset variables take the defaults.

        Raises:
            SettingsError: BT_MIN_REWARD_STD is not a number, BT_SKIP_OLD_LOGPS is not 0 or 1, or a value fails
                validation; the message names the variable.
        """
        env = os.environ if env is None else env
        raw_std = (env.get("BT_MIN_REWARD_STD") or "0").strip()
        try:
            min_std = float(raw_std)
        except ValueError:
            raise SettingsError(f"BT_MIN_REWARD_STD={raw_std!r}: expected a number") from None
        raw_skip = (env.get("BT_SKIP_OLD_LOGPS") or "1").strip()
        if raw_skip not in ("0", "1"):
            raise SettingsError(f"BT_SKIP_OLD_LOGPS={raw_skip!r}: expected 0 (always run the old-log-prob forward) "
                                "or 1 (skip it when on-policy)")
        return cls(
            pair_sampling=(env.get("BT_PAIR_SAMPLING") or "uniform").strip(),
            min_reward_std=min_std,
            reward_dump=(env.get("BT_REWARD_DUMP") or "").strip() or None,
            skip_old_logps=raw_skip == "1",
        )

    def to_dict(self) -> dict:
        """The settings as a plain dict, for logs and the run's settings file."""
        return asdict(self)
