"""Property tests: order invariance, monotonicity in z, the fail-reward bound, never NaN/inf."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_bt_rm.rewards import BTRewardSettings
from tests.rewards.strategies import call, completion, reward_settings

ORDER_FREE = ("bt_pointwise_baseline", "bt_pointwise_baseline_hardmine", "bt_pointwise_density")


@settings(max_examples=150, deadline=None)
@given(st.lists(completion, min_size=1, max_size=24), reward_settings, st.randoms(use_true_random=False))
def test_rewards_do_not_depend_on_order(rows, s, rnd):
    perm = list(range(len(rows)))
    rnd.shuffle(perm)
    shuffled = [rows[i] for i in perm]
    for variant in ORDER_FREE:
        a, b = call(variant, rows, s), call(variant, shuffled, s)
        for new_pos, old_pos in enumerate(perm):
            assert math.isclose(b.rewards[new_pos], a.rewards[old_pos], rel_tol=1e-9, abs_tol=1e-12)
            assert b.weights[new_pos] == a.weights[old_pos]
    # pair_shared aligns by order *within* a side, so only interleavings that keep that order are free
    queues = {}
    for i, r in enumerate(rows):
        queues.setdefault(r[:2], []).append(i)
    labels = [r[:2] for r in rows]
    rnd.shuffle(labels)  # a random interleaving of the (pair, side) groups...
    order = [queues[g].pop(0) for g in labels]  # ...that keeps each group's internal order
    a = call("bt_pointwise_pair_shared", rows, s)
    b = call("bt_pointwise_pair_shared", [rows[i] for i in order], s)
    for new_pos, old_pos in enumerate(order):
        assert math.isclose(b.rewards[new_pos], a.rewards[old_pos], rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.lists(completion, min_size=2, max_size=16), reward_settings, st.data())
def test_monotone_in_own_score(rows, s, data):
    """Raising a preferred completion's score never lowers its reward; raising a non-preferred one never raises it."""
    valid = [i for i, r in enumerate(rows) if r[2] is not None and r[2] < 100]
    if not valid:
        return
    i = data.draw(st.sampled_from(valid))
    up = data.draw(st.integers(rows[i][2] + 1, 100))
    raised = list(rows)
    raised[i] = (rows[i][0], rows[i][1], up)
    pref = (0, 1, 1, 0)
    preferred = rows[i][1] == pref[rows[i][0]]
    for variant in ORDER_FREE + ("bt_pointwise_pair_shared",):
        before, after = call(variant, rows, s).rewards[i], call(variant, raised, s).rewards[i]
        if preferred:
            assert after >= before - 1e-12, variant
        else:
            assert after <= before + 1e-12, variant


@settings(max_examples=200, deadline=None)
@given(st.lists(completion, min_size=1, max_size=24), reward_settings)
def test_fail_reward_strictly_below_every_valid_reward_and_finite(rows, s):
    fail = s.fail_reward("score100_first")
    assert fail < s.min_valid_reward("score100_first")
    for variant in ORDER_FREE + ("bt_pointwise_pair_shared",):
        out = call(variant, rows, s)
        assert all(math.isfinite(r) for r in out.rewards) and all(math.isfinite(w) for w in out.weights)
        for r, z in zip(out.rewards, out.scores):
            if z is None:
                assert r == fail
            else:
                assert r > fail


def test_worst_valid_answer_beats_failure_default_settings():
    s = BTRewardSettings(parser="score100_first")  # T=1, no clips: x can reach -100
    out = call("bt_pointwise_baseline", [(0, 0, 0), (0, 1, 100), (0, 0, None)], s)
    # preferred 0 vs 100 and non-preferred 100 vs mean 0 both have x = -100: the worst valid case
    assert out.rewards[0] == out.rewards[1] == -100.0
    assert out.rewards[2] == -100.0 - math.log(2)
