"""Where the demo judge is right and wrong, what it ran on, and the table over seeds.

    python -m grpo_bt_rm.demo.breakdown --seeds outputs/demo_seeds/seed0 outputs/demo_seeds/seed1 ...

- `kind_breakdown`: acc_all and tie rate per failure kind of the rejected reply (`wrong`, `evasive`, `rude`), or
  per any other column of the raw pairs (`field="category"`: per asked category), from an eval completions file
  and the task's raw pairs (`source_index` links the two).
- `environment`: library versions, CPU and thread settings, recorded in `summary.json` so a run on another machine
  can be compared with this one.
- `seeds_table`: mean ± std (ddof=1) of SFT and final-GRPO acc_all and the gain over the demos of several seeds,
  written by `scripts/demo.sh` when `SEEDS` lists more than one seed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.eval.completions import read_completions, to_pair_scores
from grpo_bt_rm.eval.metrics import pair_metrics
from grpo_bt_rm.io import InputError, atomic_write, iter_jsonl, write_json
from grpo_bt_rm.parsing import get_parser


def kind_breakdown(completions: str | os.PathLike, raw: str | os.PathLike, parser: str = "score100_first",
                   bt_temp: float = 20.0, field: str = "kind", scoring: str = "text") -> dict[str, dict]:
    """acc_all, tie rate and count per failure kind of the rejected reply (or per value of another raw column).

    Args:
        completions: an `eval_bt --save_completions` file over pairs read from `raw`.
        raw: the task's `pairs_jsonl` file with a `kind` and a `category` per row (demo/task.py).
        parser: the score parser the eval used.
        bt_temp: BT temperature for the metrics (does not change acc_all or ties).
        field: the raw column to group by: `kind` (default) or `category` (the asked category).
        scoring: how each sample's score is read, as eval_bt's --scoring (text or expected).

    Returns:
        `{value: {"n": pairs, "acc_all": ..., "tie_rate": ..., "parse_fail_rate": ...}}`, values sorted.

    Raises:
        InputError: a record's `source_index` is missing or outside `raw`, or a raw row has no `field`.
    """
    values = []
    for lineno, row in iter_jsonl(raw):
        if not isinstance(row, dict) or field not in row:
            raise InputError(f"{raw}:{lineno}: field {field!r}: missing (not a demo task file?)")
        values.append(row[field])
    p = get_parser(parser)
    groups: dict[str, list] = {}
    for rec in read_completions(completions, scoring):
        i = rec.get("source_index")
        if not isinstance(i, int) or not 0 <= i < len(values):
            raise InputError(f"{completions}: pair {rec.get('pair_key')}: field 'source_index' {i!r} is not a row of "
                             f"{raw} ({len(values)} rows)")
        groups.setdefault(values[i], []).append(to_pair_scores(rec, p, scoring))
    out = {}
    for value in sorted(groups):
        m = pair_metrics(groups[value], bt_temp=bt_temp, n_boot=1, score_range=(p.low, p.high))
        out[value] = {"n": len(groups[value]), "acc_all": m["acc_all"], "tie_rate": m["tie_rate"],
                      "parse_fail_rate": m["parse_fail_rate"]}
    return out


def environment() -> dict:
    """Versions, CPU, kernels and threads of this process: what a rerun elsewhere must match to give the same numbers.

    `torch_cpu_capability` is the instruction set PyTorch's CPU kernels were dispatched for (DEFAULT, AVX2,
    AVX512, ...): kernels for different instruction sets round differently, and a GRPO run that samples tokens
    diverges from the first differing bit. The environment variables that pin the dispatch (`ATEN_CPU_CAPABILITY`,
    oneDNN's `ONEDNN_MAX_CPU_ISA`, MKL's `MKL_CBWR`) are recorded as set (None = unset).
    """
    import importlib.metadata as md

    def version(dist: str) -> str | None:
        """The installed version of distribution `dist`, or None when it is not installed."""
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            **{v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")},
            **{d: version(d) for d in ("transformers", "ms-swift", "trl", "peft", "accelerate", "tokenizers")}}


def seeds_table(demo_dirs: list[Path]) -> tuple[str, dict]:
    """The three-seed (or n-seed) table from each demo's `summary.json`.

    The main columns are each summary's own figures (its `scoring`); one column per readout in the summaries'
    `readouts` gives that readout's gain and verdict, so the seeds' verdicts under both readouts sit side by side.

    Returns:
        (markdown, summary dict with per-seed rows and mean/std of sft, grpo and gain acc_all).

    Raises:
        InputError: a demo directory has no summary.json, or the summaries were read with different scorings.
    """
    rows = []
    for d in demo_dirs:
        path = Path(d) / "summary.json"
        if not path.is_file():
            raise InputError(f"{path}: missing (did the demo in {d} finish?)")
        s = json.loads(path.read_text(encoding="utf-8"))
        rows.append({"demo_dir": str(d), "seed": s.get("seed"), "scoring": s.get("scoring", "text"),
                     "sft": s["sft"]["acc_all"], "grpo": s["grpo"]["acc_all"], "gain": s["acc_all_gain"],
                     "grpo_parse_fail": s["grpo"]["parse_fail_rate"], "target_met": s["target"]["met"],
                     "readouts": {k: {"gain": r["gain"], "met": r["met"]} for k, r in (s.get("readouts") or {}).items()},
                     "total_seconds": s.get("total_seconds")})
    scorings = sorted({r["scoring"] for r in rows})
    if len(scorings) > 1:
        raise InputError("the demos' summaries read the scores differently (" + ", ".join(
            f"{r['demo_dir']}: {r['scoring']}" for r in rows) + "); rerun them with one SCORING")

    def stat(key: str) -> dict:
        """Mean and sample std (0 for one seed) of column `key` over the seeds."""
        vals = [r[key] for r in rows]
        return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}

    agg = {k: stat(k) for k in ("sft", "grpo", "gain")}
    reads = [k for k in ("text", "expected") if all(k in r["readouts"] for r in rows)]
    lines = [f"Scores read as: {scorings[0]} (the demos' SCORING).", "",
             "| seed | SFT acc_all | GRPO acc_all | gain (points) | GRPO parse fail | target met | "
             + "".join(f"{k} readout: gain, target | " for k in reads) + "seconds |",
             "|---|---|---|---|---|---|" + "---|" * len(reads) + "---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['sft']:.3f} | {r['grpo']:.3f} | {r['gain'] * 100:+.1f} | "
                     f"{r['grpo_parse_fail']:.3f} | {'yes' if r['target_met'] else 'no'} | "
                     + "".join(f"{r['readouts'][k]['gain'] * 100:+.1f}, {'met' if r['readouts'][k]['met'] else 'not met'}"
                               " | " for k in reads) + f"{r['total_seconds']} |")
    lines.append(f"| mean ± std | {agg['sft']['mean']:.3f} ± {agg['sft']['std']:.3f} | "
                 f"{agg['grpo']['mean']:.3f} ± {agg['grpo']['std']:.3f} | "
                 f"{agg['gain']['mean'] * 100:+.1f} ± {agg['gain']['std'] * 100:.1f} | | "
                 f"{sum(r['target_met'] for r in rows)} of {len(rows)} | "
                 + "".join(f"{sum(r['readouts'][k]['met'] for r in rows)} of {len(rows)} | " for k in reads) + "|")
    return "\n".join(lines) + "\n", {"scoring": scorings[0], "seeds": rows, **agg}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: print (and with --out write) the demo's per-seed table; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.demo.breakdown", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", nargs="+", required=True, metavar="DEMO_DIR",
                   help="finished demo directories, one per seed (each holds summary.json)")
    p.add_argument("--out", default=None, help="also write OUT.md and OUT.json (default: print only)")
    args = p.parse_args(argv)

    def command() -> str:
        """Build the seeds table and write OUT.md / OUT.json when --out is given; return the table text."""
        text, summary = seeds_table([Path(d) for d in args.seeds])
        if args.out:
            with atomic_write(f"{args.out}.md") as f:
                f.write(text)
            write_json(Path(f"{args.out}.json"), summary)
        return text

    return run_cli(command)


if __name__ == "__main__":
    sys.exit(main())
