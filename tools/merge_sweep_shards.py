#!/usr/bin/env python
"""Merge the results of `scripts/run_eval_sweep.sh --shard I/N` runs (one shard per machine) into one summary.

    python tools/merge_sweep_shards.py host0/eval host1/eval host2/eval --out_dir merged/ [--title T] [--no_plot]

Every complete eval_bt result JSON in the shard dirs is copied into --out_dir (atomically) and summarized with the
sweep's own code (summary.csv/md/json/png). Refused, with the files named: results made with other settings
(n_pairs, data files, prompt, parser, bt_temp, sampling, ...), two different results for one checkpoint and seed,
and a different result already at the same name in --out_dir.
"""

import argparse
import json
import sys
from pathlib import Path

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.eval.summary import check_same_settings, read_result, results_in, write_summary
from grpo_bt_rm.io import InputError, write_json


def _same(a: dict, b: dict) -> bool:
    strip = ("_path", "seconds", "out_json", "summary_text")
    return {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}


def merge(shard_dirs: list[str], out_dir: str) -> list[dict]:
    """The shards' results, checked and copied to `out_dir` (each `_path` pointing at its copy)."""
    by_name: dict[str, dict] = {}
    for d in shard_dirs:
        if not Path(d).is_dir():
            raise InputError(f"{d}: no such directory")
        found = results_in(d)
        if not found:
            raise InputError(f"{d}: no complete eval_bt result")
        for r in found:
            name = Path(r["_path"]).name
            prev = by_name.get(name)
            if prev is not None and not _same(prev, r):
                raise InputError(f"{prev['_path']} and {r['_path']}: two different results for {name} (the same "
                                 "checkpoint and seed in two shards); remove one")
            by_name.setdefault(name, r)
    results = [by_name[n] for n in sorted(by_name)]
    check_same_settings(results)
    out = Path(out_dir)
    for r in results:
        dest = out / Path(r["_path"]).name
        existing = read_result(dest) if dest.exists() else None
        if dest.exists() and (existing is None or not _same(existing, r)):
            raise InputError(f"{dest}: a different file is already there; choose another --out_dir")
    for r in results:
        dest = out / Path(r["_path"]).name
        write_json(dest, {k: v for k, v in r.items() if k != "_path"})
        r["_path"] = str(dest)
    return results


def build_argparser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tools/merge_sweep_shards.py", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shard_dirs", nargs="+", help="each shard's results directory (the sweep's RUN/<eval_subdir>)")
    p.add_argument("--out_dir", required=True, help="where the merged results and summary.* go")
    p.add_argument("--title", default="", help="title of summary.md / summary.png")
    p.add_argument("--no_plot", action="store_true", help="skip summary.png")
    return p


def merge_and_summarize(args: argparse.Namespace) -> str:
    """Merge, write summary.*, and return the report: summary.md and the written files as JSON."""
    results = merge(args.shard_dirs, args.out_dir)
    files = write_summary(results, args.out_dir, args.title, plot=not args.no_plot)
    return Path(files["md"]).read_text(encoding="utf-8") + "\n" + json.dumps({"results": len(results), **files},
                                                                             indent=2)


def main(argv=None) -> int:
    args = build_argparser().parse_args(argv)
    return run_cli(lambda: merge_and_summarize(args))


if __name__ == "__main__":
    sys.exit(main())
