"""The tables of bench/density_demo.sh, from its structured outputs (eval JSONs, completions, regions.json).

    python bench/density_demo_table.py --out outputs/density_demo --seeds 0 1 2 --models sft uniform advantage sampling

Per seed, OUT/seed<N>/categories.{md,json}: each model's test accuracy per asked category (the task's regions;
the crowded one is the category with the largest training weight in raw/train.jsonl.manifest.json), and each
category's share of the GRPO pairs and of their density weight (grpo_data/train_dw.jsonl: the share the sampling
arm draws, the share of gradient scale the advantage arm gives). Over seeds,
OUT/density_summary.{md,json}: mean ± std (ddof 1) per model of val and test acc_all, crowded and rare (pooled
over the other categories) test accuracy, tie rate and parse failures, accuracy per category and per density
region (reports/regions/regions.json), and each arm's paired difference to the --baseline arm.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.demo.breakdown import kind_breakdown
from grpo_bt_rm.eval.summary import result_scoring
from grpo_bt_rm.io import InputError, atomic_write, iter_jsonl, manifest_base, read_text, sha256_file, write_json

SPLITS = ("val", "test")


def read_json(path: Path) -> dict:
    """A JSON file's object; a missing or broken file is an InputError naming it."""
    if not path.is_file():
        raise InputError(f"{path}: missing (did bench/density_demo.sh finish this step?)")
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: invalid JSON ({e.msg})") from None


def pooled(groups: dict[str, dict], names: list[str], key: str) -> float:
    """`key` (a per-pair mean such as acc_all or tie_rate) over the pairs of the `names` groups together."""
    n = sum(groups[c]["n"] for c in names)
    return sum(groups[c][key] * groups[c]["n"] for c in names) / n if n else float("nan")


def weight_shares(dw: Path, raw: Path) -> dict[str, dict]:
    """Per asked category: its GRPO pairs, their share of all pairs and of the summed density weight, mean weight.

    Args:
        dw: the GRPO data with a density_weight column (density.attach), rows linked to `raw` by source_index.
        raw: the task's training pairs (with `category`).
    """
    if not dw.is_file():
        raise InputError(f"{dw}: missing (density.attach output)")
    category = [row["category"] for _, row in iter_jsonl(raw)]
    weight: dict[int, float] = {}
    for lineno, row in iter_jsonl(dw):
        i = row.get("source_index")
        if not isinstance(i, int) or not 0 <= i < len(category) or "density_weight" not in row:
            raise InputError(f"{dw}:{lineno}: expected source_index (a row of {raw}) and density_weight")
        weight[i] = row["density_weight"]  # both sides of a pair share it
    out: dict[str, dict] = {}
    for i, w in weight.items():
        c = out.setdefault(category[i], {"pairs": 0, "weight": 0.0})
        c["pairs"] += 1
        c["weight"] += w
    total_w = sum(c["weight"] for c in out.values())
    return {cat: {"pairs": c["pairs"], "pair_share": c["pairs"] / len(weight), "weight_share": c["weight"] / total_w,
                  "mean_weight": c["weight"] / c["pairs"]} for cat, c in sorted(out.items())}


def seed_results(out: Path, seed: str, models: list[str]) -> tuple[dict[str, dict[str, dict]], str]:
    """One seed's eval results, `{model: {split: result}}`, and their readout (eval_bt --scoring), which must agree.

    Raises:
        InputError: a missing result, or results read different ways (each named with its readout).
    """
    d = out / f"seed{seed}"
    results = {m: {sp: read_json(d / "eval" / f"{m}.{sp}.json") for sp in SPLITS} for m in models}
    scorings = {str(d / "eval" / f"{m}.{sp}.json"): result_scoring(r) for m in models for sp, r in results[m].items()}
    if len(set(scorings.values())) > 1:
        raise InputError("results read with different --scoring cannot share a table: "
                         + "; ".join(f"{path}: {sc}" for path, sc in sorted(scorings.items())))
    return results, next(iter(scorings.values()))


