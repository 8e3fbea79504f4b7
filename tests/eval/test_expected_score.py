"""--scoring expected: the readout's hand-computed values, the parser's number span it relies on, and the
completions field it reads."""

import json
import math

import pytest

from grpo_bt_rm.eval.completions import (
    check_scoring,
    completion_report,
    make_record,
    read_completions,
    to_pair_scores,
)
from grpo_bt_rm.eval.expected_score import digit_expectation, expected_score
from grpo_bt_rm.io import InputError
from grpo_bt_rm.parsing import get_parser

P100 = get_parser("score100_last")
NEG = -math.inf


def one_hot(d: int) -> list[float]:
    return [0.0 if k == d else NEG for k in range(10)]


def two(d1: int, p1: float, d2: int, p2: float) -> list[float]:
    return [math.log(p1) if k == d1 else math.log(p2) if k == d2 else NEG for k in range(10)]


@pytest.mark.parametrize("text,span", [
    ("<s>85</s>", (3, 5)),
    ("<s> 85 </s>", (4, 6)),
    ("<S>7</S>", (3, 4)),
    ("check; no.\n<s>100</s>", (14, 17)),
    ("<think><s>3</s></think> <s>80</s>", (27, 29)),  # the reasoning block's tag is not the score
    ("reasoning was pre-filled</think><s>42</s>", (35, 37)),
    ("<s>4.5</s>", (3, 6)),
])
def test_locate_gives_the_number_in_the_original_text(text, span):
    res, got = get_parser("score100_last" if "4.5" not in text else "score5_last").locate(text)
    assert res.score is not None and got == span
    assert float(text[got[0]:got[1]]) == res.score


@pytest.mark.parametrize("text,truncated,reason", [
    ("no tag", False, "no_tag"), ("<s>x</s>", False, "invalid"), ("<s>101</s>", False, "out_of_range"),
    ("<think>open", False, "unclosed_reasoning"), ("<s>80</s>", True, "truncated"),
])
def test_locate_has_no_span_without_a_score(text, truncated, reason):
    assert P100.locate(text, truncated) == ((None, reason), None)
    assert P100.explain(text, truncated) == (None, reason)  # explain is locate's first half


def test_digit_expectation_by_hand():
    assert digit_expectation(one_hot(7)) == 7.0
    assert digit_expectation(two(2, 0.25, 8, 0.75)) == pytest.approx(0.25 * 2 + 0.75 * 8)  # 6.5
    # log-probabilities need not sum to 1 over the digits: renormalised among them (mass on '<' is dropped)
    assert digit_expectation(two(2, 0.1, 8, 0.3)) == pytest.approx(0.25 * 2 + 0.75 * 8)
    assert digit_expectation([0.0] * 10) == pytest.approx(4.5)
    assert digit_expectation([NEG] * 10) is None
    assert digit_expectation(two(2, 0.25, 8, 0.75), allowed=(0, 1, 2)) == 2.0  # only the allowed digits count
    assert digit_expectation(two(2, 0.25, 8, 0.75), allowed=(9,)) is None
    with pytest.raises(ValueError, match="10 digit"):
        digit_expectation([0.0] * 9)


@pytest.mark.parametrize("text,digits,score,applied", [
    # "35": last digit 5 at char 5; p(3)=0.5, p(9)=0.5 -> 30 + 6 = 36
    ("<s>35</s>", [[4, one_hot(3)], [5, two(3, 0.5, 9, 0.5)]], 36.0, True),
    # only the last digit's distribution counts; the tens entry is ignored
    ("<s>35</s>", [[4, two(1, 0.5, 9, 0.5)], [5, one_hot(5)]], 35.0, True),
    # a lone digit on 0-100: its distribution is over first digits of longer numbers too -> text score, fallback
    ("ok <s>7</s>", [[7, two(0, 0.5, 4, 0.5)]], 7.0, False),
    ("<s>0</s>", [[4, two(0, 0.5, 2, 0.5)]], 0.0, False),
    # only digits that keep the number in range count: 100 with mass on 9 -> 109 is out, so 100
    ("<s>100</s>", [[4, one_hot(1)], [5, one_hot(0)], [6, two(0, 0.5, 9, 0.5)]], 100.0, True),
    ("<s>95</s>", [[4, one_hot(9)], [5, two(5, 0.5, 9, 0.5)]], 97.0, True),
    # a 1-5 scale: a lone digit is the whole score; 9 (out of range) and 0 (below 1) carry no weight
    ("<s>4</s>", [[4, two(4, 0.5, 9, 0.5)]], 4.0, True),
    ("<s>1</s>", [[4, two(0, 0.5, 1, 0.5)]], 1.0, True),
    ("<s>4</s>", [[4, two(3, 0.25, 5, 0.75)]], 4.5, True),
    # a decimal's last digit is worth 0.1
    ("<s>4.5</s>", [[4, one_hot(4)], [6, two(5, 0.5, 9, 0.5)]], 4.7, True),
    # no entry at the number's end (a merged token wrote it): the text score, not applied
    ("<s>35</s>", [[4, one_hot(3)]], 35.0, False),
    ("<s>35</s>", [], 35.0, False),
    ("<s>35</s>", [[5, [NEG] * 10]], 35.0, False),
    # digits in the reasoning do not count: the entry must sit at the parsed number's end
    ("<think>7</think><s>35</s>", [[8, one_hot(9)], [21, two(5, 0.5, 7, 0.5)]], 36.0, True),
])
def test_expected_score_by_hand(text, digits, score, applied):
    parser = get_parser("score5_last") if text in ("<s>4.5</s>", "<s>4</s>", "<s>1</s>") else P100
    res, did = expected_score(text, False, parser, digits)
    assert res.reason is None and res.score == pytest.approx(score) and did is applied


