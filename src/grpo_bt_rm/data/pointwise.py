"""The pointwise GRPO row that build_dataset writes. One reader checks it for every consumer (the trainer's
start-up check, density.compute, density.attach, reports.regions), naming file, line and field.

    rows = read_pointwise("hh_train.jsonl")            # [(line_number, row)]; InputError on the first bad row
    python -m grpo_bt_rm.data.pointwise hh_train.jsonl [more.jsonl]   # the same check from a shell

A row: {"messages": [{"role": str, "content": str}, ...] (non-empty), "pair_id": int or str, "side": 0|1,
"preferred_side": 0|1, ...}. A file's pairs: exactly one row per side, both sides with the same preferred_side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.io import InputError, iter_jsonl, where


def _binary(row: dict, path, lineno: int, name: str) -> None:
    v = row.get(name)
    if v not in (0, 1) or isinstance(v, bool):
        raise InputError(f"{where(path, lineno, name)}: expected 0 or 1, got {v!r}")


def check_row(row: dict, path: str | Path, lineno: int) -> dict:
    """Raise InputError naming path:line and the field if `row` is not a pointwise row."""
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise InputError(f"{where(path, lineno, 'messages')}: expected a non-empty list of chat messages, got "
                         f"{type(msgs).__name__}")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise InputError(f"{where(path, lineno, f'messages.{i}')}: expected {{'role': str, 'content': str}}")
    pid = row.get("pair_id")
    if not isinstance(pid, (int, str)) or isinstance(pid, bool):
        raise InputError(f"{where(path, lineno, 'pair_id')}: expected an integer or string, got {pid!r}")
    _binary(row, path, lineno, "side")
    _binary(row, path, lineno, "preferred_side")
    return row


def check_pairs(path: str | Path, rows: list[tuple[int, dict]]) -> list[tuple[int, int]]:
    """Line numbers (side 0, side 1) per pair, in order; every pair whole, once, with one preferred_side."""
    seen: dict = {}
    for lineno, row in rows:
        pid, side = row["pair_id"], row["side"]
        slots = seen.setdefault(pid, [None, None])
        if slots[side] is not None:
            raise InputError(f"{where(path, lineno)}: duplicate row for pair_id {pid!r} side {side} (first at line "
                             f"{slots[side][0]})")
        other = slots[1 - side]
        if other is not None and other[1] != row["preferred_side"]:
            raise InputError(f"{where(path, lineno, 'preferred_side')}: {row['preferred_side']} here but "
                             f"{other[1]} at line {other[0]}, the other side of pair_id {pid!r}")
        slots[side] = (lineno, row["preferred_side"])
    return [(a[0], b[0]) for a, b in whole_pairs(seen, lambda slot: where(path, slot[0]), InputError)]


def whole_pairs(seen: dict, locate, error: type[Exception]) -> list[tuple]:
    """[(side-0 slot, side-1 slot)] from {pair_id: [slot0, slot1]}; a missing side raises `error` at `locate(slot)`."""
    for pid, (a, b) in seen.items():
        if a is None or b is None:
            missing, present = (0, b) if a is None else (1, a)
            raise error(f"{locate(present)}: pair_id {pid!r} has no side {missing} row; every pair needs both sides "
                        "(ms-swift's --split_dataset_ratio splits rows at random: give a separate --val_dataset "
                        "instead)")
    return list(seen.values())


def read_pointwise(path: str | Path, check_pairing: bool = True) -> list[tuple[int, dict]]:
    """(line_number, row) for every row of a pointwise file, each checked; the pairs too unless told not to."""
    rows = [(lineno, check_row(row, path, lineno)) for lineno, row in iter_jsonl(path)]
    if not rows:
        raise InputError(f"{path}: no rows")
    if check_pairing:
        check_pairs(path, rows)
    return rows


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.data.pointwise` argument parser (the files to check)."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.data.pointwise", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="pointwise JSONL file(s) from build_dataset")
    return p


def check_files(files: list[str]) -> str:
    """One `<file>: <rows> rows, <pairs> pairs, ok` line per file; raises InputError on the first bad one."""
    lines = []
    for f in files:
        if not Path(f).is_file():
            raise InputError(f"{f}: no such file")
        n = len(read_pointwise(f))
        lines.append(f"{f}: {n} rows, {n // 2} pairs, ok")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: check pointwise JSONL files; returns the exit code (2 on input errors)."""
    args = build_argparser().parse_args(argv)
    return run_cli(lambda: check_files(args.files))


if __name__ == "__main__":
    sys.exit(main())