def seed_rows(out: Path, seed: str, models: list[str], results: dict[str, dict[str, dict]], scoring: str) -> dict:
    """One seed's numbers per model: the eval metrics, the per-category breakdown and the per-region accuracy.
    `results` and `scoring` are `seed_results`'s.

    Raises:
        InputError: a missing output, or a task without category weights (not a skewed task).
    """
    d = out / f"seed{seed}"
    manifest_path = d / "raw" / "train.jsonl.manifest.json"
    weights = read_json(manifest_path).get("category_weights")
    if not weights:
        raise InputError(f"{manifest_path}: no category_weights (the task was not made with --train_category_weights)")
    crowded = max(weights, key=weights.get)
    rare = [c for c in weights if c != crowded]
    regions_path = d / "reports" / "regions" / "regions.json"
    regions_report = read_json(regions_path)
    regions = regions_report["regions"]
    if regions_report.get("scoring", "text") != scoring:  # reports from before --scoring read the text
        raise InputError(f"{regions_path}: read with --scoring {regions_report.get('scoring', 'text')}, the eval "
                         f"results with {scoring}; rerun grpo_bt_rm.reports.regions with --scoring {scoring}")
    rows, inputs = {}, {}
    for m in models:
        metrics = {sp: r["metrics"] for sp, r in results[m].items()}
        completions = d / "eval" / f"{m}.test.completions.jsonl"
        if not completions.is_file():
            raise InputError(f"{completions}: missing (eval_bt --save_completions of {m} on test)")
        inputs[m] = {"test_completions": str(completions), "sha256": sha256_file(completions)}
        # the per-category figures read the completions as the result did: its parser, its readout
        cats = kind_breakdown(completions, d / "raw" / "test.jsonl", field="category",
                              parser=results[m]["test"]["parser"]["name"], scoring=scoring)
        rows[m] = {
            "val_acc_all": metrics["val"]["acc_all"],
            "test_acc_all": metrics["test"]["acc_all"],
            "test_tie_rate": metrics["test"]["tie_rate"],
            "test_parse_fail_rate": metrics["test"]["parse_fail_rate"],
            "crowded_acc_all": cats[crowded]["acc_all"],
            "rare_acc_all": pooled(cats, rare, "acc_all"),
            "categories": cats,
            "regions": [r["models"][m].get("acc_all") for r in regions],
        }
    shares = weight_shares(d / "grpo_data" / "train_dw.jsonl", d / "raw" / "train.jsonl")
    return {"seed": seed, "scoring": scoring, "weights": weights, "crowded": crowded, "rare": rare, "models": rows,
            "density_weight_shares": shares, "region_bounds": [r["knn_mean_dist"] for r in regions],
            "inputs": inputs}


def stat(vals: list[float]) -> dict:
    """Mean and sample std (0 for one value) of the non-missing values, and how many there were."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}


def fmt(s: dict, digits: int = 3, signed: bool = False) -> str:
    """`mean ± std` (just the mean for one seed), or n/a."""
    if s["mean"] is None:
        return "n/a"
    sign = "+" if signed else ""
    return f"{s['mean']:{sign}.{digits}f}" + (f" ± {s['std']:.{digits}f}" if s["n"] > 1 else "")


def num(x: float | None) -> str:
    """A number with 3 decimals, or n/a (a tie rate is None when no pair parsed)."""
    return "n/a" if x is None else f"{x:.3f}"


def category_table(seed: dict, models: list[str]) -> str:
    """One seed's markdown table: test acc_all overall and per category (with its share of training pairs)."""
    cats = list(seed["weights"])
    head = " | ".join(f"{c} ({seed['weights'][c]:.1%} of train)" for c in cats)
    lines = [f"# Seed {seed['seed']}: test accuracy per asked category", "",
             f"Crowded: **{seed['crowded']}**; rare: {', '.join(seed['rare'])}. acc_all (ties 0.5, parse failures 0); "
             "pairs per category in brackets.", "",
             f"| model | test acc_all | {head} | rare pooled | tie rate |",
             "|---|---|" + "---|" * len(cats) + "---|---|"]
    for m in models:
        r = seed["models"][m]
        per = " | ".join(f"{num(r['categories'][c]['acc_all'])} ({r['categories'][c]['n']})" for c in cats)
        lines.append(f"| {m} | {num(r['test_acc_all'])} | {per} | {num(r['rare_acc_all'])} | "
                     f"{num(r['test_tie_rate'])} |")
    lines += ["", "GRPO training pairs per category and their density weights (the sampling arm draws pairs in "
              "proportion to the weight; the advantage arm scales each pair's advantages by it):", "",
              "| category | pairs | share of pairs | share of weight | mean weight |", "|---|---|---|---|---|"]
    lines += [f"| {c} | {w['pairs']} | {w['pair_share']:.3f} | {w['weight_share']:.3f} | {w['mean_weight']:.3f} |"
              for c, w in seed["density_weight_shares"].items()]
    return "\n".join(lines) + "\n"


COLUMNS = (("val_acc_all", "val acc_all"), ("test_acc_all", "test acc_all"), ("crowded_acc_all", "crowded acc"),
           ("rare_acc_all", "rare acc"), ("test_tie_rate", "test tie rate"), ("test_parse_fail_rate", "parse fail"))


