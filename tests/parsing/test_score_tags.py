import pytest

from grpo_bt_rm.parsing import (
    PARSERS,
    SCALES,
    find_tags,
    format_tag,
    get_parser,
    get_scale,
    strip_reasoning,
    strip_tags,
)

# (parser, text, expected score, expected failure reason)
CASES = [
    # plain tags, both scales
    ("score100_first", "<s>85</s> because", 85.0, None),
    ("score100_last", "reasoning...\n<s>85</s>", 85.0, None),
    ("score5_first", "<s>4</s>", 4.0, None),
    ("score5_last", "x <s>3</s>", 3.0, None),
    # case-insensitive tag names and whitespace around the content
    ("score100_first", "<S>85</S>", 85.0, None),
    ("score100_first", "<s> 85 </s>", 85.0, None),
    ("score100_first", "<s>\n85\t</s>", 85.0, None),
    ("score100_first", "<S>85</s>", 85.0, None),
    # plain unsigned decimals, any number of decimals, leading zeros
    ("score100_first", "<s>85.5</s>", 85.5, None),
    ("score100_first", "<s>007</s>", 7.0, None),
    ("score100_first", "<s>12.125</s>", 12.125, None),
    # inclusive bounds
    ("score100_first", "<s>0</s>", 0.0, None),
    ("score100_first", "<s>100</s>", 100.0, None),
    ("score100_first", "<s>100.0</s>", 100.0, None),
    ("score100_first", "<s>100.01</s>", None, "out_of_range"),
    ("score5_first", "<s>1</s>", 1.0, None),
    ("score5_first", "<s>5</s>", 5.0, None),
    ("score5_first", "<s>5.5</s>", None, "out_of_range"),
    ("score5_first", "<s>0</s>", None, "out_of_range"),
    # 0.5 is valid on 0-100 but below the 1-5 range
    ("score5_first", "<s>0.5</s>", None, "out_of_range"),
    ("score100_first", "<s>0.5</s>", 0.5, None),
    # first/last look at exactly one tag, with no fallback
    ("score100_first", "<s>150</s> x <s>80</s>", None, "out_of_range"),
    ("score100_last", "<s>150</s> x <s>80</s>", 80.0, None),
    ("score100_first", "<s>80</s> x <s>150</s>", 80.0, None),
    ("score100_last", "<s>80</s> x <s>150</s>", None, "out_of_range"),
    ("score100_first", "<s>abc</s> <s>80</s>", None, "invalid"),
    # not plain unsigned decimals
    ("score100_first", "<s>85/100</s>", None, "invalid"),
    ("score100_first", "<s>-5</s>", None, "invalid"),
    ("score100_first", "<s>+5</s>", None, "invalid"),
    ("score100_first", "<s></s>", None, "invalid"),
    ("score100_first", "<s>   </s>", None, "invalid"),
    ("score100_first", "<s>eighty</s>", None, "invalid"),
    ("score100_first", "<s>8 5</s>", None, "invalid"),
    ("score100_first", "<s>85.</s>", None, "invalid"),
    ("score100_first", "<s>.5</s>", None, "invalid"),
    ("score100_first", "<s>1e2</s>", None, "invalid"),
    ("score100_first", "<s>85%</s>", None, "invalid"),
    # no tag at all, and unclosed tags are not tags
    ("score100_first", "I give it 85", None, "no_tag"),
    ("score100_first", "", None, "no_tag"),
    ("score100_first", "<s>85", None, "no_tag"),
    ("score100_last", "85</s>", None, "no_tag"),
    ("score100_first", "<s>85 <s>70</s>", 70.0, None),  # first opener never closes before the next opens
    ("score100_last", "<s>60</s> then <s>85", 60.0, None),  # trailing unclosed tag is ignored
    ("score100_first", "<score>85</score>", None, "no_tag"),
]

FIRST_GUESS = "<think>\nA first guess would be <s>30</s>, but it answers.\n</think>\n\n<s>80</s>"
CUT_OFF = "An ideal reply would earn <s>100</s>. This one is vague, so the final score"

