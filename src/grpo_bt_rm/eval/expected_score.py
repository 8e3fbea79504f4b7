"""Expected-score readout: a judge's score with its last digit replaced by that digit's expectation under the
judge's own next-token distribution. eval_bt's `--scoring expected`; `--scoring text` (default) reads the score
from the text alone.

    res, applied = expected_score("ok.\n<s>35</s>", False, parser, [[8, LOGPROBS_OF_3], [9, LOGPROBS_OF_5]])
    # res.score == 30 + sum_d d * p(d), p = softmax of the 10 log-probs stored at character 9 (just after the '5')

Why: greedy decoding writes the mode of the judge's score distribution, so two sides that the judge rates
differently often get the same coarse score (a tie), and where the distribution is nearly flat its mode hides
which way it leans. The probability-weighted sum over the score's digit tokens (G-Eval: Liu et al., 2023, "G-Eval:
NLG Evaluation using GPT-4 with Better Human Alignment", section 2.3) reads the whole distribution. On a 0-100
scale the score is several digit tokens; only the last one is replaced, conditioned on the greedy digits before
it, so the readout stays within the last digit's place (0-9 for an integer, 0-0.9 for one decimal) and never
moves a score to another decade.

Input per sample (completions field `digit_logprobs_k`, written by the transformers engine): one entry per
generated single-digit token, `[char_end, [lp_0, ..., lp_9]]`, with char_end the position in the whole assistant
text (response prefix included) just after that digit, and lp_d the log-probability the judge gave digit d at
that step (after the model's own logits processors such as a generation_config repetition penalty, before
sampling warpers; -inf or missing mass allowed). The expectation is taken over the digits that keep the number
inside the parser's range (for `<s>4</s>` on a 1-5 scale: 1..5), renormalised among them: it is conditional on
writing a valid digit there.

A sample keeps its text score, counted as a fallback (`applied` False), when its parsed number does not end with a
recorded single-digit token (a tokenizer that merges digits, "▁8"-style tokens, no entry), when no valid digit
has probability, or when the number is a single digit on a scale whose top has more digits (on 0-100 the
distribution at `<s>7` is over first digits, mostly of two-digit numbers, not over one-digit scores). eval_bt
reports the count, so a result never mixes the two readouts silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from grpo_bt_rm.parsing import ParseResult, ScoreParser

SCORINGS = ("text", "expected")
DIGITS = "0123456789"


def digit_expectation(logprobs: Sequence[float], allowed: Sequence[int] = range(10)) -> float | None:
    """E[d] under softmax(logprobs) restricted to the digits in `allowed`; None when all of those are -inf or NaN.

    >>> digit_expectation([0.0] + [-math.inf] * 9), round(digit_expectation([0.0] * 10), 6)
    (0.0, 4.5)
    >>> digit_expectation([0.0] * 10, allowed=(1, 2, 3))
    2.0
    """
    if len(logprobs) != 10:
        raise ValueError(f"expected 10 digit log-probabilities, got {len(logprobs)}")
    finite = {d: logprobs[d] for d in allowed
              if logprobs[d] is not None and math.isfinite(logprobs[d])}
    if not finite:
        return None
    top = max(finite.values())
    weights = {d: math.exp(lp - top) for d, lp in finite.items()}
    return sum(d * w for d, w in weights.items()) / sum(weights.values())


def expected_score(text: str, truncated: bool, parser: ScoreParser, digits: Sequence | None
                   ) -> tuple[ParseResult, bool]:
    """The expected-score readout of one sample (module doc).

    Args:
        text: the whole assistant text (response prefix included).
        truncated: whether generation hit the token limit (as for `ScoreParser.explain`).
        parser: the score parser; only digits that keep the number in its range count.
        digits: the sample's `[char_end, [10 log-probs]]` entries, or None.

    Returns:
        (the parse result with the expected score in place of the text score, whether the readout applied).
        A sample without a text score keeps its failure; a fallback (module doc) keeps its text score.
    """
    res, span = parser.locate(text, truncated)
    if res.score is None or not digits:
        return res, False
    end = span[1]
    entry = next((e for e in digits if e[0] == end), None)
    last = text[end - 1]
    number = text[span[0]:end]
    if entry is None or last not in DIGITS:
        return res, False
    if len(number) == 1 and len(str(int(parser.high))) > 1:
        return res, False  # the distribution at a lone first digit is over first digits of longer numbers too
    place = 10.0 ** -(len(number) - number.index(".") - 1) if "." in number else 1.0
    base = res.score - int(last) * place
    allowed = [d for d in range(10) if parser.low <= base + d * place <= parser.high]
    expect = digit_expectation(entry[1], allowed)
    if expect is None:
        return res, False
    return ParseResult(base + expect * place, None), True
