"""Expected-score readout: a judge's score with its last digit replaced by that digit's expectation under the
judge's own next-token distribution. eval_bt's `--scoring expected`; `--scoring text` (default) reads the score
from the text alone.

    res, applied = expected_score("ok.\\n<s>35</s>", False, parser, [[9, LOGPROBS_OF_3], [10, LOGPROBS_OF_5]])
    # res.score == 30 + sum_d d * p(d), p = softmax of the 10 log-probs stored at character 10 (the '5')

Why: greedy decoding writes the mode of the judge's score distribution, so two sides that the judge rates
differently often get the same coarse score (a tie) or the order of a near-tie flips with the mode. The
probability-weighted sum over the score's digit tokens (G-Eval: Liu et al., 2023, "G-Eval: NLG Evaluation using
GPT-4 with Better Human Alignment", section 2.3) keeps what the judge knows below its mode. On a 0-100 scale the
score is several digit tokens; only the last one is replaced, so the readout stays within one unit of the last
digit's place (0-9 for an integer, 0-0.9 for one decimal) of the decoded score and never moves the score to
another decade: the greedy digits before it are kept as the condition the distribution was read under.

Input per sample (completions field `digit_logprobs_k`, written by the transformers engine): one entry per
generated single-digit token, `[char_end, [lp_0, ..., lp_9]]`, with char_end the position in the whole assistant
text (response prefix included) just after that digit, and lp_d the log-probability the judge gave digit d at
that step (before sampling warpers; -inf or missing mass allowed). The ten are renormalised among themselves:
the expectation is conditional on writing a digit there.

A sample whose parsed number does not end with a recorded single-digit token (a tokenizer that merges digits,
"▁8"-style tokens, no entry) keeps its text score and is counted as a fallback (`ExpectedReadout.applied` False);
eval_bt reports the count, so a result never mixes the two readouts silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from grpo_bt_rm.parsing import ParseResult, ScoreParser

SCORINGS = ("text", "expected")
DIGITS = "0123456789"


def digit_expectation(logprobs: Sequence[float]) -> float | None:
    """E[d] for d in 0..9 under softmax(logprobs) restricted to the ten digits; None when all are -inf or NaN.

    >>> digit_expectation([0.0] + [-math.inf] * 9), round(digit_expectation([0.0] * 10), 6)
    (0.0, 4.5)
    """
    if len(logprobs) != 10:
        raise ValueError(f"expected 10 digit log-probabilities, got {len(logprobs)}")
    finite = [lp for lp in logprobs if lp is not None and math.isfinite(lp)]
    if not finite:
        return None
    top = max(finite)
    weights = [math.exp(lp - top) if lp is not None and math.isfinite(lp) else 0.0 for lp in logprobs]
    total = sum(weights)
    return sum(d * w for d, w in enumerate(weights)) / total


def expected_score(text: str, truncated: bool, parser: ScoreParser, digits: Sequence | None
                   ) -> tuple[ParseResult, bool]:
    """The expected-score readout of one sample (module doc).

    Args:
        text: the whole assistant text (response prefix included).
        truncated: whether generation hit the token limit (as for `ScoreParser.explain`).
        parser: the score parser; its range clips the result.
        digits: the sample's `[char_end, [10 log-probs]]` entries, or None.

    Returns:
        (the parse result with the expected score in place of the text score, whether the readout applied).
        A sample without a text score keeps its failure; one without a usable entry keeps its text score
        (applied False).
    """
    res, span = parser.locate(text, truncated)
    if res.score is None or not digits:
        return res, False
    end = span[1]
    entry = next((e for e in digits if e[0] == end), None)
    last = text[end - 1]
    if entry is None or last not in DIGITS:
        return res, False
    expect = digit_expectation(entry[1])
    if expect is None:
        return res, False
    number = text[span[0]:end]
    place = 10.0 ** -(len(number) - number.index(".") - 1) if "." in number else 1.0
    score = res.score + (expect - int(last)) * place
    return ParseResult(min(max(score, parser.low), parser.high), None), True
