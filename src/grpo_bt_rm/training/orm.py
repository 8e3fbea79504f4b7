"""Thin ms-swift ORM adapters over `grpo_bt_rm.rewards.bt_rewards`, one class per reward variant.

    from grpo_bt_rm.training.orm import ORM_CLASSES
    reward = ORM_CLASSES["bt_pointwise_baseline"](args=None)   # settings read from the environment
    rewards = reward(completions, pair_id=[...], side=[...], preferred_side=[...], parser_name=[...])

Each call keeps its result in `.last` (rewards, pair weights, scores, diagnostic counts) for PairGRPOTrainer,
and appends one JSON line to BT_REWARD_DUMP when that is set.
"""

from __future__ import annotations

import os

from swift.rewards import ORM

from grpo_bt_rm.io import append_jsonl
from grpo_bt_rm.rewards import REWARD_VARIANTS, BTOutput, BTRewardSettings, bt_rewards
from grpo_bt_rm.training.settings import PairTrainSettings


class BTRewardORM(ORM):
    """Base adapter; subclasses set `variant`. Works with `args=None` (unit use)."""

    variant: str = ""

    def __init__(self, args=None, **kwargs):
        super().__init__(args, **kwargs)
        kind = REWARD_VARIANTS.get(self.variant).reward if self.variant else "bt"
        self.kind = kind
        self.settings = BTRewardSettings.from_env(reward_kinds=(kind,))  # checks BT_PARSE_FAIL_REWARD for this kind
        # The rollout's assistant pre-fill: ms-swift's --response_prefix (its "\\n" -> newline already applied).
        self.response_prefix = getattr(args, "response_prefix", None) or None
        self.dump_path = PairTrainSettings.from_env().reward_dump
        self.last: BTOutput | None = None
        self.calls = 0

    def __call__(self, completions, **kwargs) -> list[float]:
        out = bt_rewards(
            self.variant, completions,
            pair_id=kwargs.get("pair_id"), side=kwargs.get("side"), preferred_side=kwargs.get("preferred_side"),
            settings=self.settings, parser_name=kwargs.get("parser_name"),
            density_weight=kwargs.get("density_weight"), is_truncated=kwargs.get("is_truncated"),
            response_prefix=self.response_prefix,
        )
        self.last = out
        self.calls += 1
        if self.dump_path:
            self._dump(out, completions, kwargs)
        return out.rewards

    def _dump(self, out: BTOutput, completions, kwargs) -> None:
        record = {
            "reward": self.variant, "call": self.calls, "rank": int(os.environ.get("RANK", "0")),
            "pair_id": list(kwargs["pair_id"]), "side": [int(s) for s in kwargs["side"]],
            "preferred_side": [int(s) for s in kwargs["preferred_side"]],
            "scores": out.scores, "rewards": out.rewards, "weights": out.weights,
            "completions": list(completions), "is_truncated": [bool(t) for t in kwargs.get("is_truncated") or []],
        }
        append_jsonl(self.dump_path, [record])  # one O_APPEND write: lines from several ranks never interleave


ORM_CLASSES: dict[str, type[BTRewardORM]] = {
    name: type(name, (BTRewardORM,), {"variant": name, "__doc__": REWARD_VARIANTS.get(name).description})
    for name in REWARD_VARIANTS.names()
}
