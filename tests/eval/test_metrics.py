"""Metrics on fixed completions against values computed by hand; ties, failures, ECE, bootstrap CI."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_bt_rm.eval.completions import read_completions, to_pair_scores
from grpo_bt_rm.eval.metrics import REQUIRED_METRICS, PairScores, bootstrap_ci, ece, pair_metrics, softplus
from grpo_bt_rm.io import InputError
from grpo_bt_rm.parsing import get_parser
from tests.eval.fixtures import records, write_fixture

P100 = get_parser("score100_first")


def fixture_metrics(**kw):
    return pair_metrics([to_pair_scores(r, P100) for r in records()], bt_temp=20.0, **kw)


def test_accuracies_ties_and_failures_by_hand():
    m = fixture_metrics()
    # outcomes over all 5 pairs: correct 1, tie 0.5, wrong 0, unparsed 0, correct 1 -> 2.5 / 5
    assert m["acc_all"] == pytest.approx(0.5)
    assert m["acc_parsed"] == pytest.approx(2.5 / 4)  # the unparsed pair is left out
    assert m["acc_strict"] == pytest.approx(2 / 4)
    assert m["tie_rate"] == pytest.approx(1 / 4)
    assert m["nontie_acc"] == pytest.approx(2 / 3)
    assert m["n_pairs"] == 5 and m["n_parsed_pairs"] == 4
    assert m["parse_fail_rate"] == pytest.approx(2 / 13)  # 2+4+2+2+3 = 13 completions, 2 without a tag
    assert m["pair_fail_rate"] == pytest.approx(1 / 5)
    assert set(REQUIRED_METRICS) <= set(m)


def test_logloss_by_hand():
    m = fixture_metrics()
    # d / T = 2, 0, -1, 3.5 -> softplus(-2)=0.126928, log 2=0.693147, softplus(1)=1.313262, softplus(-3.5)=0.029750
    assert m["logloss_all"] == pytest.approx((0.126928 + 0.693147 + 1.313262 + 0.029750) / 4, abs=1e-6)
    assert m["logloss_nontie"] == pytest.approx((0.126928 + 1.313262 + 0.029750) / 3, abs=1e-6)
    assert softplus(0.0) == pytest.approx(math.log(2))


def test_ece_by_hand():
    m = fixture_metrics()
    # p = sigmoid((z0 - z1)/20): 0.880797 (y=1, bin 8), 0.5 (y=0, bin 5), 0.268941 (y=1, bin 2), 0.029312 (y=0, bin 0),
    # each also seen from the other side: 0.119203 (y=0, bin 1), 0.5 (y=1, bin 5), 0.731059 (y=0, bin 7),
    # 0.970688 (y=1, bin 9). Bin 5 holds the tie from both sides: mean p 0.5, fraction positive 0.5, error 0.
    expected = 2 * (abs(1 - 0.880797) + abs(1 - 0.268941) + 0.029312) / 8
    assert m["ece"] == pytest.approx(expected, abs=1e-6)
    filled = [b for b in m["calibration_bins"] if b["n"]]
    assert [round(b["lo"], 1) for b in filled] == [0.0, 0.1, 0.2, 0.5, 0.7, 0.8, 0.9]


def test_ece_does_not_depend_on_which_side_is_side_0():
    # the case hypothesis found: (p 0.5, y 0) and (p 0.475, y 1) straddle the half-open bin edge at 0.5
    pairs = [PairScores("a", 0, [0], [0]), PairScores("b", 1, [0], [1])]
    swapped = [PairScores(p.pair_key, 1 - p.preferred_side, p.scores_1, p.scores_0) for p in pairs]
    assert pair_metrics(pairs, bt_temp=10.0, n_boot=50)["ece"] == pytest.approx(
        pair_metrics(swapped, bt_temp=10.0, n_boot=50)["ece"])


def test_ece_edges():
    assert ece([1.0, 0.0], [1, 0])[0] == pytest.approx(0.0)  # p == 1 lands in the last bin, perfectly calibrated
    assert ece([0.95] * 4, [1, 1, 0, 0])[0] == pytest.approx(0.45)
    assert ece([], []) == (None, [])


def test_bootstrap_interval_fixed_seed():
    # two pairs with outcomes 1 and 0: resampled means are 0, .5, 1 with probability 1/4, 1/2, 1/4
    assert bootstrap_ci([1.0, 0.0], n_boot=2000, seed=0) == [0.0, 1.0]
    assert bootstrap_ci([1.0] * 7, seed=3) == [1.0, 1.0]
    outcomes = [1.0] * 60 + [0.0] * 40
    a, b = bootstrap_ci(outcomes, seed=0), bootstrap_ci(outcomes, seed=0)
    assert a == b  # same seed, same interval
    # normal approximation: 0.6 +- 1.96 * sqrt(.24 / 100) = [0.504, 0.696]
    assert a[0] == pytest.approx(0.504, abs=0.025) and a[1] == pytest.approx(0.696, abs=0.025)
    assert bootstrap_ci(outcomes, seed=1) != a
    m = fixture_metrics(seed=0)
    assert m["acc_ci95"][0] <= m["acc_all"] <= m["acc_ci95"][1]
    assert fixture_metrics(seed=0)["acc_ci95"] == m["acc_ci95"]


def test_margins_and_uncertainty():
    m = fixture_metrics(report_margins=True, report_uncertainty=True)
    assert m["margins"]["delta"]["all"]["p50"] == pytest.approx(20.0)  # median of (40, 0, -20, 70)
    assert m["margins"]["delta"]["wrong"]["n"] == 1 and m["margins"]["delta"]["correct"]["n"] == 2
    u = m["uncertainty"]
    assert (u["unc_low"], u["unc_high"]) == (20.0, 80.0)
    # the one wrong pair has chosen 30, rejected 50: both inside [20, 80]
    assert u["counts"] == {"both_mid": 1, "one_extreme": 0, "both_extreme": 0}
    assert sum(u["hist_chosen"]["counts"]) == 4
    narrow = fixture_metrics(report_uncertainty=True, unc_low=40, unc_high=60)["uncertainty"]
    assert narrow["counts"] == {"both_mid": 0, "one_extreme": 1, "both_extreme": 0}


def test_mean_of_valid_samples_and_all_failed():
    m = pair_metrics([PairScores("a", 0, [None, None], [None])])
    assert m["acc_all"] == 0.0 and m["acc_parsed"] is None and m["pair_fail_rate"] == 1.0
    assert m["logloss_all"] is None and m["ece"] is None
    with pytest.raises(ValueError, match="bt_temp"):
        pair_metrics([], bt_temp=0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.lists(st.one_of(st.none(), st.integers(0, 100)), min_size=1,
                                                            max_size=3),
                          st.lists(st.one_of(st.none(), st.integers(0, 100)), min_size=1, max_size=3)),
                min_size=1, max_size=12))
def test_properties(cases):
    pairs = [PairScores(str(i), p, a, b) for i, (p, a, b) in enumerate(cases)]
    m = pair_metrics(pairs, bt_temp=10.0, n_boot=50)
    assert 0.0 <= m["acc_all"] <= 1.0
    if m["acc_parsed"] is not None:
        # unparsed pairs only ever lower acc_all
        assert m["acc_all"] <= m["acc_parsed"] + 1e-12
        assert m["acc_strict"] <= m["acc_parsed"] + 1e-12
    # swapping sides (and the label) changes nothing
    swapped = [PairScores(p.pair_key, 1 - p.preferred_side, p.scores_1, p.scores_0) for p in pairs]
    m2 = pair_metrics(swapped, bt_temp=10.0, n_boot=50)
    for k in ("acc_all", "acc_parsed", "tie_rate", "logloss_all", "ece"):
        assert (m[k] is None and m2[k] is None) or m[k] == pytest.approx(m2[k])


def test_read_completions_validates(tmp_path):
    path = write_fixture(tmp_path / "c.jsonl")
    assert len(read_completions(path)) == 5
    bad = tmp_path / "bad.jsonl"
    rows = records()
    rows[2]["preferred_side"] = 2
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:3: field 'preferred_side'"):
        read_completions(bad)
    rows = records()
    rows[1]["pair_key"] = rows[0]["pair_key"]
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(InputError, match="already on line 1"):
        read_completions(bad)
