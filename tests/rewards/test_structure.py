"""The rewards package's seams: the hot loop equals `transform`, variants are validated choices, and every pair
weighting honours its contract."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_bt_rm.rewards import REWARD_VARIANTS, WEIGHTS, BTRewardSettings, Variant
from grpo_bt_rm.rewards.transform import bt_reward, clip_x
from tests.rewards.strategies import PREF, call, completion, reward_settings


@settings(max_examples=200, deadline=None)
@given(st.lists(completion, min_size=1, max_size=24), reward_settings)
def test_inlined_hot_loop_equals_transform(rows, s):
    """bt_rewards inlines R(x) = s*logsigma(clip(x)) + o; every valid reward equals transform.bt_reward on the
    margin recomputed here from the scores (the baseline rule)."""
    pref = PREF
    out = call("bt_pointwise_baseline", rows, s)
    for i, (p, sd, z) in enumerate(rows):
        other = [o[2] for o in rows if o[0] == p and o[1] != sd and o[2] is not None]
        if z is None or not other:
            assert out.x[i] is None
            continue
        mean = sum(other) / len(other)
        raw = (z - mean) / s.delta_temp if sd == pref[p] else (mean - z) / s.delta_temp
        assert out.x[i] == pytest.approx(clip_x(raw, s.delta_clip, s.delta_neg_clip), rel=1e-12, abs=1e-12)
        want = bt_reward(raw, s.reward_scale, s.reward_offset, s.delta_clip, s.delta_neg_clip)
        assert out.rewards[i] == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert s.valid_reward(raw) == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"pairing": "pairwise"}, "pairing 'pairwise'; valid: baseline, pair_shared"),
    ({"weighting": "hard"}, "unknown pair weighting 'hard'; valid names: .*hardmine"),
    ({"reward": "softmax"}, "reward 'softmax'; valid: bt"),
])
def test_variant_choices_are_validated(kwargs, match):
    fields = {"name": "x", "pairing": "baseline", "weighting": None, "description": "", **kwargs}
    with pytest.raises((ValueError, KeyError), match=match):
        Variant(**fields)


def test_unknown_weighting_lists_valid_names():
    with pytest.raises(KeyError, match="valid names: density, hardmine"):
        WEIGHTS.get("nope")


@pytest.mark.parametrize("name", WEIGHTS.names())
@pytest.mark.parametrize("margin", [None, -3.0, 0.0, 0.1, 0.3, 50.0])
def test_every_weighting_is_finite_and_nonnegative(name, margin):
    """Contract over every registry entry: finite, >= 0, and reads only the columns it declares."""
    entry = WEIGHTS.get(name)
    columns = {col: [0.7] * 4 for col in entry.needs}
    w = entry.fn("p", ([0, 1], [2, 3]), margin, BTRewardSettings(), columns)
    assert math.isfinite(w) and w >= 0


@pytest.mark.parametrize("name", REWARD_VARIANTS.names())
def test_every_variant_names_valid_choices(name):
    v = REWARD_VARIANTS.get(name)
    assert v.name == name and (v.weighting is None or v.weighting in WEIGHTS)
    assert set(v.needs) <= {"density_weight"}
