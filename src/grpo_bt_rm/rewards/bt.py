"""Bradley-Terry rewards for pointwise judge completions, grouped by pair (pure Python, no ms-swift import).

    out = bt_rewards("bt_pointwise_baseline", completions, pair_id=..., side=..., preferred_side=...,
                     settings=BTRewardSettings.from_env())
    out.rewards, out.weights, out.scores, out.stats

For the completions of one call grouped by `pair_id`: z is a completion's parsed score, z̄_0 / z̄_1 the mean
valid score of each side of its pair, x = clip((...)/T) and R(x) = s*logsigma(x) + o (`transform.bt_reward`).

Variants (registry `variants.REWARD_VARIANTS`; pair weights from `weights.WEIGHTS`):
- bt_pointwise_baseline: preferred completion i gets R(z_i - z̄_non); non-preferred j gets R(z̄_pref - z_j).
- bt_pointwise_pair_shared: the k-th completion of side 0 is aligned with the k-th of side 1 (call order);
  both get R(z_pref,k - z_non,k).
- bt_pointwise_baseline_hardmine: baseline rewards; pair weight from m = (z̄_pref - z̄_non)/T:
  1 if m < 0, BT_HARD_LAMBDA if 0 <= m < BT_HARD_TAU, BT_HARD_EPS if m >= BT_HARD_TAU.
- bt_pointwise_density: baseline rewards; pair weight = the rows' `density_weight` column.
- bt_pointwise_binary / _graded / _graded_hardpair / _hard_margin (issue 15 §2): baseline pairing, the reward of
  t = (unclipped) delta/T from `transform` (binary, graded, hard_margin); weights hardpair sigma(-m/tau) and, for
  hard_margin, the hard-mining weight when BT_MARGIN_HARDMINE=1.

Parsing: each completion is parsed as the whole assistant text, `response_prefix` included (ms-swift 4.6's
rollout already puts the pre-fill in front of the completion text it hands to rewards, measured; a completion that
does not start with the prefix gets it prepended), with the settings' reasoning tag, and with its
`is_truncated` flag (a cut-off completion keeps a score only under a `_first` parser whose first tag closed before
the cut; see `grpo_bt_rm.parsing`). Truncations are counted (`truncated_rate`) and are parse failures.

Failure handling (all variants): an unparseable completion gets `settings.fail_reward(parser)` (strictly below
any valid reward); a valid completion with no valid score on the other side of its pair gets the tie reward
(the variant's reward at t = 0: R(0) for bt, a wrong answer for binary and graded); in pair_shared, a valid completion whose aligned partner failed (or has no partner) falls back to its
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
from grpo_bt_rm.rewards.settings import BTRewardSettings
from grpo_bt_rm.rewards.transform import log_sigmoid
from grpo_bt_rm.rewards.variants import REWARD_VARIANTS, Variant
from grpo_bt_rm.rewards.weights import WEIGHTS

NEAR_ZERO_X = 0.1  # |x| below this counts as "near zero" in the diagnostics
SATURATED_X = 4.6  # |x| at or above this (sigma outside [0.01, 0.99]), or a clip hit, counts as "saturated"

STAT_KEYS = ("n", "n_fail", "n_truncated", "n_pairs", "n_pairs_scored", "n_pairs_correct", "n_tie_fallback",
             "x_n", "x_sum", "x_sq", "x_near0", "x_sat", "w_sum")


@dataclass
class BTOutput:
    """What `bt_rewards` returns for one reward call: per-completion lists (length n_completions) and summed stats.

    Attributes:
        rewards: the BT reward of each completion.
        weights: each completion's pair weight (1.0 when the variant has none).
        scores: the parsed judge score of each completion, None where parsing failed.
        x: the clipped x each reward came from; None for parse failures and tie fallbacks.
        stats: summable diagnostic counts (keys in `STAT_KEYS`; see `summarize`).
    """
    rewards: list[float]
    weights: list[float]  # per completion: its pair's weight (1.0 when the variant has none)
    scores: list[float | None]
    x: list[float | None]  # the clipped x a reward came from; None for failures and tie fallbacks
    stats: dict[str, float] = field(default_factory=dict)  # summable counts, see STAT_KEYS / summarize()


def summarize(stats: dict[str, float]) -> dict[str, float]:
    """Diagnostics from (possibly summed across calls/processes) stats counts.

    Args:
        stats: the counts named in STAT_KEYS (one call's `BTOutput.stats`, or their sum).

    Returns:
        Rates and moments: parse_fail_rate, truncated_rate, pair_acc (ties count 1/2), x_mean, x_std,
        frac_x_near_zero, frac_x_saturated, tie_fallback_rate, mean_weight.
    """
    n, x_n, pairs = stats["n"], stats["x_n"], stats["n_pairs"]
    mean = stats["x_sum"] / x_n if x_n else 0.0
    var = max(0.0, stats["x_sq"] / x_n - mean * mean) if x_n else 0.0
    return {
        "parse_fail_rate": stats["n_fail"] / n if n else 0.0,
        "truncated_rate": stats["n_truncated"] / n if n else 0.0,
        "pair_acc": stats["n_pairs_correct"] / stats["n_pairs_scored"] if stats["n_pairs_scored"] else 0.0,
        "x_mean": mean,
        "x_std": math.sqrt(var),
        "frac_x_near_zero": stats["x_near0"] / x_n if x_n else 0.0,
        "frac_x_saturated": stats["x_sat"] / x_n if x_n else 0.0,
        "tie_fallback_rate": stats["n_tie_fallback"] / n if n else 0.0,
        "mean_weight": stats["w_sum"] / pairs if pairs else 1.0,
    }


_SIDES = {0: 0, 1: 1}


def _as_side(value, i: int, column: str) -> int:
    try:
        s = int(value)
    except (TypeError, ValueError):
        s = -1
    if s not in (0, 1) or (isinstance(value, float) and value != s):
        raise ValueError(f"completion {i}: column {column!r} must be 0 or 1, got {value!r}")
    return s


def _flags(is_truncated, n: int) -> list[bool]:
    if is_truncated is None:
        return [False] * n
    if len(is_truncated) != n:
        raise ValueError(f"column 'is_truncated': expected {n} values (one per completion), got {len(is_truncated)}")
    return [bool(t) for t in is_truncated]


def _parse_all(completions, parser_name, settings, kind: str, prefix: str, truncated: list[bool]
               ) -> tuple[list[float | None], list[float]]:
    """Scores and per-completion fail rewards (one parser per row: BT_SCORE_PARSER or the row's parser_name)."""
    tag = settings.reasoning_tag
    if prefix:
        completions = [c if c.startswith(prefix) else prefix + c for c in completions]
    if settings.parser is not None:
        p = get_parser(settings.parser, tag)
        fail = settings.fail_reward(p.name, kind)
        return [p.parse(c, t) for c, t in zip(completions, truncated)], [fail] * len(completions)
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
                p = get_parser(name, tag)
            except KeyError as e:
                raise ValueError(f"completion {i}: column 'parser_name': {e.args[0]}") from None
            entry = cache[name] = (p.parse, settings.fail_reward(name, kind))
        scores.append(entry[0](c, truncated[i]))
        fails.append(entry[1])
    return scores, fails


def group_pairs(pair_id: Sequence, side: Sequence, preferred_side: Sequence) -> tuple[dict, dict]:
    """Completion indices grouped by pair and side, and each pair's preferred side.

    Args:
        pair_id, side, preferred_side: one value per completion; side and preferred_side are 0 or 1.

    Returns:
        (groups, preferred): groups[pid] = ([side-0 indices], [side-1 indices]) in call order, in order of first
        appearance; preferred[pid] = 0 or 1.

    Raises:
        ValueError: a side is not 0/1, or rows of one pair disagree on preferred_side.
    """
    groups: dict = {}
    pref_of: dict = {}
    side_of = _SIDES.get
    for i in range(len(pair_id)):
        pid = pair_id[i]
        pref = side_of(preferred_side[i])
        if pref is None:
            pref = _as_side(preferred_side[i], i, "preferred_side")
        sd = side_of(side[i])
        if sd is None:
            sd = _as_side(side[i], i, "side")
        g = groups.get(pid)
        if g is None:
            g = groups[pid] = ([], [])
            pref_of[pid] = pref
        elif pref_of[pid] != pref:
            raise ValueError(f"pair {pid!r}: rows disagree on preferred_side ({pref_of[pid]} vs {pref} at "
                             f"completion {i})")
        g[sd].append(i)
    return groups, pref_of


def _check_columns(v: Variant, n: int, pair_id, side, preferred_side, columns: dict) -> None:
    for col, values in (("pair_id", pair_id), ("side", side), ("preferred_side", preferred_side)):
        if values is None or len(values) != n:
            got = "missing" if values is None else f"{len(values)} values"
            raise ValueError(f"column {col!r}: expected {n} values (one per completion), got {got}")
    for col in v.needs:
        values = columns.get(col)
        if values is None:
            raise ValueError(f"{v.name} needs the row column {col!r} (from the density pipeline); the rows have none")
        if len(values) != n:
            raise ValueError(f"column {col!r}: expected {n} values, got {len(values)}")


def _pair_shared(p_idx, n_idx, scores, raw, T) -> tuple[list[int], list[int]]:
    """Aligned k-th completions share x = (z_pref,k - z_non,k)/T; returns those left for the baseline rule."""
    todo_p, todo_n = [], []  # completions whose aligned partner is missing or failed
    for k in range(max(len(p_idx), len(n_idx))):
        i = p_idx[k] if k < len(p_idx) else None
        j = n_idx[k] if k < len(n_idx) else None
        zi = scores[i] if i is not None else None
        zj = scores[j] if j is not None else None
        if zi is not None and zj is not None:
            raw[i] = raw[j] = (zi - zj) / T
        elif zi is not None:
            todo_p.append(i)
        elif zj is not None:
            todo_n.append(j)
    return todo_p, todo_n


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
    is_truncated: Sequence[bool] | None = None,
    response_prefix: str | None = None,
) -> BTOutput:
    """Rewards, pair weights, scores and diagnostic counts for one call's completions (see the module doc).

    Args:
        variant: a `REWARD_VARIANTS` name or a Variant.
        completions: the judge's texts, one per completion.
        pair_id, side, preferred_side: the rows' columns, one value per completion.
        settings: the validated reward settings.
        parser_name: per completion, the parser to use when `settings.parser` is None.
        density_weight: per completion, the pair's density weight (needed by the density variant).
        is_truncated: per completion, whether generation stopped at the token limit (ms-swift's column; None =
            no completion was cut off).
        response_prefix: the assistant pre-fill (ms-swift `--response_prefix`; None = none); a completion not
            already starting with it is parsed as prefix + completion.

    Returns:
        BTOutput: rewards, per-completion pair weights, parsed scores, x values and summable stats.

    Raises:
        KeyError: unknown variant (the message lists the valid names).
        ValueError: missing or malformed columns (the message names the column and completion).
    """
    v = variant if isinstance(variant, Variant) else REWARD_VARIANTS.get(variant)
    n = len(completions)
    columns = {"density_weight": density_weight}
    _check_columns(v, n, pair_id, side, preferred_side, columns)
    truncated = _flags(is_truncated, n)
    scores, fails = _parse_all(completions, parser_name, settings, v.reward, response_prefix or "", truncated)
    groups, pref_of = group_pairs(pair_id, side, preferred_side)

    T = settings.delta_temp
    tie = settings.valid_reward(0.0, v.reward)
    rewards = [0.0] * n
    weights = [1.0] * n
    raw: list[float | None] = [None] * n  # unclipped x of each completion that gets a BT reward
    n_fail = n_tie = n_pairs_scored = n_pairs_correct = w_sum = 0.0
    pair_shared = v.pairing == "pair_shared"
    weigh = WEIGHTS.get(v.weighting).fn if v.weighting else None

    for pid, sides in groups.items():
        pref = pref_of[pid]
        p_idx, n_idx = sides[pref], sides[1 - pref]
        p_sum = p_cnt = n_sum = n_cnt = 0  # valid scores per side (inlined: per-completion hot path)
        for i in p_idx:
            z = scores[i]
            if z is None:
                rewards[i] = fails[i]
                n_fail += 1
            else:
                p_sum += z
                p_cnt += 1
        for i in n_idx:
            z = scores[i]
            if z is None:
                rewards[i] = fails[i]
                n_fail += 1
            else:
                n_sum += z
                n_cnt += 1
        p_mean = p_sum / p_cnt if p_cnt else None
        n_mean = n_sum / n_cnt if n_cnt else None

        todo_p, todo_n = _pair_shared(p_idx, n_idx, scores, raw, T) if pair_shared else (p_idx, n_idx)
        # Baseline: preferred i vs the non-preferred mean; non-preferred j vs the preferred mean; tie if none.
        for i in todo_p:
            z = scores[i]
            if z is not None:
                if n_mean is None:
                    rewards[i] = tie
                    n_tie += 1
                else:
                    raw[i] = (z - n_mean) / T
        for j in todo_n:
            z = scores[j]
            if z is not None:
                if p_mean is None:
                    rewards[j] = tie
                    n_tie += 1
                else:
                    raw[j] = (p_mean - z) / T

        scored = p_mean is not None and n_mean is not None
        w = 1.0
        if weigh is not None:
            w = weigh(pid, (p_idx, n_idx), (p_mean - n_mean) / T if scored else None, settings, columns)
            if w != 1.0:
                for i in p_idx:
                    weights[i] = w
                for i in n_idx:
                    weights[i] = w
        w_sum += w
        if scored:
            n_pairs_scored += 1
            n_pairs_correct += 1.0 if p_mean > n_mean else (0.5 if p_mean == n_mean else 0.0)

    if v.reward != "bt":
        xs, x_stats = _other_kind(v.reward, raw, rewards, settings)
    else:
        xs, x_stats = _bt_kind(raw, rewards, settings)
    stats = {"n": float(n), "n_fail": n_fail, "n_truncated": float(sum(truncated)), "n_pairs": float(len(groups)),
             "n_pairs_scored": n_pairs_scored, "n_pairs_correct": n_pairs_correct, "n_tie_fallback": n_tie,
             **x_stats, "w_sum": w_sum}
    return BTOutput(rewards, weights, scores, xs, stats)


def _bt_kind(raw: list[float | None], rewards: list[float], settings: BTRewardSettings):
    """x = clip(raw), R = s*logsigma(x) + o (inlined: this loop is the hot path; equal to transform.bt_reward, a
    property test checks it), and the x diagnostics."""
    n = len(raw)
    C, NC = settings.delta_clip, settings.delta_neg_clip
    hi = C if C > 0 else math.inf
    lo = -NC if NC > 0 else -math.inf
    scale, offset = settings.reward_scale, settings.reward_offset
    log1p, exp = math.log1p, math.exp
    xs: list[float | None] = [None] * n
    x_n = x_sum = x_sq = x_near0 = x_sat = 0.0
    for i in range(n):
        x = raw[i]
        if x is None:
            continue
        if x >= hi:
            x = hi
            x_sat += 1
        elif x <= lo:
            x = lo
            x_sat += 1
        elif x >= SATURATED_X or x <= -SATURATED_X:
            x_sat += 1
        xs[i] = x
        rewards[i] = scale * (-log1p(exp(-x)) if x >= 0 else x - log1p(exp(x))) + offset
        x_n += 1
        x_sum += x
        x_sq += x * x
        if -NEAR_ZERO_X < x < NEAR_ZERO_X:
            x_near0 += 1
    return xs, {"x_n": x_n, "x_sum": x_sum, "x_sq": x_sq, "x_near0": x_near0, "x_sat": x_sat}


def _other_kind(kind: str, raw: list[float | None], rewards: list[float], settings: BTRewardSettings):
    """The binary, graded and hard-margin rewards of t = raw (unclipped: C and NC shape logsigma only), through
    `settings.valid_reward` (= the `transform` functions); the same x diagnostics, with no clip hits."""
    reward_of = settings.valid_reward
    xs: list[float | None] = list(raw)
    x_n = x_sum = x_sq = x_near0 = x_sat = 0.0
    for i, t in enumerate(raw):
        if t is None:
            continue
        rewards[i] = reward_of(t, kind)
        x_n += 1
        x_sum += t
        x_sq += t * t
        x_near0 += -NEAR_ZERO_X < t < NEAR_ZERO_X
        x_sat += not -SATURATED_X < t < SATURATED_X
    return xs, {"x_n": x_n, "x_sum": x_sum, "x_sq": x_sq, "x_near0": x_near0, "x_sat": x_sat}


__all__ = ["BTOutput", "REWARD_VARIANTS", "STAT_KEYS", "Variant", "bt_rewards", "group_pairs", "log_sigmoid",
           "summarize"]
