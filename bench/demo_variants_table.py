"""The tables of bench/demo_variants.sh: per reward variant, mean ± std over seeds of val and test acc_all, test
log-loss, tie rate, parse failures and the per-kind accuracy of the wrong-category and rude pairs; then, per seed,
test acc_all and its gain over that seed's SFT judge (the demo's summary.json), and on how many seeds the variant
meets the learning target (`grpo_bt_rm.demo.summary.meets_target`: acc_all >= 0.85, >= SFT + 10 points, parse
failures <= 2%).

    python bench/demo_variants_table.py --out outputs/demo_variants --demos outputs/demo_seeds --seeds 0 1 2 \\
        --variants baseline binary
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from grpo_bt_rm.demo.breakdown import kind_breakdown
from grpo_bt_rm.demo.summary import meets_target
from grpo_bt_rm.io import InputError


def fmt(vals: list[float], digits: int = 3) -> str:
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.fmean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def main() -> None:
    try:
        run()
    except (InputError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}") from None


def run() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="bench/demo_variants.sh's OUT")
    p.add_argument("--demos", required=True, help="the seed demos' parent dir (for raw/test.jsonl)")
    p.add_argument("--seeds", nargs="+", required=True)
    p.add_argument("--variants", nargs="+", required=True)
    a = p.parse_args()
    out = Path(a.out)
    for s in a.seeds:  # every input the tables read is checked before anything is printed
        sft_test_acc(Path(a.demos) / f"seed{s}")
        if not (Path(a.demos) / f"seed{s}/raw/test.jsonl").is_file():
            raise InputError(f"{Path(a.demos) / f'seed{s}/raw/test.jsonl'}: missing (--demos: the seed demos' parent)")
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
    gain_table(out, Path(a.demos), a.seeds, a.variants)


def sft_test_acc(demo: Path, scoring: str = "text") -> float:
    """The SFT judge's test acc_all read as `scoring` (the variants' evals read the text) from a finished demo's
    summary.json: its table's figure when the demo read the scores that way, else its `readouts`.

    Raises:
        InputError: the summary is missing or has no SFT acc_all under `scoring`.
    """
    path = demo / "summary.json"
    try:
        s = json.loads(path.read_text())
        if s.get("scoring", "text") == scoring:
            return float(s["sft"]["acc_all"])
        return float(s["readouts"][scoring]["sft"]["acc_all"])
    except FileNotFoundError:
        raise InputError(f"{path}: missing; the seed's demo has not finished (run scripts/demo.sh)") from None
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{path}: no SFT acc_all read as {scoring} (sft.acc_all or readouts.{scoring}.sft.acc_all: "
                         f"{e})") from None


def gain_table(out: Path, demos: Path, seeds: list[str], variants: list[str]) -> None:
    """Per variant and seed: test acc_all (gain over the seed's SFT judge, points), and the seeds meeting the
    target."""
    sft = {s: sft_test_acc(demos / f"seed{s}") for s in seeds}
    print()
    print("| reward | " + " | ".join(f"seed {s}: test acc_all (gain over SFT {sft[s]:.3f})" for s in seeds)
          + " | target met |")
    print("|---|" + "---|" * len(seeds) + "---|")
    for v in variants:
        cells, met, n = [], 0, 0
        for s in seeds:
            path = out / f"{v}.s{s}.test.json"
            if not path.is_file():
                cells.append("n/a")
                continue
            m = json.loads(path.read_text())["metrics"]
            n += 1
            met += meets_target(m["acc_all"], sft[s], m["parse_fail_rate"])
            cells.append(f"{m['acc_all']:.3f} ({(m['acc_all'] - sft[s]) * 100:+.1f})")
        if n:
            print(f"| {v} | " + " | ".join(cells) + f" | {met} of {n} |")


if __name__ == "__main__":
    main()
