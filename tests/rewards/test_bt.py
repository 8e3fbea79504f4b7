"""Hand-computed reward tables for every variant, failure handling and settings validation."""

import math

import pytest

from grpo_bt_rm.rewards import REWARD_VARIANTS, BTRewardSettings, SettingsError, bt_rewards, log_sigmoid, summarize

S100 = BTRewardSettings(parser="score100_first", delta_temp=20, delta_clip=10)
# logsigma values used below, by hand: logsigma(x) = -log(1 + e^-x)
LS = {2.0: -0.12692801104297263, 1.5: -0.20141327798275246, 1.0: -0.31326168751822286, 0.5: -0.4740769841801067,
      0.0: -0.6931471805599453, -2.0: -2.1269280110429727, -5.0: -5.006715348489118, 10.0: -4.539889921686465e-05}
FAIL_100 = LS[-5.0] - math.log(2)  # min valid reward (x = -100/20 = -5, NC off) minus s*ln2


def tag(z):
    return "no score here" if z is None else f"<s>{z}</s>"


def run(variant, rows, settings=S100, **cols):
    """rows: (pair_id, side, preferred_side, score_or_None)."""
    return bt_rewards(variant, [tag(r[3]) for r in rows], pair_id=[r[0] for r in rows], side=[r[1] for r in rows],
                      preferred_side=[r[2] for r in rows], settings=settings, **cols)


def test_log_sigmoid_table_and_extremes():
    for x, want in LS.items():
        assert log_sigmoid(x) == pytest.approx(want, rel=1e-12)
    assert log_sigmoid(-1e6) == -1e6  # no overflow, no -inf
    assert log_sigmoid(1e6) == 0.0


def test_baseline_table():
    # pair "a": preferred side 0 scores 80, 60 (mean 70); side 1 scores 40 and one failure (mean 40)
    rows = [("a", 0, 0, 80), ("a", 0, 0, 60), ("a", 1, 0, 40), ("a", 1, 0, None)]
    out = run("bt_pointwise_baseline", rows)
    assert out.rewards == pytest.approx([
        LS[2.0],   # 80 vs non-preferred mean 40: x = 40/20 = 2
        LS[1.0],   # 60 vs 40: x = 1
        LS[1.5],   # non-preferred 40 vs preferred mean 70: x = (70 - 40)/20 = 1.5
        FAIL_100,  # unparseable
    ])
    assert out.weights == [1.0] * 4 and out.scores == [80, 60, 40, None] and out.x == [2.0, 1.0, 1.5, None]
    d = summarize(out.stats)
    assert d["parse_fail_rate"] == 0.25 and d["pair_acc"] == 1.0 and d["x_mean"] == pytest.approx(1.5)


def test_baseline_clip_scale_offset():
    s = BTRewardSettings(parser="score100_first", delta_temp=1, delta_clip=10, delta_neg_clip=2,
                         reward_scale=2, reward_offset=1)
    rows = [("p", 0, 0, 90), ("p", 1, 0, 60), ("q", 0, 1, 90), ("q", 1, 1, 60)]
    out = run("bt_pointwise_baseline", rows, settings=s)
    assert out.x == [10.0, 10.0, -2.0, -2.0]  # +30 capped at C=10; -30 floored at -NC=-2
    assert out.rewards == pytest.approx([2 * LS[10.0] + 1] * 2 + [2 * LS[-2.0] + 1] * 2)
    assert summarize(out.stats)["frac_x_saturated"] == 1.0


def test_tie_when_other_side_has_no_valid_score():
    rows = [("a", 0, 1, 50), ("a", 1, 1, None), ("a", 1, 1, None)]
    out = run("bt_pointwise_baseline", rows)
    assert out.rewards == pytest.approx([LS[0.0], FAIL_100, FAIL_100])  # R(0) tie for the lone valid score
    assert summarize(out.stats)["tie_fallback_rate"] == pytest.approx(1 / 3)


def test_pair_shared_table():
    # preferred side 1 = [40, 70]; non-preferred side 0 = [80, 60]; aligned by call order within each side
    rows = [("a", 0, 1, 80), ("a", 1, 1, 40), ("a", 0, 1, 60), ("a", 1, 1, 70)]
    out = run("bt_pointwise_pair_shared", rows)
    assert out.rewards == pytest.approx([LS[-2.0], LS[-2.0],  # k=0: (40 - 80)/20 = -2, shared by both
                                         LS[0.5], LS[0.5]])   # k=1: (70 - 60)/20 = 0.5


