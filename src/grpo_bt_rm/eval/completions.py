"""The per-pair completions file written by `eval_bt --save_completions` (and `variance --save_jsonl`).

One JSON object per line, one line per pair:

    {"pair_key": "anthropic_hh:test:17", "preferred_side": 0|1,
     "completions_0": ["<s>80</s> ...", ...], "completions_1": [...],     # raw judge outputs, sample order kept
     "truncated_0": [false, true, ...], "truncated_1": [...],            # cut off at the token limit
     "scores_0": [80.0, null, ...], "scores_1": [...],                    # parsed at write time (informative)
     "reasons_0": [null, "truncated", ...], "reasons_1": [...],           # parse-failure reasons (informative)
     "digit_logprobs_0": [[[9, [-3.1, ...10 floats]], [10, [...]]], ...],  # optional, per sample (see below)
     "digit_logprobs_1": [...],
     "pair_index": 3, "source_index": 17}

Completions are the whole assistant text: with a response prefix (assistant pre-fill) the prefix is written in
front of the generated continuation, so a file re-parses the same without knowing the prefix. `truncated_*` may be
absent in files written before it existed (read as not cut off).

`digit_logprobs_k` (written by the transformers engine; absent from vLLM's and older files): for each sample, one
`[char_end, [lp_0, ..., lp_9]]` entry per generated single-digit token, with char_end the offset in the whole
assistant text just after that digit and lp_d the judge's log-probability of digit d at that step (null for -inf).
It is what `--scoring expected` reads (`grpo_bt_rm.eval.expected_score`); text scoring ignores it.

It is the input of `eval_bt --from_completions` and of the reports (`grpo_bt_rm.reports`). When read back, scores are always
re-parsed from the raw completions with the parser asked for, never taken from `scores_*`.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence

from grpo_bt_rm.eval.expected_score import SCORINGS, expected_score
from grpo_bt_rm.eval.metrics import PairScores
from grpo_bt_rm.io import InputError, iter_jsonl, where
from grpo_bt_rm.parsing import ScoreParser


def make_record(pair_key: str, preferred_side: int, completions_0: Sequence[str], completions_1: Sequence[str],
                parser: ScoreParser, truncated_0: Sequence[bool] | None = None,
                truncated_1: Sequence[bool] | None = None, digit_logprobs_0: Sequence | None = None,
                digit_logprobs_1: Sequence | None = None, **extra) -> dict:
    """One completions-file record for a pair: the raw samples of both sides, parsed with `parser`.

    Args:
        pair_key: the pair's stable id (`dataset:split:index`).
        preferred_side: 0 or 1.
        completions_0: the judge's samples for side 0 (list of length n_samples).
        completions_1: the judge's samples for side 1 (list of length n_samples).
        parser: parses each sample into `scores_k` / `reasons_k`.
        truncated_0: per-sample flags, True where generation hit max_new_tokens; default all False.
        truncated_1: as `truncated_0`, for side 1.
        digit_logprobs_0: per sample, its `[char_end, [10 digit log-probs]]` entries (module doc); None = not
            recorded (the field is left out).
        digit_logprobs_1: as `digit_logprobs_0`, for side 1.
        **extra: further fields copied into the record as given (they override the computed ones).

    Returns:
        A JSON-ready dict with `completions_k`, `truncated_k`, `scores_k` (None where unparsed) and `reasons_k`.
    """
    rec = {
        "pair_key": pair_key,
        "preferred_side": int(preferred_side),
        "completions_0": list(completions_0),
        "completions_1": list(completions_1),
        "truncated_0": [bool(t) for t in truncated_0] if truncated_0 is not None else [False] * len(completions_0),
        "truncated_1": [bool(t) for t in truncated_1] if truncated_1 is not None else [False] * len(completions_1),
    }
    for k, lps in ((0, digit_logprobs_0), (1, digit_logprobs_1)):
        if lps is not None:
            rec[f"digit_logprobs_{k}"] = [[[int(end), [None if not math.isfinite(v) else round(float(v), 5)
                                                       for v in lp]] for end, lp in sample] for sample in lps]
    for k in (0, 1):
        res = side_results(rec, k, parser)
        rec[f"scores_{k}"] = [r.score for r in res]
        rec[f"reasons_{k}"] = [r.reason for r in res]
    rec.update(extra)
    return rec


def _digit_entries(record: dict, side: int) -> list:
    """The side's `digit_logprobs` as [char_end, log-probs] entries per sample, null read back as -inf."""
    return [[[end, [-math.inf if v is None else v for v in lp]] for end, lp in sample]
            for sample in record[f"digit_logprobs_{side}"]]