def test_expected_score_keeps_parse_failures():
    assert expected_score("<s>80</s>", True, P100, [[5, one_hot(0)]]) == ((None, "truncated"), False)
    assert expected_score("none", False, P100, []) == ((None, "no_tag"), False)


def record(**extra):
    return make_record("k", 0, ["<s>35</s>", "<s>35"], ["<s>35</s>", "<s>35</s>"], P100,
                       truncated_0=[False, True], **extra)


def test_records_carry_digits_and_pair_scores_use_them(tmp_path):
    rec = record(digit_logprobs_0=[[(4, one_hot(3)), (5, two(5, 0.5, 9, 0.5))], []],
                 digit_logprobs_1=[[(5, one_hot(5))], [(4, one_hot(3))]])
    assert rec["digit_logprobs_0"][0][1] == [5, [None, None, None, None, None, round(math.log(0.5), 5), None, None,
                                                 None, round(math.log(0.5), 5)]]  # -inf stored as null
    text = to_pair_scores(rec, P100)
    assert text.scores_0 == [35.0, None] and text.scores_1 == [35.0, 35.0]  # a tie under text scoring
    exp = to_pair_scores(rec, P100, "expected")
    assert exp.scores_0[0] == pytest.approx(37.0) and exp.scores_0[1] is None
    assert exp.scores_1 == [35.0, 35.0]
    rep = completion_report([rec], P100, "expected")
    # side 1's second sample has no entry at its last digit: it keeps its text score and is counted
    assert rep["expected_fallbacks"] == 1 and rep["fail_reasons"] == {"truncated": 1}
    assert "expected_fallbacks" not in completion_report([rec], P100)
    f = tmp_path / "c.jsonl"
    f.write_text(json.dumps(rec) + "\n")
    back = read_completions(f, "expected")[0]
    assert to_pair_scores(back, P100, "expected") == exp  # null -> -inf round trip


def test_expected_scoring_needs_the_field_and_names_file_line_and_field(tmp_path):
    rec = record()
    assert "digit_logprobs_0" not in rec  # not recorded: the field is left out
    f = tmp_path / "c.jsonl"
    f.write_text("\n" + json.dumps(rec) + "\n")
    assert read_completions(f)  # text scoring does not need it
    with pytest.raises(InputError, match=r"c\.jsonl:2.*digit_logprobs_0.*--engine transformers"):
        read_completions(f, "expected")
    with pytest.raises(InputError, match=r"pair 'k': digit_logprobs_0"):
        check_scoring([rec], "expected")
    check_scoring([rec], "text")
    with pytest.raises(InputError, match="--scoring 'mean'"):
        read_completions(f, "mean")


@pytest.mark.parametrize("bad", [
    [[]],  # one sample's list for two completions
    [[[5, [0.0] * 9]], []],  # nine log-probs
    [[[5, ["x"] * 10]], []],
    [[[0, [0.0] * 10]], []],  # a digit ends at character >= 1
    [[["5", [0.0] * 10]], []],
    "no",
])
def test_bad_digit_field_names_file_line_and_field(tmp_path, bad):
    rec = record()
    rec["digit_logprobs_0"] = bad
    f = tmp_path / "c.jsonl"
    f.write_text(json.dumps(rec) + "\n")
    with pytest.raises(InputError, match=r"c\.jsonl:1.*digit_logprobs_0': expected a list of 2 lists"):
        read_completions(f)


def test_eval_bt_warns_when_many_samples_keep_their_text_score(tmp_path, caplog):
    import logging

    from grpo_bt_rm.eval import eval_bt
    from grpo_bt_rm.io import write_jsonl

    comp = tmp_path / "c.completions.jsonl"
    recs = [make_record(f"k{i}", 0, ["<s>7</s>"], ["<s>35</s>"], P100, digit_logprobs_0=[[(4, one_hot(7))]],
                        digit_logprobs_1=[[(4, one_hot(3)), (5, two(5, 0.5, 9, 0.5))]]) for i in range(4)]
    write_jsonl(comp, recs)
    out = tmp_path / "r.json"
    caplog.set_level(logging.WARNING)
    assert eval_bt.main(["--from_completions", str(comp), "--scoring", "expected", "--out_json", str(out),
                         "--no_plot", "--parser", "score100_last"]) == 0
    m = json.loads(out.read_text())["metrics"]
    assert m["expected_fallbacks"] == 4  # the lone 7s; the 35s read as 37
    assert m["delta"]["mean"] == pytest.approx(7 - 37)
    assert "4 of 8 scored samples kept their text score" in caplog.text
    assert "scoring=expected (expected_fallbacks=4" in out.with_suffix(".log").read_text()
