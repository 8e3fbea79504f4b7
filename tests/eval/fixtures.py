"""Completion fixtures with hand-computed metrics (see test_metrics.py for the arithmetic)."""

from __future__ import annotations

from pathlib import Path

from grpo_bt_rm.io import write_jsonl


def tag(score) -> str:
    return f"<s>{score}</s> because" if score is not None else "no score here"


# (preferred_side, side-0 scores, side-1 scores); None = a completion without a parseable tag.
CASES = [
    (0, [80], [40]),  # d = +40: correct
    (1, [60, None], [70, 50]),  # z0 = 60 (the failed sample is ignored), z1 = 60: a tie
    (0, [30], [50]),  # d = -20: wrong
    (1, [None], [90]),  # side 0 has no valid sample: unparsed pair
    (1, [20], [100, 80]),  # z1 = 90, d = +70: correct
]


def records() -> list[dict]:
    out = []
    for i, (pref, s0, s1) in enumerate(CASES):
        out.append({"pair_key": f"fx:test:{i}", "preferred_side": pref, "completions_0": [tag(s) for s in s0],
                    "completions_1": [tag(s) for s in s1], "pair_index": i})
    return out


def write_fixture(path: Path) -> Path:
    write_jsonl(path, records())
    return path
