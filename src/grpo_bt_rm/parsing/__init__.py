"""Score parsers: turn a judge completion into a float score, or None with a reason.

    from grpo_bt_rm.parsing import get_parser; get_parser("score100_first").parse("<s>85</s> good")  # 85.0
"""

from grpo_bt_rm.parsing.score_tags import (
    FAIL_REASONS,
    PARSERS,
    ParseResult,
    ScoreParser,
    find_tags,
    get_parser,
    register_parser,
)

__all__ = ["FAIL_REASONS", "PARSERS", "ParseResult", "ScoreParser", "find_tags", "get_parser", "register_parser"]
