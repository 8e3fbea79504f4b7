"""Issue 15 §2: the binary, graded, graded_hardpair and hard_margin rewards. Hand-computed tables (a comment per
case), settings validation naming the variable, and the properties: no NaN, parse failure strictly below every valid
reward, order invariance, monotone in the completion's own score."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_bt_rm.rewards import BTRewardSettings, SettingsError, bt_rewards, summarize
from grpo_bt_rm.rewards.transform import (
    hard_margin_reward,
    log_sigmoid,
    sigmoid,
    softplus,
)
from tests.rewards.strategies import call, completion

S = BTRewardSettings(parser="score100_first", delta_temp=20)  # T = 20; other settings at their defaults
NEW = ("bt_pointwise_binary", "bt_pointwise_graded", "bt_pointwise_graded_hardpair", "bt_pointwise_hard_margin")
SP = {0.5: 0.9740769841801067, 0.0: math.log(2), -0.5: 0.47407698418010663, 5.5: 5.504078443270571}  # softplus


def run(variant, rows, s=S):
    """rows: (pair_id, side, preferred_side, score or None)."""
    return bt_rewards(variant, ["no score" if r[3] is None else f"<s>{r[3]}</s>" for r in rows],
                      pair_id=[r[0] for r in rows], side=[r[1] for r in rows], preferred_side=[r[2] for r in rows],
                      settings=s)


# pair "a": preferred side 0 scores 80, 60, 40 (mean 60); side 1 scores 60 and 40 (mean 50), and one failure
ROWS = [("a", 0, 0, 80), ("a", 0, 0, 60), ("a", 0, 0, 40), ("a", 1, 0, 60), ("a", 1, 0, 40), ("a", 1, 0, None)]


def test_transform_identities():
    for x, sp in SP.items():
        assert softplus(x) == pytest.approx(sp, rel=1e-12)
        assert hard_margin_reward(x + 0.5, gamma=0.5, temp=1.0) == pytest.approx(log_sigmoid(x), rel=1e-12)
    assert sigmoid(0.0) == 0.5 and sigmoid(-800.0) == 0.0 and sigmoid(800.0) == 1.0  # no overflow
    assert softplus(800.0) == 800.0 and softplus(-800.0) == 0.0


def test_binary_table():
    out = run("bt_pointwise_binary", ROWS)
    assert out.rewards == [
        1.0,   # 80 vs non-preferred mean 50: right side
        1.0,   # 60 vs 50: right side
        -1.0,  # 40 vs 50: wrong side
        -1.0,  # non-preferred 60 vs preferred mean 60: a tie counts as wrong
        1.0,   # non-preferred 40 vs 60: right side
        -2.0,  # unparseable: -r_neg - (r_pos + r_neg)/2 = -1 - 1
    ]
    assert out.x[:5] == pytest.approx([1.5, 0.5, -0.5, 0.0, 1.0])  # t = delta/T, unclipped
    s = BTRewardSettings(parser="score100_first", delta_temp=20, reward_pos=2.0, reward_neg=0.5)
    # right 2, wrong/tie -0.5; failure -0.5 - (2 + 0.5)/2 = -1.75
    assert run("bt_pointwise_binary", ROWS, s).rewards == [2.0, 2.0, -0.5, -0.5, 2.0, -1.75]


def test_graded_table():
    out = run("bt_pointwise_graded", ROWS)
    assert out.rewards == [
        1.4,   # t = (80 - 50)/20 = 1.5 >= thresh 0.1: high
        1.4,   # t = 0.5: high
        0.0,   # t = -0.5: wrong
        0.0,   # t = 0 (tie): wrong
        1.4,   # t = (60 - 40)/20 = 1: high
        -0.7,  # unparseable: wrong - (high - wrong)/2
    ]
    s = BTRewardSettings(parser="score100_first", delta_temp=20, grade_thresh=0.75)
    # t = 1.5 high; 0.5 < 0.75 low; -0.5 wrong; 0 wrong; 1.0 high; failure unchanged
    assert run("bt_pointwise_graded", ROWS, s).rewards == [1.4, 1.2, 0.0, 0.0, 1.4, -0.7]
    edge = run("bt_pointwise_graded", [("e", 0, 0, 52), ("e", 1, 0, 50)])  # t = 2/20 = 0.1 = thresh: high
    assert edge.rewards == [1.4, 1.4]


def test_graded_hardpair_table():
    rows = ROWS + [("b", 0, 1, 30), ("b", 1, 1, 70)]  # pair "b": preferred side 1 (70) beats side 0 (30)
    out = run("bt_pointwise_graded_hardpair", rows)
    assert out.rewards == run("bt_pointwise_graded", rows).rewards  # the factor acts on advantages, not rewards
    w_a = sigmoid(-0.5)  # m = (60 - 50)/20 = 0.5, tau = 1: 0.37754
    w_b = sigmoid(-2.0)  # m = (70 - 30)/20 = 2: an easy pair, 0.11920
    assert out.weights == pytest.approx([w_a] * 6 + [w_b] * 2) and w_a == pytest.approx(0.3775406687981454)
    s = BTRewardSettings(parser="score100_first", delta_temp=20, hardpair_tau=0.25)
    assert run("bt_pointwise_graded_hardpair", rows, s).weights[0] == pytest.approx(sigmoid(-2.0))  # m/tau = 2
    blind = run("bt_pointwise_graded_hardpair", [("c", 0, 0, None), ("c", 1, 0, 50)])
    assert blind.weights == [1.0, 1.0]  # margin unknown: weight 1, as hard-mining


def test_hard_margin_table():
    out = run("bt_pointwise_hard_margin", ROWS)
    assert out.rewards == pytest.approx([
        -softplus(-1.0),                               # t = 1.5: -softplus((0.5 - 1.5)/1) = -0.31326
        -SP[0.0],                                      # t = 0.5 = gamma: -ln 2
        -softplus(1.0),                                # t = -0.5: -softplus(1) = -1.31326
        -SP[0.5],                                      # tie t = 0: -softplus(0.5)
        -softplus(-0.5),                               # t = 1: -softplus(-0.5) = -0.47408
        -SP[5.5] - math.log(2),                        # failure: min valid -softplus(0.5 + 100/20) - ln 2
    ], rel=1e-12)
    assert out.weights == [0.2] * 6  # w: hard-mining, m = 0.5 >= BT_HARD_TAU 0.25 -> eps
    off = BTRewardSettings(parser="score100_first", delta_temp=20, margin_hardmine=False)
    assert run("bt_pointwise_hard_margin", ROWS, off).weights == [1.0] * 6
    s = BTRewardSettings(parser="score100_first", delta_temp=20, margin_gamma=1.0, margin_temp=0.5)
    assert run("bt_pointwise_hard_margin", ROWS, s).rewards[0] == pytest.approx(-softplus((1.0 - 1.5) / 0.5))


def test_tie_fallback_and_stats():
    # the other side has no valid score: scored as t = 0 (binary/graded: wrong; hard_margin: -softplus(gamma))
    rows = [("a", 0, 0, 70), ("a", 1, 0, None)]
    assert run("bt_pointwise_binary", rows).rewards[0] == -1.0
    assert run("bt_pointwise_graded", rows).rewards[0] == 0.0
    assert run("bt_pointwise_hard_margin", rows).rewards[0] == pytest.approx(-SP[0.5])
    d = summarize(run("bt_pointwise_graded", ROWS).stats)
    assert d["parse_fail_rate"] == pytest.approx(1 / 6) and d["x_mean"] == pytest.approx(0.5)


@pytest.mark.parametrize("env, match", [
    ({"BT_REWARD_NEG": "-1"}, "BT_REWARD_NEG=-1.0: expected > -BT_REWARD_POS.*magnitude"),  # upstream's -1 = +1
    ({"BT_REWARD_POS": "nan"}, "BT_REWARD_POS"),
    ({"BT_REWARD_WRONG": "1.2"}, "BT_REWARD_WRONG=1.2: expected < BT_REWARD_LOW"),
    ({"BT_REWARD_HIGH": "1.0"}, "BT_REWARD_HIGH=1.0: expected >= BT_REWARD_LOW"),
    ({"BT_GRADE_THRESH": "0"}, "BT_GRADE_THRESH"),
    ({"BT_HARDPAIR_TAU": "0"}, "BT_HARDPAIR_TAU"),
    ({"BT_MARGIN_TEMP": "-1"}, "BT_MARGIN_TEMP"),
    ({"BT_MARGIN_GAMMA": "x"}, "BT_MARGIN_GAMMA='x': expected a number"),
    ({"BT_MARGIN_HARDMINE": "yes"}, "BT_MARGIN_HARDMINE='yes': expected 1"),
    # an explicit failure reward must sit below the run's own reward kinds (REWARD_NAME): graded's minimum is 0
    ({"REWARD_NAME": "bt_pointwise_graded", "BT_SCORE_PARSER": "score100_first", "BT_PARSE_FAIL_REWARD": "0"},
     "BT_PARSE_FAIL_REWARD=0.0: must be strictly below 0, .*graded"),
    # binary's minimum is -r_neg = -1
    ({"REWARD_NAME": "bt_pointwise_binary", "BT_SCORE_PARSER": "score5_first", "BT_PARSE_FAIL_REWARD": "-1"},
     "BT_PARSE_FAIL_REWARD.*below -1, .*binary"),
])
def test_bad_settings_name_the_variable(env, match):
    with pytest.raises(SettingsError, match=match):
        BTRewardSettings.from_env(env)


def test_fail_reward_is_checked_per_reward_kind():
    env = {"BT_SCORE_PARSER": "score100_first", "BT_DELTA_TEMP": "20", "BT_PARSE_FAIL_REWARD": "-0.5"}
    # -0.5 is below graded's worst (0) but above bt's worst (logsigma(-5) = -5.0067): fine for a graded run only
    assert BTRewardSettings.from_env({**env, "REWARD_NAME": "bt_pointwise_graded"}).fail_reward(
        "score100_first", "graded") == -0.5
    with pytest.raises(SettingsError, match="under the bt reward"):
        BTRewardSettings.from_env({**env, "REWARD_NAME": "bt_pointwise_graded bt_pointwise_baseline"})
    with pytest.raises(SettingsError, match="under the bt reward"):
        BTRewardSettings.from_env(env)  # REWARD_NAME unset: the launcher's default, bt_pointwise_baseline


# --- properties -------------------------------------------------------------------------------------------------
@st.composite
def variant_settings(draw):
    neg = draw(st.floats(-4.9, 5))
    return BTRewardSettings(
        parser="score100_first", delta_temp=draw(st.floats(0.01, 100)),
        reward_pos=draw(st.floats(-neg + 0.01, 10)), reward_neg=neg,
        reward_wrong=draw(st.floats(-5, 0)), reward_low=draw(st.floats(0.01, 2)), reward_high=draw(st.floats(2, 5)),
        grade_thresh=draw(st.floats(0.01, 5)), hardpair_tau=draw(st.floats(0.01, 10)),
        margin_gamma=draw(st.floats(-5, 5)), margin_temp=draw(st.floats(0.01, 10)),
        margin_hardmine=draw(st.booleans()))


@settings(max_examples=150, deadline=None)
@given(st.lists(completion, min_size=1, max_size=24), variant_settings(), st.randoms(use_true_random=False))
def test_finite_fail_below_valid_and_order_free(rows, s, rnd):
    perm = list(range(len(rows)))
    rnd.shuffle(perm)
    for variant in NEW:
        kind = {"bt_pointwise_binary": "binary", "bt_pointwise_hard_margin": "hard_margin"}.get(variant, "graded")
        fail = s.fail_reward("score100_first", kind)
        assert fail < s.min_valid_reward("score100_first", kind)
        out = call(variant, rows, s)
        assert all(math.isfinite(r) for r in out.rewards) and all(math.isfinite(w) and w >= 0 for w in out.weights)
        for r, z in zip(out.rewards, out.scores):
            assert r == fail if z is None else r > fail, (variant, r, z, fail)
        shuffled = call(variant, [rows[i] for i in perm], s)
        for new_pos, old_pos in enumerate(perm):
            assert shuffled.rewards[new_pos] == pytest.approx(out.rewards[old_pos], rel=1e-9, abs=1e-12)
            assert shuffled.weights[new_pos] == pytest.approx(out.weights[old_pos], rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(completion, min_size=2, max_size=16), variant_settings(), st.data())
def test_monotone_in_own_score(rows, s, data):
    """Raising a preferred completion's score never lowers its reward; a non-preferred one's never raises it."""
    valid = [i for i, r in enumerate(rows) if r[2] is not None and r[2] < 100]
    if not valid:
        return
    i = data.draw(st.sampled_from(valid))
    raised = list(rows)
    raised[i] = (rows[i][0], rows[i][1], data.draw(st.integers(rows[i][2] + 1, 100)))
    preferred = rows[i][1] == (0, 1, 1, 0)[rows[i][0]]
    for variant in NEW:
        before, after = call(variant, rows, s).rewards[i], call(variant, raised, s).rewards[i]
        assert (after >= before - 1e-12) if preferred else (after <= before + 1e-12), variant