# (parser, text, truncated, expected score, expected failure reason): reasoning blocks and cut-off answers
REAL_JUDGE_CASES = [
    # a reasoning block's example score never counts, with either position (the judge's score is 80)
    ("score100_first", FIRST_GUESS, False, 80.0, None),
    ("score100_last", FIRST_GUESS, False, 80.0, None),
    # delimiters are case-insensitive
    ("score100_first", "<THINK><s>30</s></Think><s>80</s>", False, 80.0, None),
    # several blocks, each removed; the answer between them counts
    ("score100_first", "<think><s>1</s></think><s>70</s><think><s>2</s></think>", False, 70.0, None),
    ("score100_last", "<think><s>1</s></think><s>70</s> then <think><s>2</s></think> done", False, 70.0, None),
    # a closing with no opening before it: the template pre-filled <think>, all before it is reasoning
    ("score100_first", "</think> <s>33</s>", False, 33.0, None),
    ("score100_last", "</think> <s>33</s>", False, 33.0, None),
    ("score100_first", "guess <s>10</s> hmm\n</think>\n<s>33</s>", False, 33.0, None),
    ("score100_first", "guess <s>10</s> hmm </think> no score after it", False, None, "no_tag"),
    # an opening that never closes gives no score, even with a tag inside it
    ("score100_first", "<think>... <s>30</s> and still going", False, None, "unclosed_reasoning"),
    ("score100_last", "<think>... <s>30</s> and still going", False, None, "unclosed_reasoning"),
    ("score100_first", "<s>50</s> <think> then never closes", False, None, "unclosed_reasoning"),
    # an opening inside a block does not nest: the first closing ends the block
    ("score100_first", "<think>a <think>b</think><s>60</s>", False, 60.0, None),
    # a block with no tag-like text in it changes nothing
    ("score100_first", "<think></think><s>5.5</s>", False, 5.5, None),
    # cut-off answers: _last never trusts a cut-off text (its last tag may be an example or intermediate one)
    ("score100_last", CUT_OFF, True, None, "truncated"),
    ("score100_last", "<s>80</s> because", True, None, "truncated"),
    # _first keeps a first tag that closed before the cut
    ("score100_first", "<s>80</s> because the reply is", True, 80.0, None),
    ("score100_first", CUT_OFF, True, 100.0, None),  # score-first prompts promise the first tag is the score
    # _first with no complete tag before the cut: truncated, not no_tag
    ("score100_first", "The reply is good, so <s>8", True, None, "truncated"),
    # cut off inside the reasoning block: truncated (raise the token limit)
    ("score100_first", "<think>... <s>30</s> and still going", True, None, "truncated"),
    ("score100_last", "<think>... <s>30</s> and still going", True, None, "truncated"),
    # the same texts, not cut off
    ("score100_last", CUT_OFF, False, 100.0, None),
    ("score100_first", "The reply is good, so <s>8", False, None, "no_tag"),
    # a response prefix is part of the text the parser sees: "<s>" + "72</s>"
    ("score100_first", "<s>" + "72</s>", False, 72.0, None),
    ("score100_first", "<think>\n\n</think>\n\n" + "<s>64</s>", False, 64.0, None),
    # the tag must be after the reasoning; an out-of-range final score is not replaced by the reasoning's
    ("score5_last", "<think><s>4</s></think><s>9</s>", False, None, "out_of_range"),
]


@pytest.mark.parametrize("name,text,score,reason", CASES)
def test_parser_cases(name, text, score, reason):
    parser = get_parser(name)
    res = parser.explain(text)
    assert res.score == score
    assert res.reason == reason
    assert parser.parse(text) == score


@pytest.mark.parametrize("name,text,truncated,score,reason", REAL_JUDGE_CASES)
def test_real_judge_cases(name, text, truncated, score, reason):
    parser = get_parser(name)
    assert parser.explain(text, truncated=truncated) == (score, reason)
    assert parser.parse(text, truncated) == score