def side_readouts(record: dict, side: int, parser: ScoreParser, scoring: str = "text") -> list[tuple]:
    """(ParseResult, expected readout applied) of each sample of one side, re-parsed from the raw text with its
    truncation flag; `scoring` "expected" reads the score with `expected_score` (KeyError without the
    record's `digit_logprobs_<side>`; `check_scoring` tells first), "text" from the text alone (applied False)."""
    comps = record[f"completions_{side}"]
    flags = record.get(f"truncated_{side}") or [False] * len(comps)
    if scoring == "text":
        return [(parser.explain(c, t), False) for c, t in zip(comps, flags)]
    if scoring != "expected":
        raise ValueError(f"scoring {scoring!r}: expected one of {', '.join(SCORINGS)}")
    return [expected_score(c, t, parser, d) for c, t, d in zip(comps, flags, _digit_entries(record, side))]


def side_results(record: dict, side: int, parser: ScoreParser, scoring: str = "text") -> list:
    """ParseResult of each sample of one side, read with `scoring` (see `side_readouts`)."""
    return [r for r, _ in side_readouts(record, side, parser, scoring)]


def side_scores(record: dict, parser: ScoreParser, scoring: str = "text"
                ) -> tuple[list[float | None], list[float | None]]:
    """(side-0 scores, side-1 scores) of a record, None where a sample did not parse."""
    return tuple([r.score for r in side_results(record, k, parser, scoring)] for k in (0, 1))


def to_pair_scores(record: dict, parser: ScoreParser, scoring: str = "text") -> PairScores:
    """Re-parse a completions record into `PairScores` (scores None where a sample did not parse)."""
    s0, s1 = side_scores(record, parser, scoring)
    return PairScores(record["pair_key"], record["preferred_side"], s0, s1)


def missing_digits(record: dict) -> str | None:
    """The first of `digit_logprobs_0/1` a record lacks (what `--scoring expected` needs), or None."""
    return next((f for f in ("digit_logprobs_0", "digit_logprobs_1") if f not in record), None)


def _check_scoring_name(scoring: str) -> None:
    if scoring not in SCORINGS:
        raise InputError(f"--scoring {scoring!r}: expected one of {', '.join(SCORINGS)}")


def check_scoring(records: Sequence[dict], scoring: str) -> None:
    """Raise InputError when `scoring` cannot be read from in-memory `records` (a file: `read_completions` with
    `scoring`, which names the line): "expected" needs every record's `digit_logprobs_0/1`."""
    _check_scoring_name(scoring)
    for rec in records:
        field = missing_digits(rec) if scoring == "expected" else None
        if field:
            raise InputError(f"pair {rec.get('pair_key')!r}: {field} {_NO_DIGITS}")


_NO_DIGITS = ("missing; --scoring expected needs the digit log-probabilities that the transformers engine records "
              "(vLLM and files from before the field have none: regenerate with --engine transformers, or use "
              "--scoring text)")


def completion_report(records: Iterable[dict], parser: ScoreParser, scoring: str = "text") -> dict:
    """Completion-level counts beside the pair metrics: `truncated_rate` (cut off at the token limit, whatever
    the parse) and `fail_reasons` (parse failures by reason, see `grpo_bt_rm.parsing.FAIL_REASONS`); with
    `scoring` "expected" also `expected_fallbacks`, the scored samples that kept their text score because no digit
    distribution was recorded at their last digit."""
    n = n_trunc = n_fallback = 0
    reasons: Counter = Counter()
    for rec in records:
        for k in (0, 1):
            n += len(rec[f"completions_{k}"])
            n_trunc += sum(bool(t) for t in rec.get(f"truncated_{k}") or [])
            for r, applied in side_readouts(rec, k, parser, scoring):
                if r.reason:
                    reasons[r.reason] += 1
                elif scoring == "expected" and not applied:
                    n_fallback += 1
    out = {"n_completions": n, "truncated_rate": n_trunc / n if n else None, "fail_reasons": dict(reasons)}
    if scoring == "expected":
        out["expected_fallbacks"] = n_fallback
    return out


