#!/usr/bin/env python
"""Merge variance shard files (written with `variance --save_jsonl`) into one result, with the same metric code.

    python tools/merge_variance_shards.py shard0.jsonl shard1.jsonl --parser score100_first \
        --range_thresholds 10,20,30,40 --out_json merged.json [--save_jsonl merged.jsonl]

Because shards take whole, separately seeded batches, the merged result equals a single-shard run.
"""

import argparse
import sys
from pathlib import Path

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.eval.completions import read_many
from grpo_bt_rm.eval.variance import add_metric_args, format_summary, merge, parse_thresholds, write_outputs
from grpo_bt_rm.io import write_jsonl
from grpo_bt_rm.parsing import PARSERS


def build_argparser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tools/merge_variance_shards.py", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shards", nargs="+", help="shard JSONL files from `variance --save_jsonl`")
    p.add_argument("--parser", default="score100_first", help=f"score parser, one of {PARSERS.names()}")
    add_metric_args(p)
    p.add_argument("--out_json", required=True, help="merged result JSON (+ .log and .hist.png next to it)")
    p.add_argument("--save_jsonl", default=None, help="also write all shards' records as one JSONL")
    p.add_argument("--no_plot", action="store_true", help="skip the histogram PNG")
    return p


def merge_shards(args: argparse.Namespace) -> str:
    """Merge the shard files, write the result (+ .log, .hist.png) and return the report text."""
    result = merge(args.shards, args.parser, parse_thresholds(args.range_thresholds), args.unc_low, args.unc_high)
    if args.save_jsonl:
        write_jsonl(args.save_jsonl, sorted(read_many(args.shards), key=lambda r: r.get("pair_index", 0)))
    write_outputs(result, Path(args.out_json), plot=not args.no_plot)
    return f"{format_summary(result['metrics'])}\nresult: {args.out_json}"


def main(argv=None) -> int:
    args = build_argparser().parse_args(argv)
    return run_cli(lambda: merge_shards(args))


if __name__ == "__main__":
    sys.exit(main())