def test_reasoning_tag_is_a_setting():
    # another delimiter: <reasoning> blocks are removed, <think> is plain text again
    p = get_parser("score100_last", reasoning_tag="reasoning")
    assert p.reasoning_tag == "reasoning"
    assert p.parse("<reasoning><s>30</s></reasoning><s>80</s>") == 80.0
    assert p.parse("<think><s>30</s></think>") == 30.0
    # "" turns reasoning removal off: the tag in the block counts
    off = get_parser("score100_first", reasoning_tag="")
    assert off.parse(FIRST_GUESS) == 30.0
    assert get_parser("score100_first").describe() == {"name": "score100_first", "low": 0.0, "high": 100.0,
                                                       "reasoning_tag": "think"}
    for bad in ("<think>", "a b", "1x"):
        with pytest.raises(ValueError, match="reasoning tag"):
            get_parser("score100_first", reasoning_tag=bad)


def test_strip_reasoning():
    assert strip_reasoning(FIRST_GUESS) == "\n\n<s>80</s>"
    assert strip_reasoning("no blocks") == "no blocks"
    assert strip_reasoning("<think>open") is None
    assert strip_reasoning("x</think>y</think>z") == "z"  # each stray closing drops all before it


def test_registry_names_and_unknown():
    assert {"score100_first", "score100_last", "score5_first", "score5_last"} <= set(PARSERS.names())
    with pytest.raises(KeyError, match="score100_first"):
        get_parser("nope")


def test_non_string_is_invalid():
    assert get_parser("score100_first").explain(None).reason == "invalid"


def test_find_tags():
    assert find_tags("<s>1</s><S> 2 </S><s>3") == ["1", " 2 "]


@pytest.mark.parametrize("name", PARSERS.names())
def test_contract_round_trip(name):
    p = get_parser(name)
    for value in (p.low, (p.low + p.high) / 2, p.high):
        assert p.parse(f"prefix {p.format(value)} suffix") == value
    assert p.parse("garbage with no tag") is None
    assert p.parse(p.format(p.high + 1)) is None


def test_prefix_warning_for_reason_first_and_last():
    from grpo_bt_rm.prompts.prefill import prefix_warning

    assert "reason-first" in prefix_warning("<s>", "reason_first", "first")
    assert "_last" in prefix_warning("<s>", "score_first", "last")
    assert prefix_warning("<s>", "score_first", "first") is None
    assert prefix_warning("<think>\n\n</think>\n\n", "reason_first", "last") is None
    assert prefix_warning(None, "reason_first", "last") is None


@pytest.mark.parametrize("scale", sorted(SCALES))
def test_scale_table_generates_the_parsers(scale):
    # one _first and one _last parser per scale, with the scale's inclusive range
    sc = get_scale(scale)
    for pos in ("first", "last"):
        p = get_parser(f"{scale}_{pos}")
        assert (p.low, p.high, p.position) == (sc.low, sc.high, pos)
    assert sc.low < sc.example < sc.high and f"from {sc.low} (" in sc.wording and f"to {sc.high} (" in sc.wording


def test_scale_table_is_the_parser_registry():
    assert sorted(PARSERS.names()) == sorted(f"{s}_{pos}" for s in SCALES for pos in ("first", "last"))
    with pytest.raises(KeyError, match="score100"):
        get_scale("score7")


def test_format_tag_is_what_parsers_read_and_strip_tags_removes():
    assert format_tag(72) == "<s>72</s>" and format_tag(2.5) == "<s>2.5</s>"  # %g: no trailing ".0"
    assert get_parser("score100_first").format(72) == format_tag(72)
    text = f"{format_tag(80)} Good. <S> 3 </S> <s>unclosed"
    assert strip_tags(text) == "  Good.   <s>unclosed"  # only well-formed tags go, as find_tags sees them
    assert find_tags(strip_tags(text)) == []
