"""`<s>NN</s>` score-tag parsers (`score100_first`, `score100_last`, `score5_first`, `score5_last`).

Rules: tags are case-insensitive and may pad their content with whitespace; an unclosed tag is not a tag;
`_first` reads only the first tag and `_last` only the last, with no fallback to another tag; the content must
be a plain unsigned decimal number inside the scale's inclusive range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from grpo_bt_rm.registry import Registry

# An opening tag, then content that never opens another tag, then a closing tag. So in "<s>a <s>80</s>" the
# first "<s>" is unclosed (another tag opens before it closes) and the only tag is "<s>80</s>".
_TAG_RE = re.compile(r"<s>((?:(?!<s>).)*?)</s>", re.IGNORECASE | re.DOTALL)
_NUMBER_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*")

FAIL_REASONS = ("no_tag", "invalid", "out_of_range")


class ParseResult(NamedTuple):
    score: float | None
    reason: str | None  # None when score is valid, else one of FAIL_REASONS


def find_tags(text: str) -> list[str]:
    """Contents of every well-formed score tag, in order."""
    return _TAG_RE.findall(text)


@dataclass(frozen=True)
class ScoreParser:
    name: str
    low: float
    high: float
    position: str  # "first" | "last"

    def explain(self, text: str) -> ParseResult:
        if not isinstance(text, str):
            return ParseResult(None, "invalid")
        if self.position == "first":
            m = _TAG_RE.search(text)
            content = m.group(1) if m else None
        else:
            tags = _TAG_RE.findall(text)
            content = tags[-1] if tags else None
        if content is None:
            return ParseResult(None, "no_tag")
        num = _NUMBER_RE.fullmatch(content)
        if num is None:
            return ParseResult(None, "invalid")
        value = float(num.group(1))
        if not (self.low <= value <= self.high):
            return ParseResult(None, "out_of_range")
        return ParseResult(value, None)

    def parse(self, text: str) -> float | None:
        return self.explain(text).score

    __call__ = parse

    def format(self, score: float) -> str:
        """The canonical tag for a score, e.g. `<s>85</s>`."""
        return f"<s>{score:g}</s>"


PARSERS: Registry[ScoreParser] = Registry("parser")


def register_parser(parser: ScoreParser) -> ScoreParser:
    return PARSERS.add(parser.name, parser)


for _scale, _low, _high in (("score100", 0.0, 100.0), ("score5", 1.0, 5.0)):
    for _pos in ("first", "last"):
        register_parser(ScoreParser(f"{_scale}_{_pos}", _low, _high, _pos))


def get_parser(name: str) -> ScoreParser:
    return PARSERS.get(name)
