"""Score parsers: turn a judge completion into a float score, or None with a reason.

    from grpo_bt_rm.parsing import get_parser; get_parser("score100_first").parse("<s>85</s> good")  # 85.0
"""

from grpo_bt_rm.parsing.scales import SCALES, Scale, get_scale
from grpo_bt_rm.parsing.score_tags import (
    DEFAULT_REASONING_TAG,
    FAIL_REASONS,
    PARSERS,
    ParseResult,
    ScoreParser,
    check_reasoning_tag,
    find_tags,
    format_tag,
    get_parser,
    register_parser,
    strip_reasoning,
    strip_tags,
)

__all__ = ["DEFAULT_REASONING_TAG", "FAIL_REASONS", "PARSERS", "SCALES", "ParseResult", "Scale", "ScoreParser",
           "check_reasoning_tag", "find_tags", "format_tag", "get_parser", "get_scale", "register_parser",
           "strip_reasoning", "strip_tags"]
