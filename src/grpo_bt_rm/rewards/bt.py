"""Bradley-Terry rewards for pointwise judge completions, grouped by pair (pure Python, no ms-swift import).

    out = bt_rewards("bt_pointwise_baseline", completions, pair_id=..., side=..., preferred_side=...,
                     settings=BTRewardSettings.from_env())
    out.rewards, out.weights, out.scores, out.stats

For the completions of one call grouped by `pair_id`: z is a completion's parsed score, z̄_0 / z̄_1 the mean
valid score of each side of its pair, x = clip((...)/T) and R(x) = s*logsigma(x) + o (see `BTRewardSettings`).

Variants (registry `REWARD_VARIANTS`):
- bt_pointwise_baseline: preferred completion i gets R(z_i - z̄_non); non-preferred j gets R(z̄_pref - z_j).
- bt_pointwise_pair_shared: the k-th completion of side 0 is aligned with the k-th of side 1 (call order);
  both get R(z_pref,k - z_non,k).
- bt_pointwise_baseline_hardmine: baseline rewards; pair weight from m = (z̄_pref - z̄_non)/T:
  1 if m < 0, BT_HARD_LAMBDA if 0 <= m < BT_HARD_TAU, BT_HARD_EPS if m >= BT_HARD_TAU.
- bt_pointwise_density: baseline rewards; pair weight = the rows' `density_weight` column.

Failure handling (all variants): an unparseable completion gets `settings.fail_reward(parser)` (strictly below
any valid reward); a valid completion with no valid score on the other side of its pair gets the tie reward
R(0); in pair_shared, a valid completion whose aligned partner failed (or has no partner) falls back to its
baseline reward. A pair whose margin is unknown (a side with no valid score) gets hardmine weight 1.
Weights are returned, not applied: the trainer multiplies advantages by them after GRPO normalisation.
Rewards depend only on pair/side membership, never on the order of pairs in the call (pair_shared also
depends on the order of completions within a side, by definition).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from grpo_bt_rm.parsing import get_parser
from grpo_bt_rm.registry import Registry
from grpo_bt_rm.rewards.settings import BTRewardSettings, log_sigmoid

NEAR_ZERO_X = 0.1  # |x| below this counts as "near zero" in the diagnostics
SATURATED_X = 4.6  # |x| at or above this (sigma outside [0.01, 0.99]), or a clip hit, counts as "saturated"

STAT_KEYS = ("n", "n_fail", "n_pairs", "n_pairs_scored", "n_pairs_correct", "n_tie_fallback",
             "x_n", "x_sum", "x_sq", "x_near0", "x_sat", "w_sum")


@dataclass(frozen=True)
class Variant:
    name: str
    pairing: str  # "baseline" | "pair_shared"
    weighting: str | None  # None | "hardmine" | "density"
    description: str


REWARD_VARIANTS: Registry[Variant] = Registry("reward")
for _v in (
    Variant("bt_pointwise_baseline", "baseline", None, "each completion vs. the other side's mean score"),
    Variant("bt_pointwise_pair_shared", "pair_shared", None, "k-th of side 0 vs. k-th of side 1, shared reward"),
    Variant("bt_pointwise_baseline_hardmine", "baseline", "hardmine", "baseline + margin-based pair weight"),
    Variant("bt_pointwise_density", "baseline", "density", "baseline + `density_weight` column as pair weight"),
):
    REWARD_VARIANTS.add(_v.name, _v)


@dataclass
class BTOutput:
    rewards: list[float]
    weights: list[float]  # per completion: its pair's weight (1.0 when the variant has none)
    scores: list[float | None]
    x: list[float | None]  # the clipped x a reward came from; None for failures and tie fallbacks
    stats: dict[str, float] = field(default_factory=dict)  # summable counts, see STAT_KEYS / summarize()


def summarize(stats: dict[str, float]) -> dict[str, float]:
    """Diagnostics from (possibly summed across calls/processes) stats counts."""
    n, x_n, pairs = stats["n"], stats["x_n"], stats["n_pairs"]
    mean = stats["x_sum"] / x_n if x_n else 0.0
    var = max(0.0, stats["x_sq"] / x_n - mean * mean) if x_n else 0.0
    return {
        "parse_fail_rate": stats["n_fail"] / n if n else 0.0,
        "pair_acc": stats["n_pairs_correct"] / stats["n_pairs_scored"] if stats["n_pairs_scored"] else 0.0,
        "x_mean": mean,
        "x_std": math.sqrt(var),
        "frac_x_near_zero": stats["x_near0"] / x_n if x_n else 0.0,
        "frac_x_saturated": stats["x_sat"] / x_n if x_n else 0.0,
        "tie_fallback_rate": stats["n_tie_fallback"] / n if n else 0.0,
        "mean_weight": stats["w_sum"] / pairs if pairs else 1.0,
    }


def _as_side(value, i: int, column: str) -> int:
    try:
        s = int(value)
    except (TypeError, ValueError):
        s = -1
    if s not in (0, 1) or (isinstance(value, float) and value != s):
        raise ValueError(f"completion {i}: column {column!r} must be 0 or 1, got {value!r}")
    return s


def _parse_all(completions, parser_name, settings) -> tuple[list[float | None], list[float]]:
    """Scores and per-completion fail rewards (one parser per row: BT_SCORE_PARSER or the row's parser_name)."""
    if settings.parser is not None:
        p = get_parser(settings.parser)
        fail = settings.fail_reward(p.name)
        return [p.parse(c) for c in completions], [fail] * len(completions)
    if parser_name is None:
        raise ValueError("BT_SCORE_PARSER is not set and the rows have no `parser_name` column: set "
                         "BT_SCORE_PARSER (e.g. score100_first) or build the dataset with --add_meta")
    names = parser_name
    if len(names) != len(completions):
        raise ValueError(f"column 'parser_name' has {len(names)} values for {len(completions)} completions")
    cache: dict[str, tuple] = {}
    scores, fails = [], []
    for i, (c, name) in enumerate(zip(completions, names)):
        entry = cache.get(name)
        if entry is None:
            try:
                p = get_parser(name)
            except KeyError as e:
                raise ValueError(f"completion {i}: column 'parser_name': {e.args[0]}") from None
            entry = cache[name] = (p.parse, settings.fail_reward(name))
        scores.append(entry[0](c))
        fails.append(entry[1])
    return scores, fails


def bt_rewards(
    variant: str | Variant,
    completions: Sequence[str],
    *,
    pair_id: Sequence,
    side: Sequence,
    preferred_side: Sequence,
    settings: BTRewardSettings,
    parser_name: Sequence[str] | None = None,
    density_weight: Sequence[float] | None = None,
) -> BTOutput:
    """Rewards, pair weights, scores and diagnostic counts for one call's completions (see the module doc)."""
    v = variant if isinstance(variant, Variant) else REWARD_VARIANTS.get(variant)
    n = len(completions)
    for col, values in (("pair_id", pair_id), ("side", side), ("preferred_side", preferred_side)):
        if values is None or len(values) != n:
            got = "missing" if values is None else f"{len(values)} values"
            raise ValueError(f"column {col!r}: expected {n} values (one per completion), got {got}")
    if v.weighting == "density":
        if density_weight is None:
            raise ValueError(f"{v.name} needs the row column 'density_weight' (from the density pipeline); "
                             "the rows have none")
        if len(density_weight) != n:
            raise ValueError(f"column 'density_weight': expected {n} values, got {len(density_weight)}")

    scores, fails = _parse_all(completions, parser_name, settings)

    # Group completion indices by pair and side; check preferred_side (and density_weight) agree within a pair.
    groups: dict = {}
    pref_of: dict = {}
    for i in range(n):
        pid = pair_id[i]
        g = groups.get(pid)
        pref = _as_side(preferred_side[i], i, "preferred_side")
        if g is None:
            g = groups[pid] = ([], [])
            pref_of[pid] = pref
        elif pref_of[pid] != pref:
            raise ValueError(f"pair {pid!r}: rows disagree on preferred_side ({pref_of[pid]} vs {pref} at "
                             f"completion {i})")
        g[_as_side(side[i], i, "side")].append(i)

    T = settings.delta_temp
    clip_x, r_of_x = settings.clip_x, settings.reward_of_x
    C, NC = settings.delta_clip, settings.delta_neg_clip
    tie = settings.tie_reward
    rewards = [0.0] * n
    weights = [1.0] * n
    xs: list[float | None] = [None] * n
    st = dict.fromkeys(STAT_KEYS, 0.0)
    st["n"] = float(n)

    def give(i: int, raw: float) -> None:
        x = clip_x(raw)
        xs[i] = x
        rewards[i] = r_of_x(x)

    def baseline(i: int, preferred: bool, other: float | None) -> None:
        """Reward of valid completion i against the other side's mean `other` (tie when there is none)."""
        if other is None:
            rewards[i] = tie
            st["n_tie_fallback"] += 1
        else:
            give(i, (scores[i] - other) / T if preferred else (other - scores[i]) / T)

    for pid, sides in groups.items():
        pref = pref_of[pid]
        p_idx, n_idx = sides[pref], sides[1 - pref]
        p_valid = [scores[i] for i in p_idx if scores[i] is not None]
        n_valid = [scores[i] for i in n_idx if scores[i] is not None]
        p_mean = sum(p_valid) / len(p_valid) if p_valid else None
        n_mean = sum(n_valid) / len(n_valid) if n_valid else None

        for idx in (p_idx, n_idx):
            for i in idx:
                if scores[i] is None:
                    rewards[i] = fails[i]
                    st["n_fail"] += 1
        if v.pairing == "baseline":
            for i in p_idx:
                if scores[i] is not None:
                    baseline(i, True, n_mean)
            for j in n_idx:
                if scores[j] is not None:
                    baseline(j, False, p_mean)
        else:
            k_max = max(len(p_idx), len(n_idx))
            for k in range(k_max):
                i = p_idx[k] if k < len(p_idx) else None
                j = n_idx[k] if k < len(n_idx) else None
                zi = scores[i] if i is not None else None
                zj = scores[j] if j is not None else None
                if zi is not None and zj is not None:
                    give(i, (zi - zj) / T)
                    xs[j], rewards[j] = xs[i], rewards[i]
                    continue
                if zi is not None:
                    baseline(i, True, n_mean)
                if zj is not None:
                    baseline(j, False, p_mean)

        # Pair weight.
        w = 1.0
        if v.weighting == "hardmine":
            if p_mean is not None and n_mean is not None:
                m = (p_mean - n_mean) / T
                w = 1.0 if m < 0 else (settings.hard_lambda if m < settings.hard_tau else settings.hard_eps)
        elif v.weighting == "density":
            first = p_idx[0] if p_idx else n_idx[0]
            w = _density(density_weight, first, pid)
            for i in p_idx + n_idx:
                if _density(density_weight, i, pid) != w:
                    raise ValueError(f"pair {pid!r}: rows disagree on density_weight ({w} vs "
                                     f"{density_weight[i]!r} at completion {i})")
        if w != 1.0:
            for i in p_idx:
                weights[i] = w
            for i in n_idx:
                weights[i] = w
        st["n_pairs"] += 1
        st["w_sum"] += w
        if p_mean is not None and n_mean is not None:
            st["n_pairs_scored"] += 1
            st["n_pairs_correct"] += 1.0 if p_mean > n_mean else (0.5 if p_mean == n_mean else 0.0)

    for x in xs:
        if x is not None:
            st["x_n"] += 1
            st["x_sum"] += x
            st["x_sq"] += x * x
            ax = abs(x)
            if ax < NEAR_ZERO_X:
                st["x_near0"] += 1
            if ax >= SATURATED_X or (C > 0 and x >= C) or (NC > 0 and x <= -NC):
                st["x_sat"] += 1
    return BTOutput(rewards, weights, scores, xs, st)


def _density(values, i: int, pid) -> float:
    raw = values[i]
    try:
        w = float(raw)
    except (TypeError, ValueError):
        w = float("nan")
    if not math.isfinite(w) or w < 0:
        raise ValueError(f"completion {i} (pair {pid!r}): density_weight must be a finite number >= 0, got {raw!r}")
    return w


__all__ = ["BTOutput", "REWARD_VARIANTS", "STAT_KEYS", "Variant", "bt_rewards", "log_sigmoid", "summarize"]
