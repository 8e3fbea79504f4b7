"""The reward variants: each is a validated choice of pairing, reward transform and pair weighting (no copies).

    from grpo_bt_rm.rewards.variants import REWARD_VARIANTS
    REWARD_VARIANTS.get("bt_pointwise_baseline_hardmine")   # Variant(pairing="baseline", weighting="hardmine", ...)

These names are what `REWARD_NAME` / ms-swift `--reward_funcs` select (`training.orm` makes one ORM per name).
"""

from __future__ import annotations

from dataclasses import dataclass

from grpo_bt_rm.registry import Registry
from grpo_bt_rm.rewards.transform import REWARD_KINDS
from grpo_bt_rm.rewards.weights import WEIGHTS

# baseline: each completion against the other side's mean valid score;
# pair_shared: the k-th completion of side 0 against the k-th of side 1 (call order), sharing one reward.
PAIRINGS = ("baseline", "pair_shared")


@dataclass(frozen=True)
class Variant:
    """One reward variant. Raises ValueError/KeyError (listing the valid choices) on an unknown choice."""

    name: str
    pairing: str  # one of PAIRINGS
    weighting: str | None  # None (weight 1) or a `weights.WEIGHTS` name
    description: str
    reward: str = "bt"  # one of transform.REWARD_KINDS

    def __post_init__(self):
        if self.pairing not in PAIRINGS:
            raise ValueError(f"variant {self.name!r}: pairing {self.pairing!r}; valid: {', '.join(PAIRINGS)}")
        if self.reward not in REWARD_KINDS:
            raise ValueError(f"variant {self.name!r}: reward {self.reward!r}; valid: {', '.join(REWARD_KINDS)}")
        if self.pairing == "pair_shared" and self.reward != "bt":
            raise ValueError(f"variant {self.name!r}: pair_shared pairing is defined for the bt reward only")
        if self.weighting is not None:
            WEIGHTS.get(self.weighting)  # KeyError with the valid names

    @property
    def needs(self) -> tuple[str, ...]:
        """Row columns this variant reads beyond pair_id / side / preferred_side."""
        return WEIGHTS.get(self.weighting).needs if self.weighting else ()


REWARD_VARIANTS: Registry[Variant] = Registry("reward")
for _v in (
    Variant("bt_pointwise_baseline", "baseline", None, "each completion vs. the other side's mean score"),
    Variant("bt_pointwise_pair_shared", "pair_shared", None, "k-th of side 0 vs. k-th of side 1, shared reward"),
    Variant("bt_pointwise_baseline_hardmine", "baseline", "hardmine", "baseline + margin-based pair weight"),
    Variant("bt_pointwise_density", "baseline", "density", "baseline + `density_weight` column as pair weight"),
    # issue 15 §2: the upstream's remaining plugins, as parameters (reward kind, weighting) of the same loop
    Variant("bt_pointwise_binary", "baseline", None, "+BT_REWARD_POS on the right side of the other side's mean, "
            "-BT_REWARD_NEG otherwise (ties are wrong)", reward="binary"),
    Variant("bt_pointwise_graded", "baseline", None, "PaTaRM-style graded: BT_REWARD_WRONG / _LOW / _HIGH on "
            "t = delta/T against BT_GRADE_THRESH", reward="graded"),
    Variant("bt_pointwise_graded_hardpair", "baseline", "hardpair", "graded, pair weight sigma(-m/BT_HARDPAIR_TAU)",
            reward="graded"),
    Variant("bt_pointwise_hard_margin", "baseline", "margin_hardmine", "-softplus((BT_MARGIN_GAMMA - delta/T) / "
            "BT_MARGIN_TEMP), pair weight w = hard-mining weight (BT_MARGIN_HARDMINE)", reward="hard_margin"),
):
    REWARD_VARIANTS.add(_v.name, _v)
del _v

__all__ = ["PAIRINGS", "REWARD_VARIANTS", "Variant"]