def test_pair_shared_partner_failed_falls_back_to_baseline():
    rows = [("a", 0, 0, 80), ("a", 1, 0, None), ("a", 0, 0, 60), ("a", 1, 0, 40)]
    out = run("bt_pointwise_pair_shared", rows)
    # k=0: partner failed -> 80 vs non-preferred valid mean 40 (x=2); k=1: (60-40)/20 = 1 shared
    assert out.rewards == pytest.approx([LS[2.0], FAIL_100, LS[1.0], LS[1.0]])


def test_hardmine_weights():
    rows = [("easy", 0, 0, 70), ("easy", 1, 0, 40),    # m = 30/20 = 1.5 >= tau -> eps
            ("close", 0, 0, 50), ("close", 1, 0, 48),  # m = 0.1 in [0, tau) -> lambda
            ("wrong", 0, 0, 30), ("wrong", 1, 0, 60),  # m = -1.5 < 0 -> 1
            ("blind", 0, 0, None), ("blind", 1, 0, 60)]  # margin unknown -> 1
    out = run("bt_pointwise_baseline_hardmine", rows)
    assert out.weights == [0.2, 0.2, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0]
    base = run("bt_pointwise_baseline", rows)
    assert out.rewards == base.rewards  # weights act on advantages, not rewards
    assert summarize(out.stats)["mean_weight"] == pytest.approx((0.2 + 0.5 + 1 + 1) / 4)


def test_density_weights_and_errors():
    rows = [("a", 0, 0, 70), ("a", 1, 0, 40), ("b", 0, 1, 10), ("b", 1, 1, 20)]
    out = run("bt_pointwise_density", rows, density_weight=[2.0, 2.0, 0.5, 0.5])
    assert out.weights == [2.0, 2.0, 0.5, 0.5]
    with pytest.raises(ValueError, match="density_weight"):
        run("bt_pointwise_density", rows)
    with pytest.raises(ValueError, match="disagree on density_weight"):
        run("bt_pointwise_density", rows, density_weight=[2.0, 1.0, 0.5, 0.5])
    with pytest.raises(ValueError, match=">= 0"):
        run("bt_pointwise_density", rows, density_weight=[-1.0, -1.0, 0.5, 0.5])


def test_parser_from_rows_and_missing():
    s = BTRewardSettings(delta_temp=1)
    rows = [("a", 0, 0, 5), ("a", 1, 0, 3)]
    out = run("bt_pointwise_baseline", rows, settings=s, parser_name=["score5_first"] * 2)
    assert out.x == [2.0, 2.0]
    with pytest.raises(ValueError, match="BT_SCORE_PARSER is not set"):
        run("bt_pointwise_baseline", rows, settings=s)
    with pytest.raises(ValueError, match="unknown parser"):
        run("bt_pointwise_baseline", rows, settings=s, parser_name=["nope"] * 2)


def test_bad_rows_rejected():
    with pytest.raises(ValueError, match="'side' must be 0 or 1"):
        run("bt_pointwise_baseline", [("a", 2, 0, 5)])
    with pytest.raises(ValueError, match="disagree on preferred_side"):
        run("bt_pointwise_baseline", [("a", 0, 0, 5), ("a", 1, 1, 5)])
    with pytest.raises(ValueError, match="'pair_id': expected 2"):
        bt_rewards("bt_pointwise_baseline", ["a", "b"], pair_id=["x"], side=[0, 1], preferred_side=[0, 0],
                   settings=S100)
    with pytest.raises(KeyError, match="valid names"):
        run("bt_nope", [("a", 0, 0, 5)])


def test_every_variant_registered_and_finite():
    rows = [("a", 0, 0, 0), ("a", 1, 0, 100), ("a", 0, 0, None)]
    for name in REWARD_VARIANTS:
        out = run(name, rows, density_weight=[1.0] * 3)
        assert all(math.isfinite(r) for r in out.rewards), name


