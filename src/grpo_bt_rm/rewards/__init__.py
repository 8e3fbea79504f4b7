"""Bradley-Terry rewards over pairs of pointwise judge completions (pure Python; no ms-swift import).

    from grpo_bt_rm.rewards import BTRewardSettings, bt_rewards
    out = bt_rewards("bt_pointwise_baseline", completions, pair_id=..., side=..., preferred_side=...,
                     settings=BTRewardSettings.from_env())

Modules: `transform` (the formulas), `weights` (pair-weight registry), `variants` (the reward names),
`bt` (grouping, pairing, the hot loop), `settings` (BT_* variables, validated once).
"""

from grpo_bt_rm.rewards.bt import STAT_KEYS, BTOutput, bt_rewards, group_pairs, summarize
from grpo_bt_rm.rewards.settings import FAIL_MARGIN, BTRewardSettings, SettingsError
from grpo_bt_rm.rewards.transform import REWARD_KINDS, bt_reward, log_sigmoid
from grpo_bt_rm.rewards.variants import PAIRINGS, REWARD_VARIANTS, Variant
from grpo_bt_rm.rewards.weights import WEIGHTS

__all__ = ["BTOutput", "BTRewardSettings", "FAIL_MARGIN", "PAIRINGS", "REWARD_KINDS", "REWARD_VARIANTS", "STAT_KEYS",
           "SettingsError", "Variant", "WEIGHTS", "bt_reward", "bt_rewards", "group_pairs", "log_sigmoid",
           "summarize"]
