import pytest

from grpo_bt_rm.parsing import PARSERS, find_tags, get_parser

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


@pytest.mark.parametrize("name,text,score,reason", CASES)
def test_parser_cases(name, text, score, reason):
    parser = get_parser(name)
    res = parser.explain(text)
    assert res.score == score
    assert res.reason == reason
    assert parser.parse(text) == score


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
