"""Pair-weight functions, one registry (`WEIGHTS`): a pair's weight multiplies the GRPO advantages of all its
completions after normalisation (`training.advantages.apply_pair_weights`), so it acts under every `scale_rewards`.

    from grpo_bt_rm.rewards.weights import WEIGHTS
    WEIGHTS.get("hardmine").fn("p", ([0], [1]), 0.1, settings, {})   # -> settings.hard_lambda

A weight function `fn(pair_id, sides, margin, settings, columns)` sees one pair: its id, its completions' indices
per side (preferred side first), its margin m = (z̄_pref - z̄_non) / T (None when a side has no valid score), the
settings and the call's optional columns. It returns a finite float >= 0 (plain arguments, no per-pair object:
it runs once per pair in the reward's hot path). Entries name the row columns they need; `bt_rewards` checks those are present before grouping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grpo_bt_rm.registry import Registry
from grpo_bt_rm.rewards.transform import sigmoid

Sides = tuple[Sequence[int], Sequence[int]]  # a pair's completion indices: (preferred side, other side)


@dataclass(frozen=True)
class PairWeighting:
    """One registered pair-weight function and what it needs.

    Attributes:
        name: the registry name.
        fn: `fn(pair_id, sides, margin, settings, columns) -> float >= 0` (see the module doc).
        needs: the row columns `fn` reads (checked by `bt_rewards` before grouping).
        description: one line for listings and docs.
    """
    name: str
    fn: Callable[[Any, Sides, float | None, Any, Mapping[str, Sequence]], float]
    needs: tuple[str, ...]  # row columns the function reads
    description: str


WEIGHTS: Registry[PairWeighting] = Registry("pair weighting")


def _register(name: str, description: str, needs: tuple[str, ...] = ()):
    def deco(fn):
        WEIGHTS.add(name, PairWeighting(name, fn, needs, description))
        return fn

    return deco


@_register("hardmine", "1 if m < 0, BT_HARD_LAMBDA if 0 <= m < BT_HARD_TAU, BT_HARD_EPS if m >= BT_HARD_TAU")
def hardmine(pair_id, sides: Sides, margin: float | None, settings, columns) -> float:
    """The hard-mining step weight on the pair's margin m (upstream `bt_pointwise_baseline_hardmine`).

    Args:
        pair_id, sides: unused.
        margin: m, None when a side has no valid score (then the weight is 1).
        settings: BTRewardSettings (hard_lambda, hard_tau, hard_eps).
        columns: unused.

    Returns:
        1 for a wrongly ordered pair (m < 0) or an unknown margin, lambda for a close one, eps for an easy one.
    """
    m = margin
    if m is None or m < 0:
        return 1.0
    return settings.hard_lambda if m < settings.hard_tau else settings.hard_eps


@_register("density", "the rows' `density_weight` column (from the density pipeline)", needs=("density_weight",))
def density(pair_id, sides: Sides, margin: float | None, settings, columns) -> float:
    """The pair's `density_weight` (all its rows must agree).

    Args:
        pair_id, sides: the pair's id (for errors) and completion indices.
        margin, settings: unused.
        columns: must hold `density_weight`, one value per completion of the call.

    Returns:
        The weight, a finite number >= 0.

    Raises:
        ValueError: a value is not a finite number >= 0, or the pair's rows disagree.
    """
    values = columns["density_weight"]
    pid = pair_id
    w = None
    for idx in sides:
        for i in idx:
            wi = _density_value(values, i, pid)
            if w is None:
                w = wi
            elif wi != w:
                raise ValueError(f"pair {pid!r}: rows disagree on density_weight ({w} vs {values[i]!r} at "
                                 f"completion {i})")
    return 1.0 if w is None else w


@_register("hardpair", "sigma(-m / BT_HARDPAIR_TAU): pairs the judge gets wrong or barely right count more")
def hardpair(pair_id, sides: Sides, margin: float | None, settings, columns) -> float:
    """The smooth hard-pair weight sigma(-m/tau) of `bt_pointwise_graded_hardpair` (upstream `bt_graded_hardpair`,
    DWRL-style misalignment weighting). tau is BT_HARDPAIR_TAU (default 1.0; upstream read it from BT_HARD_TAU,
    which here is the hard-mining threshold, hence its own name).

    Args:
        pair_id, sides: unused.
        margin: m = (z̄_pref - z̄_non) / T; None when a side has no valid score (then 1, the weight's supremum, as
            hard-mining treats an unknown margin as hard).
        settings: BTRewardSettings (hardpair_tau).
        columns: unused.

    Returns:
        A weight in (0, 1]: 0.5 at m = 0, towards 1 for wrongly ordered pairs, towards 0 for easy ones.
    """
    if margin is None:
        return 1.0
    return sigmoid(-margin / settings.hardpair_tau)


@_register("margin_hardmine", "the hard-mining weight when BT_MARGIN_HARDMINE=1, else 1")
def margin_hardmine(pair_id, sides: Sides, margin: float | None, settings, columns) -> float:
    """w of `bt_pointwise_hard_margin`'s -w * softplus(...): the hard-mining weight (`hardmine`) when
    BT_MARGIN_HARDMINE=1 (the default), else 1.

    Args:
        pair_id, sides, margin, columns: as for `hardmine`.
        settings: BTRewardSettings (margin_hardmine, hard_lambda, hard_tau, hard_eps).

    Returns:
        The weight (1 when disabled).
    """
    return hardmine(pair_id, sides, margin, settings, columns) if settings.margin_hardmine else 1.0


def _density_value(values, i: int, pid) -> float:
    raw = values[i]
    try:
        w = float(raw)
    except (TypeError, ValueError):
        w = float("nan")
    if not math.isfinite(w) or w < 0:
        raise ValueError(f"completion {i} (pair {pid!r}): density_weight must be a finite number >= 0, got {raw!r}")
    return w


__all__ = ["WEIGHTS", "PairWeighting", "Sides", "density", "hardmine", "hardpair", "margin_hardmine"]
