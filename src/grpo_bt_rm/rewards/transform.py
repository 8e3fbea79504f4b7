"""The reward transforms, as pure scalar maths (no settings, no grouping): one definition of each formula.

    from grpo_bt_rm.rewards.transform import bt_reward
    bt_reward(40 / 20, scale=1.0, offset=0.0, clip=10.0)   # R(x) = s*logsigma(clip(x)) + o

Every function takes the pair's normalised margin t = delta / T of one completion (its score against the other
side's mean, signed so that t > 0 is the preferred direction) and returns a float that is never NaN or inf for
finite inputs. `bt.bt_rewards` inlines `bt_reward` in its hot loop; a property test ties the two together.
"""

from __future__ import annotations

import math

REWARD_KINDS = ("bt", "binary", "graded", "hard_margin")


def log_sigmoid(x: float) -> float:
    """log sigma(x) = -log(1 + e^-x), stable for any finite x (no overflow, no log(0)).

    Args:
        x: any finite float.

    Returns:
        A float <= 0.

    >>> log_sigmoid(0.0) == -math.log(2)
    True
    """
    if x >= 0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    """sigma(x) = 1 / (1 + e^-x), without overflow for any finite x.

    Args:
        x: any finite float.

    Returns:
        A float in [0, 1].
    """
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def softplus(x: float) -> float:
    """softplus(x) = log(1 + e^x) = -log_sigmoid(-x), without overflow for any finite x.

    Args:
        x: any finite float.

    Returns:
        A float >= 0.
    """
    return -log_sigmoid(-x)


def clip_x(x: float, clip: float = 0.0, neg_clip: float = 0.0) -> float:
    """x capped at +clip (when clip > 0) and floored at -neg_clip (when neg_clip > 0).

    Args:
        x: the normalised margin delta / T.
        clip: C (BT_DELTA_CLIP); 0 = no cap.
        neg_clip: NC (BT_DELTA_NEG_CLIP); 0 = no floor.

    Returns:
        The clipped x.
    """
    if clip > 0 and x > clip:
        return clip
    if neg_clip > 0 and x < -neg_clip:
        return -neg_clip
    return x


def bt_reward(x: float, scale: float = 1.0, offset: float = 0.0, clip: float = 0.0, neg_clip: float = 0.0) -> float:
    """The Bradley-Terry reward R(x) = s * logsigma(clip(x)) + o: the log-likelihood that the preferred side wins
    when the completion's score margin is x (Bradley & Terry 1952; the upstream plugins' `bt_pointwise_*`).

    Args:
        x: delta / T, unclipped.
        scale: s (BT_REWARD_SCALE, > 0).
        offset: o (BT_REWARD_OFFSET).
        clip, neg_clip: C and NC, see `clip_x`.

    Returns:
        A float <= o; R(0) = o - s*ln 2 is the tie reward.

    >>> round(bt_reward(2.0), 6)
    -0.126928
    """
    return scale * log_sigmoid(clip_x(x, clip, neg_clip)) + offset


def binary_reward(t: float, pos: float = 1.0, neg: float = 1.0) -> float:
    """+pos when the completion is on the right side of the other side's mean score (t > 0), else -neg: ties
    count as wrong (upstream `bt_binary`, RM-R1's +1/-1 correctness reward).

    Args:
        t: delta / T (only its sign matters).
        pos: r_pos (BT_REWARD_POS).
        neg: r_neg (BT_REWARD_NEG), a magnitude: the wrong-side reward is -neg.

    Returns:
        pos or -neg.
    """
    return pos if t > 0 else -neg


def graded_reward(t: float, wrong: float = 0.0, low: float = 1.2, high: float = 1.4, thresh: float = 0.1) -> float:
    """PaTaRM-style graded correctness: `wrong` if t <= 0, `low` if 0 < t < thresh, `high` if t >= thresh.

    Args:
        t: delta / T, the completion's normalised margin in the preferred direction.
        wrong, low, high: BT_REWARD_WRONG, BT_REWARD_LOW, BT_REWARD_HIGH (validated wrong < low <= high).
        thresh: BT_GRADE_THRESH (> 0), the margin in units of T that earns `high`.

    Returns:
        One of wrong, low, high.

    >>> graded_reward(0.0), graded_reward(0.05), graded_reward(0.1)
    (0.0, 1.2, 1.4)
    """
    if t <= 0:
        return wrong
    return low if t < thresh else high


def hard_margin_reward(t: float, gamma: float = 0.5, temp: float = 1.0) -> float:
    """The margin BT loss as a reward: -softplus((gamma - t) / T_m) = logsigma((t - gamma) / T_m) (upstream
    `bt_hard_margin`). Near 0 once t exceeds the target margin gamma (stop pushing), about -(gamma - t)/T_m far
    below it. The hard-mining weight w of `-w * softplus(...)` acts on the advantages (see `weights`).

    Args:
        t: delta / T.
        gamma: the target margin (BT_MARGIN_GAMMA), in units of T.
        temp: T_m (BT_MARGIN_TEMP, > 0).

    Returns:
        A float < 0.

    >>> round(hard_margin_reward(0.5), 6) == round(-math.log(2), 6)
    True
    """
    return -softplus((gamma - t) / temp)


__all__ = ["REWARD_KINDS", "binary_reward", "bt_reward", "clip_x", "graded_reward", "hard_margin_reward",
           "log_sigmoid", "sigmoid", "softplus"]
