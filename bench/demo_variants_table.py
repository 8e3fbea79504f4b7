"""The table of bench/demo_variants.sh: per reward variant, mean ± std over seeds of val and test acc_all, test
log-loss, tie rate, parse failures and the per-kind accuracy of the wrong-category and rude pairs.

    python bench/demo_variants_table.py --out outputs/demo_variants --demos outputs/demo_seeds --seeds 0 1 2 \\
        --variants baseline binary
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from grpo_bt_rm.demo.breakdown import kind_breakdown


def fmt(vals: list[float], digits: int = 3) -> str:
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.fmean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="bench/demo_variants.sh's OUT")
    p.add_argument("--demos", required=True, help="the seed demos' parent dir (for raw/test.jsonl)")
    p.add_argument("--seeds", nargs="+", required=True)
    p.add_argument("--variants", nargs="+", required=True)
    a = p.parse_args()
    out = Path(a.out)
    print("| reward (preset `demo_cpu_<name>`) | seeds | val acc_all | test acc_all | test log-loss (T=20) | "
          "test tie rate | test parse fail | test `wrong` acc (ties) | test `rude` acc |")
    print("|---|---|---|---|---|---|---|---|---|")
    for v in a.variants:
        seeds = [s for s in a.seeds if (out / f"{v}.s{s}.test.json").is_file()]
        if not seeds:
            continue
        met = {sp: [json.loads((out / f"{v}.s{s}.{sp}.json").read_text())["metrics"] for s in seeds]
               for sp in ("val", "test")}
        kinds = [kind_breakdown(out / f"{v}.s{s}.test.completions.jsonl", Path(a.demos) / f"seed{s}/raw/test.jsonl")
                 for s in seeds]
        t = met["test"]
        print(f"| {v} | {','.join(seeds)} | {fmt([m['acc_all'] for m in met['val']])} | "
              f"{fmt([m['acc_all'] for m in t])} | {fmt([m['logloss_all'] for m in t])} | "
              f"{fmt([m['tie_rate'] for m in t], 2)} | {fmt([m['parse_fail_rate'] for m in t])} | "
              f"{fmt([k['wrong']['acc_all'] for k in kinds])} ({fmt([k['wrong']['tie_rate'] for k in kinds], 2)}) | "
              f"{fmt([k['rude']['acc_all'] for k in kinds])} |")


if __name__ == "__main__":
    main()