# --- settings ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env, match", [
    ({"BT_DELTA_TEMP": "0"}, "BT_DELTA_TEMP"),
    ({"BT_DELTA_TEMP": "-3"}, "BT_DELTA_TEMP"),
    ({"BT_DELTA_TEMP": "abc"}, "BT_DELTA_TEMP='abc': expected a number"),
    ({"BT_DELTA_CLIP": "-1"}, "BT_DELTA_CLIP"),
    ({"BT_REWARD_SCALE": "0"}, "BT_REWARD_SCALE"),
    ({"BT_REWARD_OFFSET": "inf"}, "BT_REWARD_OFFSET"),
    ({"BT_SCORE_PARSER": "score7_first"}, "BT_SCORE_PARSER.*valid names"),
    ({"BT_HARD_EPS": "-0.1"}, "BT_HARD_EPS"),
    # -5.0067 is the lowest valid reward for score100 with T=20: -5 is not strictly below it
    ({"BT_SCORE_PARSER": "score100_first", "BT_DELTA_TEMP": "20", "BT_PARSE_FAIL_REWARD": "-5"},
     "BT_PARSE_FAIL_REWARD.*strictly below -5.00672"),
    # the earlier system's -1 is above a wrong answer's reward under these settings
    ({"BT_SCORE_PARSER": "score5_first", "BT_PARSE_FAIL_REWARD": "-1"}, "BT_PARSE_FAIL_REWARD"),
])
def test_bad_env_rejected_with_variable_name(env, match):
    with pytest.raises(SettingsError, match=match):
        BTRewardSettings.from_env(env)


def test_env_defaults_and_explicit_fail_reward():
    s = BTRewardSettings.from_env({})
    assert (s.parser, s.delta_temp, s.delta_clip, s.reward_scale, s.hard_lambda) == (None, 1.0, 0.0, 1.0, 0.5)
    s = BTRewardSettings.from_env({"BT_SCORE_PARSER": "score5_last", "BT_PARSE_FAIL_REWARD": "-10"})
    assert s.fail_reward("score5_last") == -10.0
    # NC bounds the lowest valid reward: with NC=2 the minimum is logsigma(-2), so the default sits ln2 below it
    s = BTRewardSettings(parser="score100_first", delta_temp=20, delta_neg_clip=2)
    assert s.fail_reward("score100_first") == pytest.approx(LS[-2.0] - math.log(2))
    d = s.to_dict()
    assert d["derived"]["fail_reward"]["score100_first"] < d["derived"]["min_valid_reward"]["score100_first"]


def test_truncated_completions_and_response_prefix():
    # pair "a", preferred side 0. S100 parses score100_first; the same texts under score100_last below.
    texts = ["80</s> and then", "<s>80</s> because", "<think><s>99</s></think><s>40</s>", "<s>60</s> then <s>"]
    cols = dict(pair_id=["a"] * 4, side=[0, 0, 1, 1], preferred_side=[0] * 4)
    # the rollout's pre-fill "<s>": "80</s> and then" is the judge's "<s>80</s> and then"; text that already starts
    # with the prefix (ms-swift 4.6 puts it in front) is not prefixed twice; the <think> block never counts
    out = bt_rewards("bt_pointwise_baseline", texts, settings=S100, response_prefix="<s>",
                     is_truncated=[True, False, False, True], **cols)
    # first tags closed before the cut keep their score under _first, even when cut off
    assert out.scores == [80.0, 80.0, 40.0, 60.0]
    assert out.stats["n_truncated"] == 2 and summarize(out.stats)["truncated_rate"] == 0.5
    last = BTRewardSettings(parser="score100_last", delta_temp=20, delta_clip=10)
    out = bt_rewards("bt_pointwise_baseline", texts, settings=last, response_prefix="<s>",
                     is_truncated=[True, False, False, True], **cols)
    # under _last a cut-off completion has no score: its last tag may be an intermediate one
    assert out.scores == [None, 80.0, 40.0, None]
    assert out.rewards[0] == last.fail_reward("score100_last") and out.stats["n_fail"] == 2
    # x for the two scored ones: 80 vs 40 -> 2; 40 vs preferred mean 80 -> 2
    assert out.rewards[1] == pytest.approx(LS[2.0]) and out.rewards[2] == pytest.approx(LS[2.0])
    # no prefix: "80</s> and then" has no tag
    assert bt_rewards("bt_pointwise_baseline", texts, settings=S100, **cols).scores[0] is None
    with pytest.raises(ValueError, match="is_truncated"):
        bt_rewards("bt_pointwise_baseline", texts, settings=S100, is_truncated=[False], **cols)


def test_reasoning_tag_setting():
    env = {"BT_SCORE_PARSER": "score100_last", "BT_REASONING_TAG": "reasoning"}
    s = BTRewardSettings.from_env(env)
    out = bt_rewards("bt_pointwise_baseline", ["<reasoning><s>1</s></reasoning><s>70</s>", "<s>20</s>"],
                     pair_id=["a", "a"], side=[0, 1], preferred_side=[0, 0], settings=s)
    assert out.scores == [70.0, 20.0]
    with pytest.raises(SettingsError, match="BT_REASONING_TAG"):
        BTRewardSettings.from_env({"BT_REASONING_TAG": "<think>"})
