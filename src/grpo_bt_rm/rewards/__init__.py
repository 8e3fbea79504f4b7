"""Bradley-Terry rewards over pairs of pointwise judge completions (pure Python; no ms-swift import).

    from grpo_bt_rm.rewards import BTRewardSettings, bt_rewards
    out = bt_rewards("bt_pointwise_baseline", completions, pair_id=..., side=..., preferred_side=...,
                     settings=BTRewardSettings.from_env())
"""

from grpo_bt_rm.rewards.bt import REWARD_VARIANTS, STAT_KEYS, BTOutput, Variant, bt_rewards, summarize
from grpo_bt_rm.rewards.settings import FAIL_MARGIN, BTRewardSettings, SettingsError, log_sigmoid

__all__ = ["BTOutput", "BTRewardSettings", "FAIL_MARGIN", "REWARD_VARIANTS", "STAT_KEYS", "SettingsError",
           "Variant", "bt_rewards", "log_sigmoid", "summarize"]