def summarize(seeds: list[dict], models: list[str], baseline: str) -> tuple[str, dict]:
    """The table over seeds (markdown) and its numbers (mean/std/n per model and column, category, region)."""
    first = seeds[0]
    cats = list(first["weights"])
    n_regions = len(first["region_bounds"])
    agg: dict = {}
    for m in models:
        rows = [s["models"][m] for s in seeds]
        agg[m] = {key: stat([r[key] for r in rows]) for key, _ in COLUMNS}
        agg[m]["categories"] = {c: stat([r["categories"][c]["acc_all"] for r in rows]) for c in cats}
        agg[m]["regions"] = [stat([r["regions"][b] for r in rows]) for b in range(n_regions)]
    weight_share = {c: stat([s["density_weight_shares"].get(c, {}).get("weight_share") for s in seeds]) for c in cats}
    diffs = {m: {key: stat([s["models"][m][key] - s["models"][baseline][key] for s in seeds])
                 for key in ("test_acc_all", "crowded_acc_all", "rare_acc_all")}
             for m in models if m not in (baseline, "sft")}
    wins = {m: sum(s["models"][m]["rare_acc_all"] > s["models"][baseline]["rare_acc_all"] for s in seeds)
            for m in diffs}
    ids = ", ".join(s["seed"] for s in seeds)
    lines = ["# Density weighting on the skewed demo task", "",
             f"Seeds {ids} (mean ± std over seeds). Training pairs per category: "
             + ", ".join(f"{c} {first['weights'][c]:.1%}" for c in cats)
             + f". Crowded: **{first['crowded']}**; rare: {', '.join(first['rare'])} (pooled). Val and test are "
             "balanced. acc_all counts ties as 0.5 and parse failures as wrong. Scores read as: "
             f"{first['scoring']} (eval_bt --scoring).", "",
             "Share of the summed density weight per category (what the sampling arm draws; mean over seeds): "
             + ", ".join(f"{c} {fmt(w)}" for c, w in weight_share.items()) + ".", "",
             "| model | " + " | ".join(title for _, title in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    lines += [f"| {m} | " + " | ".join(fmt(agg[m][key]) for key, _ in COLUMNS) + " |" for m in models]
    lines += ["", f"Paired difference to the `{baseline}` arm (same seed, same SFT model):", "",
              "| arm | Δ test acc_all | Δ crowded acc | Δ rare acc | seeds with higher rare acc |",
              "|---|---|---|---|---|"]
    lines += [f"| {m} | {fmt(d['test_acc_all'], signed=True)} | {fmt(d['crowded_acc_all'], signed=True)} | "
              f"{fmt(d['rare_acc_all'], signed=True)} | {wins[m]} of {len(seeds)} |" for m, d in diffs.items()]
    lines += ["", "Test acc_all per asked category:", "", "| model | " + " | ".join(cats) + " |",
              "|---|" + "---|" * len(cats)]
    lines += [f"| {m} | " + " | ".join(fmt(agg[m]["categories"][c]) for c in cats) + " |" for m in models]
    lines += ["", f"Test acc_all per density region (quantile bins of each test prompt's mean cosine distance to its "
              f"k nearest train + test prompts; region 1 the most crowded, {n_regions} the most isolated):", "",
              "| model | " + " | ".join(f"region {b + 1}" for b in range(n_regions)) + " |",
              "|---|" + "---|" * n_regions]
    lines += [f"| {m} | " + " | ".join(fmt(x) for x in agg[m]["regions"]) + " |" for m in models]
    summary = {"seeds": seeds, "models": models, "baseline": baseline, "aggregate": agg, "diff_to_baseline": diffs,
               "seeds_rare_acc_above_baseline": wins, "density_weight_share": weight_share}
    return "\n".join(lines) + "\n", summary


def build_argparser() -> argparse.ArgumentParser:
    """The script's argument parser."""
    p = argparse.ArgumentParser(prog="python bench/density_demo_table.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="bench/density_demo.sh's OUT (holds seed<N>/)")
    p.add_argument("--seeds", nargs="+", required=True, help="seed numbers (OUT/seed<N>)")
    p.add_argument("--models", nargs="+", required=True,
                   help="labels of OUT/seed<N>/eval/<label>.{val,test}.json: sft and the arms")
    p.add_argument("--baseline", default="uniform", help="the arm the others are compared with (default uniform)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Write the per-seed category tables and the summary over seeds; returns the exit code."""
    args = build_argparser().parse_args(argv)

    def command() -> str:
        """Read every seed, write the tables, return the summary's markdown."""
        if args.baseline not in args.models:
            raise InputError(f"--baseline {args.baseline}: not among --models {args.models}")
        out = Path(args.out)
        loaded = {s: seed_results(out, s, args.models) for s in args.seeds}
        if len({scoring for _, scoring in loaded.values()}) > 1:
            raise InputError("the seeds' results were read with different --scoring: "
                             + ", ".join(f"seed {s} {sc}" for s, (_, sc) in loaded.items()))
        seeds = [seed_rows(out, s, args.models, *loaded[s]) for s in args.seeds]
        if len({json.dumps(s["weights"], sort_keys=True) for s in seeds}) > 1:
            raise InputError("the seeds' tasks have different category weights; one summary needs one task")
        for s in seeds:
            d = out / f"seed{s['seed']}"
            with atomic_write(d / "categories.md") as f:
                f.write(category_table(s, args.models))
            write_json(d / "categories.json", manifest_base(kind="density_demo_categories", **s))
        text, summary = summarize(seeds, args.models, args.baseline)
        with atomic_write(out / "density_summary.md") as f:
            f.write(text)
        write_json(out / "density_summary.json", manifest_base(kind="density_demo_summary", **summary))
        return text

    return run_cli(command)


if __name__ == "__main__":
    sys.exit(main())
