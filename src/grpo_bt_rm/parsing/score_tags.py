"""`<s>NN</s>` score-tag parsers (`score100_first`, `score100_last`, `score5_first`, `score5_last`).

    get_parser("score100_last").explain("<think>maybe <s>30</s></think> <s>80</s>")      # ParseResult(80.0, None)
    get_parser("score100_last").explain("... so the score", truncated=True)             # ParseResult(None, 'truncated')

Rules, applied in this order (every line is pinned in tests/parsing/test_score_tags.py):
1. Reasoning never counts. Text inside `<think>`...`</think>` (tag names case-insensitive; the tag name is the
   parser's `reasoning_tag`, "" turns this off) is removed before the score-tag search; several blocks may occur.
   A closing tag with no open block before it means the chat template pre-filled the opening: everything before
   it is reasoning and is removed. An opening tag that never closes gives no score (`unclosed_reasoning`).
2. A cut-off completion (`truncated=True`: it hit the token limit instead of ending by itself) keeps its score
   only under a `_first` parser whose first tag closed before the cut. Under a `_last` parser it gets no score
   (`truncated`), since its last tag may be an intermediate one. A cut-off completion with no usable tag, or cut
   off inside its reasoning, is `truncated` too (the fix is a larger token limit, not a better judge).
3. Score tags are case-insensitive and may pad their content with whitespace; an unclosed tag is not a tag;
   `_first` reads only the first tag and `_last` only the last, with no fallback to another tag; the content
   must be a plain unsigned decimal number inside the scale's inclusive range.

The caller passes the whole assistant text: with a response prefix (assistant pre-fill, e.g. `<s>`), that is
prefix + completion (`ScoreParser.explain(prefix + completion)`), since generators return only the continuation.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

from grpo_bt_rm.parsing.scales import SCALES
from grpo_bt_rm.registry import Registry

# An opening tag, then content that never opens another tag, then a closing tag. So in "<s>a <s>80</s>" the
# first "<s>" is unclosed (another tag opens before it closes) and the only tag is "<s>80</s>".
_TAG_RE = re.compile(r"<s>((?:(?!<s>).)*?)</s>", re.IGNORECASE | re.DOTALL)
_NUMBER_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*")
_REASONING_TAG_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

DEFAULT_REASONING_TAG = "think"
FAIL_REASONS = ("no_tag", "invalid", "out_of_range", "unclosed_reasoning", "truncated")


class ParseResult(NamedTuple):
    """A parsed judge answer: the score, or None with the failure reason (one of `FAIL_REASONS`)."""
    score: float | None
    reason: str | None  # None when score is valid, else one of FAIL_REASONS


def find_tags(text: str) -> list[str]:
    """Contents of every well-formed score tag, in order."""
    return _TAG_RE.findall(text)


def format_tag(score: float) -> str:
    """The canonical score tag for `score`: how every producer (prompts, fakes, SFT targets) writes one.

    >>> format_tag(85), format_tag(4.5)
    ('<s>85</s>', '<s>4.5</s>')
    """
    return f"<s>{score:g}</s>"


def strip_tags(text: str, replacement: str = " ") -> str:
    """`text` with every well-formed score tag replaced by `replacement` (reports count the prose, not the scores).

    >>> strip_tags("<s>80</s> Good answer. <S> 3 </S>")
    '  Good answer.  '
    """
    return _TAG_RE.sub(replacement, text)


def check_reasoning_tag(tag: str) -> str:
    """`tag` if it is a usable reasoning tag name ("" = no reasoning blocks), else ValueError naming it."""
    if not isinstance(tag, str) or (tag and not _REASONING_TAG_RE.fullmatch(tag)):
        raise ValueError(f"reasoning tag must be a tag name such as 'think' (letters, digits, '_', '-'), or '' "
                         f"for none; got {tag!r}")
    return tag


@functools.lru_cache(maxsize=16)
def _delimiter_re(tag: str) -> re.Pattern:
    return re.compile(rf"<(/?){re.escape(tag)}>", re.IGNORECASE)


def strip_reasoning(text: str, tag: str = DEFAULT_REASONING_TAG) -> str | None:
    """`text` without its reasoning blocks, or None when a block opens and never closes (rule 1 above).

    >>> strip_reasoning("<think>a <s>30</s></think> <s>80</s>")
    ' <s>80</s>'
    >>> strip_reasoning("pre-filled opening, then</THINK> <s>33</s>")
    ' <s>33</s>'
    >>> strip_reasoning("<think>still thinking") is None
    True
    """
    spans = answer_spans(text, tag)
    return None if spans is None else "".join(text[a:b] for a, b in spans)


def answer_spans(text: str, tag: str = DEFAULT_REASONING_TAG) -> list[tuple[int, int]] | None:
    """The (start, end) character ranges of `text` outside its reasoning blocks, in order (what `strip_reasoning`
    keeps), or None when a block opens and never closes.

    >>> answer_spans("<think>a</think> <s>80</s>")
    [(0, 0), (16, 26)]
    """
    if not tag or "<" not in text:
        return [(0, len(text))]
    kept: list[tuple[int, int]] = []
    pos = 0
    inside = False
    for m in _delimiter_re(tag).finditer(text):
        closing = m.group(1) == "/"
        if inside:
            if closing:  # an opening inside a block does not nest: the first closing ends the block
                inside = False
                pos = m.end()
        elif closing:  # a closing with no open block: everything before it was reasoning
            kept = []
            pos = m.end()
        else:
            kept.append((pos, m.start()))
            inside = True
    if inside:
        return None
    kept.append((pos, len(text)))
    return kept


def _to_text_offset(spans: list[tuple[int, int]], offset: int) -> int:
    """The position in the original text of character `offset` of the joined `spans`."""
    for a, b in spans:
        if offset < b - a:
            return a + offset
        offset -= b - a
    raise ValueError("offset past the end of the answer")


@dataclass(frozen=True)
class ScoreParser:
    """A `<s>NN</s>` score-tag parser over one scale.

    Attributes:
        name: the registry name, e.g. "score100_last".
        low: the lowest valid score (inclusive).
        high: the highest valid score (inclusive).
        position: "first" reads only the first tag, "last" only the last.
        reasoning_tag: blocks `<tag>...</tag>` removed before looking for score tags; "" for none.
    """
    name: str
    low: float
    high: float
    position: str  # "first" | "last"
    reasoning_tag: str = DEFAULT_REASONING_TAG  # blocks <tag>...</tag> are removed first; "" = none

    def explain(self, text: str, truncated: bool = False) -> ParseResult:
        """Score and failure reason of one whole assistant text (see the module doc for the rules).

        `truncated`: the generator stopped at its token limit (transformers: no stop token within max_new_tokens;
        vLLM / ms-swift: finish_reason == "length"; providers: max_tokens / MAX_TOKENS / length).
        """
        return self.locate(text, truncated)[0]

    def locate(self, text: str, truncated: bool = False) -> tuple[ParseResult, tuple[int, int] | None]:
        """`explain`'s result and, when there is a score, the (start, end) character range of its number in
        `text` (the digits only: "85" in "<s> 85 </s>"); the range is None when there is no score.

        >>> get_parser("score100_last").locate("<think><s>3</s></think> <s>80</s>")
        (ParseResult(score=80.0, reason=None), (27, 29))
        """
        if not isinstance(text, str):
            return ParseResult(None, "invalid"), None
        spans = answer_spans(text, self.reasoning_tag)
        if spans is None:
            return ParseResult(None, "truncated" if truncated else "unclosed_reasoning"), None
        if truncated and self.position == "last":
            return ParseResult(None, "truncated"), None
        answer = "".join(text[a:b] for a, b in spans)
        tags = list(_TAG_RE.finditer(answer))
        if not tags:
            return ParseResult(None, "truncated" if truncated else "no_tag"), None
        tag = tags[0] if self.position == "first" else tags[-1]
        num = _NUMBER_RE.fullmatch(tag.group(1))
        if num is None:
            return ParseResult(None, "invalid"), None
        value = float(num.group(1))
        if not (self.low <= value <= self.high):
            return ParseResult(None, "out_of_range"), None
        start = tag.start(1) + num.start(1)
        # each end is mapped on its own: the range ends right after the last digit even in the pathological case
        # of a reasoning block inside the number, which the range then covers
        return ParseResult(value, None), (_to_text_offset(spans, start),
                                          _to_text_offset(spans, start + len(num.group(1)) - 1) + 1)

    def parse(self, text: str, truncated: bool = False) -> float | None:
        """The score of one assistant text, or None where it fails (see `explain` for why).

        >>> get_parser("score100_last").parse("<think>maybe <s>30</s></think> <s>80</s>")
        80.0
        """
        return self.explain(text, truncated).score

    __call__ = parse

    def format(self, score: float) -> str:
        """The canonical tag for a score, e.g. `<s>85</s>` (see `format_tag`)."""
        return format_tag(score)

    def with_reasoning_tag(self, tag: str | None) -> ScoreParser:
        """This parser with another reasoning tag (None keeps the current one; "" = no reasoning blocks)."""
        if tag is None or tag == self.reasoning_tag:
            return self
        return dataclasses.replace(self, reasoning_tag=check_reasoning_tag(tag))

    def describe(self) -> dict:
        """What results record about the parser: name, scale and reasoning delimiters."""
        return {"name": self.name, "low": self.low, "high": self.high, "reasoning_tag": self.reasoning_tag}


PARSERS: Registry[ScoreParser] = Registry("parser")


def register_parser(parser: ScoreParser) -> ScoreParser:
    """Add `parser` to `PARSERS` under its name and return it.

    Raises:
        ValueError: a parser with that name is already registered.
    """
    return PARSERS.add(parser.name, parser)


for _scale in SCALES.values():  # one `_first` and one `_last` parser per scale
    for _pos in ("first", "last"):
        register_parser(ScoreParser(f"{_scale.name}_{_pos}", float(_scale.low), float(_scale.high), _pos))


def get_parser(name: str, reasoning_tag: str | None = None) -> ScoreParser:
    """The registered parser `name` (KeyError listing the valid names), optionally with another reasoning tag."""
    return PARSERS.get(name).with_reasoning_tag(reasoning_tag)
