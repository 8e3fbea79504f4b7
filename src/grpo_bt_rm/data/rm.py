"""Write preference pairs in ms-swift's reward-model format (`swift rlhf --rlhf_type rm`), and check such files.

    python -m grpo_bt_rm.data.rm --dataset anthropic_hh --split train --data_files raw/train.jsonl \\
        --out rm_train.jsonl [--weights density/hh_train] [--limit 1200] [--margin 0.5]
    python -m grpo_bt_rm.data.rm --check rm_train.jsonl      # the check the launcher's preflight runs

The same adapters and pair selection (`prepare_pairs`) as `build_dataset`, so `--seed/--shuffle/--limit` pick the
same pairs with the same `pair_id`. One row per pair (ms-swift 4.6.0, `swift/template/template_inputs.py`):

    {"messages": [{"role": "user", "content": <context>}, {"role": "assistant", "content": <chosen>}],
     "rejected_response": <rejected>, "pair_id": 0, "pair_key": "anthropic_hh:train:17", "prompt_id": "...",
     "density_weight": 1.3,   # with --weights: density.compute's weight of the pair's prompt
     "margin": 0.5}           # with --margin: ms-swift's loss becomes -log sigmoid(r_c - r_r - margin)

The context is one user turn holding the adapter's context text (for HH the whole `Human: ... Assistant: ...`
transcript before the final reply), so every adapter renders the same way; the system prompt comes from the
launcher's --system, as for the judge.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT, SEED
from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.data.adapters import ADAPTERS
from grpo_bt_rm.data.build_dataset import parse_sources, prepare_pairs
from grpo_bt_rm.data.pairs import Pair, prompt_id
from grpo_bt_rm.io import (
    InputError,
    iter_jsonl,
    manifest_base,
    sha256_file,
    where,
    write_with_manifest,
)

log = logging.getLogger(__name__)

WEIGHT = "density_weight"


def rm_rows(pairs: Iterable[Pair], weights: dict[str, float] | None = None,
            margin: float | None = None) -> Iterator[dict]:
    """One ms-swift RM row per pair (format in the module docstring); `pair_id` is the pair's position.

    Args:
        pairs: pairs from `prepare_pairs` (side order is irrelevant: chosen/rejected come from `preferred_side`).
        weights: prompt_id -> density weight (from density.compute); every pair's prompt must be in it.
        margin: a constant margin for ms-swift's BT loss, or None for none.
    Raises:
        InputError: a pair's prompt has no weight.
    """
    for pair_id, p in enumerate(pairs):
        pid = prompt_id(p.context)
        row = {"messages": [{"role": "user", "content": p.context}, {"role": "assistant", "content": p.chosen}],
               "rejected_response": p.rejected, "pair_id": pair_id, "pair_key": p.key, "prompt_id": pid}
        if weights is not None:
            if pid not in weights:
                raise InputError(f"pair {p.key} (prompt_id {pid}) is not in the density weights; recompute them on "
                                 "these pairs (python -m grpo_bt_rm.density.compute)")
            row[WEIGHT] = weights[pid]
        if margin is not None:
            row["margin"] = margin
        yield row


def _number(row: dict, path, lineno: int, name: str, minimum: float | None) -> None:
    v = row.get(name)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if not ok or (minimum is not None and v < minimum):
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise InputError(f"{where(path, lineno, name)}: expected a finite number{bound}, got {v!r}")


def check_rm_row(row: dict, path: str | Path, lineno: int, need_weight: bool = False) -> dict:
    """Raise InputError naming path:line and the field unless `row` is an RM row ms-swift can train on."""
    msgs = row.get("messages")
    if not isinstance(msgs, list) or len(msgs) < 2:
        raise InputError(f"{where(path, lineno, 'messages')}: expected a list of chat messages ending with the "
                         "chosen assistant reply")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise InputError(f"{where(path, lineno, f'messages.{i}')}: expected {{'role': str, 'content': str}}")
    if msgs[-1]["role"] != "assistant":
        raise InputError(f"{where(path, lineno, 'messages')}: the last message must be the chosen assistant reply, "
                         f"got role {msgs[-1]['role']!r}")
    rej = row.get("rejected_response")
    if not isinstance(rej, str) or not rej.strip():
        raise InputError(f"{where(path, lineno, 'rejected_response')}: expected a non-empty string")
    if rej == msgs[-1]["content"]:  # ms-swift asserts on this mid-training
        raise InputError(f"{where(path, lineno, 'rejected_response')}: identical to the chosen reply")
    if "margin" in row:
        _number(row, path, lineno, "margin", None)
    if need_weight or WEIGHT in row:
        _number(row, path, lineno, WEIGHT, 0.0)
    return row


def read_rm(path: str | Path, need_weight: bool = False) -> list[tuple[int, dict]]:
    """(line_number, row) for every row of an RM file, each checked; `need_weight`: every row has density_weight
    (BT_PAIR_SAMPLING=weighted), not all zero. Raises InputError naming the file, line and field."""
    rows = [(n, check_rm_row(r, path, n, need_weight)) for n, r in iter_jsonl(path)]
    if not rows:
        raise InputError(f"{path}: no rows")
    if need_weight and not any(r[WEIGHT] > 0 for _, r in rows):
        raise InputError(f"{path}: every {WEIGHT} is 0; weighted sampling needs a positive weight somewhere")
    return rows


def build(args: argparse.Namespace) -> dict:
    """Load the pairs, write the RM file and its manifest as one unit; returns the manifest."""
    start = time.time()
    sources = parse_sources(args.dataset, args.data_files)
    pairs, stats = prepare_pairs(sources, args.split, seed=args.seed, shuffle=args.shuffle, dedupe=args.dedupe,
                                 limit=args.limit, skip_bad=args.skip_bad)
    if not pairs:
        raise InputError(f"no pairs left to write (read {stats.rows} rows, dropped {dict(stats.dropped)})")
    weights = wfile = None
    if args.weights:
        from grpo_bt_rm.density.attach import load_weights

        weights, wfile = load_weights(args.weights)
    rows = list(rm_rows(pairs, weights, args.margin))

    def write_rows(f) -> None:
        """Write every RM row as one JSON line to `f`."""
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False))
            f.write("\n")

    def make_manifest(written: Path) -> dict:
        """The output's manifest: sha256, pair count, load stats, sources, density weights and margin."""
        return manifest_base(
            kind="rm_dataset", format="ms-swift rlhf_type rm (messages + rejected_response)", output=str(args.out),
            sha256=sha256_file(written), pairs=len(rows), rows=len(rows), load_stats=stats.as_dict(),
            sources=[{"dataset": n, "data_files": f} for n, f in sources],
            density_weights={"file": str(wfile), "sha256": sha256_file(wfile)} if wfile else None,
            margin=args.margin, args=vars(args), seconds=round(time.time() - start, 3))

    return write_with_manifest(args.out, write_rows, make_manifest)


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.data.rm` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.data.rm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", nargs="+", metavar="FILE", default=None,
                   help="only check RM file(s) (schema, non-identical replies, numbers) and exit")
    p.add_argument("--out", help="output JSONL (written atomically, plus <out>.manifest.json)")
    p.add_argument("--dataset", action="append", default=None,
                   help=f"source adapter(s), repeatable or comma-separated; one of {ADAPTERS.names()}")
    p.add_argument("--split", default="train", help="split to read (hub split name, or a label for local files)")
    p.add_argument("--data_files", action="extend", nargs="+", default=None, metavar="FILE",
                   help="local raw-format file(s) instead of the hub (as build_dataset)")
    p.add_argument("--limit", type=COUNT, default=None, help="keep at most this many pairs (after dedupe/shuffle)")
    p.add_argument("--seed", type=SEED, default=0, help="seed for --shuffle (as build_dataset)")
    p.add_argument("--shuffle", action="store_true", help="shuffle pairs (seeded) before --limit")
    p.add_argument("--dedupe", action="store_true", help="drop repeated (context, response, response) pairs")
    p.add_argument("--skip_bad", action="store_true", help="skip malformed raw rows instead of stopping")
    p.add_argument("--weights", default=None,
                   help="density.compute --out_dir (or its weights.jsonl): adds density_weight per pair by prompt_id")
    p.add_argument("--margin", type=float, default=None,
                   help="constant margin column for ms-swift's RM loss -log sigmoid(r_c - r_r - margin)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: build an ms-swift RM dataset, or `--check` files; returns the exit code."""
    args = build_argparser().parse_args(argv)

    def command() -> str:
        if args.check:
            lines = []
            for f in args.check:
                if not Path(f).is_file():
                    raise InputError(f"{f}: no such file")
                lines.append(f"{f}: {len(read_rm(f))} pairs, ok")
            return "\n".join(lines)
        if not args.out:
            raise InputError("--out is required (or --check FILE)")
        # the flags with the dataset default filled in; the parsed args themselves are never written into
        m = build(argparse.Namespace(**{**vars(args), "dataset": args.dataset or ["summarize_from_feedback"]}))
        return f"wrote {m['rows']} RM rows to {args.out} ({m['seconds']:.1f}s)"

    return run_cli(command)


if __name__ == "__main__":
    sys.exit(main())