def _check_texts(path: str | os.PathLike, lineno: int, obj: dict, side: str) -> list[str]:
    value = obj.get(side)
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise InputError(f"{where(path, lineno, side)}: expected a list of strings")
    return value


def _check(path: str | os.PathLike, lineno: int, obj: dict) -> dict:
    if not isinstance(obj.get("pair_key"), str):
        raise InputError(f"{where(path, lineno, 'pair_key')}: expected a string")
    if obj.get("preferred_side") not in (0, 1) or isinstance(obj.get("preferred_side"), bool):
        raise InputError(f"{where(path, lineno, 'preferred_side')}: expected 0 or 1, got {obj.get('preferred_side')!r}")
    for side in ("completions_0", "completions_1"):
        value = _check_texts(path, lineno, obj, side)
        flags = obj.get(side.replace("completions", "truncated"))
        if flags is not None and (not isinstance(flags, list) or len(flags) != len(value)
                                  or not all(isinstance(t, bool) for t in flags)):
            raise InputError(f"{where(path, lineno, side.replace('completions', 'truncated'))}: expected a list of "
                             f"{len(value)} booleans (one per completion)")
        field = side.replace("completions", "digit_logprobs")
        if field in obj and not _valid_digit_logprobs(obj[field], len(value)):
            raise InputError(f"{where(path, lineno, field)}: expected a list of {len(value)} lists (one per "
                             "completion) of [char_end, [10 log-probabilities or null]] entries")
    return obj


def _valid_digit_logprobs(value, n: int) -> bool:
    def number(v):
        return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))

    return isinstance(value, list) and len(value) == n and all(
        isinstance(sample, list) and all(
            isinstance(e, list) and len(e) == 2 and isinstance(e[0], int) and not isinstance(e[0], bool)
            and e[0] >= 1 and isinstance(e[1], list) and len(e[1]) == 10 and all(number(v) for v in e[1])
            for e in sample)
        for sample in value)


def read_completions(path: str | os.PathLike, scoring: str = "text") -> list[dict]:
    """All records of a completions file, validated; a repeated pair_key is an error (it would count twice).
    With `scoring` "expected", a record without `digit_logprobs_0/1` is an error naming its line."""
    _check_scoring_name(scoring)
    records, seen = [], {}
    for lineno, obj in iter_jsonl(path):
        rec = _check(path, lineno, obj)
        field = missing_digits(rec) if scoring == "expected" else None
        if field:
            raise InputError(f"{where(path, lineno, field)}: {_NO_DIGITS}")
        if rec["pair_key"] in seen:
            raise InputError(f"{where(path, lineno, 'pair_key')}: {rec['pair_key']!r} already on line "
                             f"{seen[rec['pair_key']]}")
        seen[rec["pair_key"]] = lineno
        records.append(rec)
    if not records:
        raise InputError(f"{path}: no records")
    return records


def read_texts(path: str | os.PathLike) -> list[str]:
    """Every completion text of a file, for reports that look at the writing only (no pair metadata needed).

    Args:
        path: a completions file (each line's `completions_0` then `completions_1` entries, in order) or plain
            JSONL with one `text` string per line; the two kinds of line may be mixed.

    Returns:
        The texts in file order, unmodified (score tags included).

    Raises:
        InputError: a line has neither completions lists of strings nor a `text` string, or the file has no texts.
    """
    texts: list[str] = []
    for lineno, row in iter_jsonl(path):
        if "completions_0" in row or "completions_1" in row:
            for side in ("completions_0", "completions_1"):
                texts.extend(_check_texts(path, lineno, row, side) if side in row else [])
        elif isinstance(row.get("text"), str):
            texts.append(row["text"])
        else:
            raise InputError(f"{where(path, lineno)}: expected 'completions_0'/'completions_1' lists or a 'text' "
                             "string")
    if not texts:
        raise InputError(f"{path}: no completions")
    return texts


def read_many(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Records of several files (e.g. shards) in one list; a pair_key in two files is an error."""
    out, owner = [], {}
    for path in paths:
        for rec in read_completions(path):
            if rec["pair_key"] in owner:
                raise InputError(f"{path}: pair_key {rec['pair_key']!r} is also in {owner[rec['pair_key']]}")
            owner[rec["pair_key"]] = str(path)
            out.append(rec)
    return out
