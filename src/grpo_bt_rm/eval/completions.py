"""The per-pair completions file written by `eval_bt --save_completions` (and `variance --save_jsonl`).

One JSON object per line, one line per pair:

    {"pair_key": "anthropic_hh:test:17", "preferred_side": 0|1,
     "completions_0": ["<s>80</s> ...", ...], "completions_1": [...],     # raw judge outputs, sample order kept
     "scores_0": [80.0, null, ...], "scores_1": [...],                    # parsed at write time (informative)
     "pair_index": 3, "source_index": 17}

It is the input of `eval_bt --from_completions` and of the diversity report. When read back, scores are always
re-parsed from the raw completions with the parser asked for, never taken from `scores_*`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from grpo_bt_rm.eval.metrics import PairScores
from grpo_bt_rm.io import InputError, iter_jsonl, where
from grpo_bt_rm.parsing import ScoreParser


def make_record(pair_key: str, preferred_side: int, completions_0: Sequence[str], completions_1: Sequence[str],
                parser: ScoreParser, **extra) -> dict:
    return {
        "pair_key": pair_key,
        "preferred_side": int(preferred_side),
        "completions_0": list(completions_0),
        "completions_1": list(completions_1),
        "scores_0": [parser.parse(c) for c in completions_0],
        "scores_1": [parser.parse(c) for c in completions_1],
        **extra,
    }


def to_pair_scores(record: dict, parser: ScoreParser) -> PairScores:
    return PairScores(record["pair_key"], record["preferred_side"],
                      [parser.parse(c) for c in record["completions_0"]],
                      [parser.parse(c) for c in record["completions_1"]])


def _check(path: str | os.PathLike, lineno: int, obj: dict) -> dict:
    if not isinstance(obj.get("pair_key"), str):
        raise InputError(f"{where(path, lineno, 'pair_key')}: expected a string")
    if obj.get("preferred_side") not in (0, 1) or isinstance(obj.get("preferred_side"), bool):
        raise InputError(f"{where(path, lineno, 'preferred_side')}: expected 0 or 1, got {obj.get('preferred_side')!r}")
    for side in ("completions_0", "completions_1"):
        value = obj.get(side)
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise InputError(f"{where(path, lineno, side)}: expected a list of strings")
    return obj


def read_completions(path: str | os.PathLike) -> list[dict]:
    """All records of a completions file, validated; a repeated pair_key is an error (it would count twice)."""
    records, seen = [], {}
    for lineno, obj in iter_jsonl(path):
        rec = _check(path, lineno, obj)
        if rec["pair_key"] in seen:
            raise InputError(f"{where(path, lineno, 'pair_key')}: {rec['pair_key']!r} already on line "
                             f"{seen[rec['pair_key']]}")
        seen[rec["pair_key"]] = lineno
        records.append(rec)
    if not records:
        raise InputError(f"{path}: no records")
    return records


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
