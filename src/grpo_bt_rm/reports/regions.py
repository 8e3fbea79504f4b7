"""Judge accuracy per density region: bin evaluated pairs by their prompt's k-NN distance, compare models per bin.

    python -m grpo_bt_rm.density.compute --in train.jsonl --in test.jsonl --out_dir D   # test prompts included
    python -m grpo_bt_rm.reports.regions --weights D --dataset test.jsonl \\
        --completions uniform=uni.completions.jsonl --completions density=dens.completions.jsonl --out_dir R

`--dataset` is the evaluated pointwise file (built with --add_meta) that maps eval pair keys to prompt ids; the
completions are eval_bt --save_completions files. Bins are quantiles of knn_mean_dist over the evaluated pairs:
bin 1 holds the most crowded prompts, the last bin the most isolated. Writes regions.md and regions.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grpo_bt_rm.argtypes import COUNT, POSITIVE
from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.data.pairs import pair_key
from grpo_bt_rm.data.pointwise import read_pointwise
from grpo_bt_rm.density.attach import check_metadata
from grpo_bt_rm.density.inputs import row_prompt_id
from grpo_bt_rm.eval.completions import read_completions, to_pair_scores
from grpo_bt_rm.eval.expected_score import SCORINGS
from grpo_bt_rm.eval.metrics import pair_metrics
from grpo_bt_rm.io import (
    InputError,
    SettingsError,
    atomic_write,
    iter_jsonl,
    manifest_base,
    sha256_file,
    where,
    write_json,
)
from grpo_bt_rm.parsing import get_parser
from grpo_bt_rm.paths import default_path
from grpo_bt_rm.reports.diversity import parse_labelled
from grpo_bt_rm.settings import check_lower_bounds, settings_from_args

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegionsSettings:
    """The report's settings, one field per flag; `out_dir` None means $GRPO_BT_RM_BASE_DIR/regions.

    Raises:
        SettingsError: --bins < 1, --bt_temp <= 0 or an unknown --scoring.
    """

    weights: str
    dataset: str
    completions: tuple[str, ...]
    bins: int = 4
    parser: str | None = None
    bt_temp: float = 20.0
    out_dir: str | None = None
    scoring: str = "text"

    def __post_init__(self) -> None:
        object.__setattr__(self, "completions", tuple(self.completions))
        if self.scoring not in SCORINGS:
            raise SettingsError(f"--scoring {self.scoring!r}: expected one of {', '.join(SCORINGS)}")
        if self.out_dir is None:
            object.__setattr__(self, "out_dir", str(default_path("regions")))
        check_lower_bounds(self, (("bins", 1),))
        if not self.bt_temp > 0:
            raise SettingsError(f"--bt_temp must be > 0, got {self.bt_temp}")


def load_knn(path: str | Path) -> dict[str, float]:
    """prompt_id -> knn_mean_dist (cosine distance, mean over the k nearest prompts) from a density.compute output.

    Args:
        path: the density.compute --out_dir, or its weights.jsonl.

    Raises:
        InputError: no weights.jsonl, a malformed line, or a weights file that disagrees with its metadata.json.
    """
    path = Path(path)
    file = path / "weights.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"--weights {path}: no weights.jsonl there (run python -m grpo_bt_rm.density.compute)")
    out = {}
    for lineno, obj in iter_jsonl(file):
        d = obj.get("knn_mean_dist")
        if not isinstance(obj.get("prompt_id"), str) or not isinstance(d, (int, float)):
            raise InputError(f"{where(file, lineno)}: expected prompt_id (string) and knn_mean_dist (number)")
        out[obj["prompt_id"]] = float(d)
    check_metadata(file, len(out))  # weights and metadata.json from one density.compute run
    return out


def pair_prompts(dataset: str) -> tuple[dict[str, str], str | None]:
    """pair_key -> prompt_id from a pointwise file with meta columns, plus its parser_name (if uniform)."""
    keys: dict[str, str] = {}
    parsers = set()
    for lineno, row in read_pointwise(dataset):
        loc = where(dataset, lineno)
        missing = [f for f in ("dataset", "split", "source_index") if row.get(f) is None]
        if missing:
            raise InputError(f"{loc}: field {missing[0]!r} missing (build the dataset with --add_meta)")
        keys[pair_key(row["dataset"], row["split"], row["source_index"])] = row_prompt_id(row, loc)
        if row.get("parser_name"):
            parsers.add(row["parser_name"])
    return keys, (parsers.pop() if len(parsers) == 1 else None)


def region_edges(dists: np.ndarray, bins: int) -> np.ndarray:
    """Inner quantile edges of the distances (bins - 1 values); bin i holds edges[i-1] < d <= edges[i]."""
    return np.quantile(dists, np.linspace(0, 1, bins + 1)[1:-1]) if bins > 1 else np.array([])


def run(args: RegionsSettings) -> dict:
    """Bin the evaluated pairs by density, score each model per bin, write regions.md and regions.json (returned).

    Raises:
        InputError: unreadable inputs, a pair or prompt missing from --dataset / --weights, no parser to use.
    """
    files = parse_labelled(list(args.completions), minimum=1)
    knn = load_knn(args.weights)
    keys, dataset_parser = pair_prompts(args.dataset)
    parser_name = args.parser or dataset_parser
    if not parser_name:
        raise InputError("--parser: the dataset has no single parser_name column; name the parser")
    parser = get_parser(parser_name)
    records = {lab: read_completions(path, args.scoring) for lab, path in files.items()}
    evaluated = sorted({r["pair_key"] for recs in records.values() for r in recs})
    dist_of: dict[str, float] = {}
    for key in evaluated:
        if key not in keys:
            raise InputError(f"pair {key!r} of the completions is not in --dataset {args.dataset}")
        pid = keys[key]
        if pid not in knn:
            raise InputError(f"prompt {pid} (pair {key}) is not in --weights {args.weights}: compute the density "
                             "with the evaluated file among the --in inputs")
        dist_of[key] = knn[pid]
    edges = region_edges(np.array([dist_of[k] for k in evaluated]), args.bins)
    region_of = {k: int(np.searchsorted(edges, d, side="left")) for k, d in dist_of.items()}
    bounds = [-np.inf, *edges.tolist(), np.inf]
    regions = []
    for b in range(args.bins):
        row = {"region": b + 1, "knn_mean_dist": [float(bounds[b]), float(bounds[b + 1])], "models": {}}
        for lab, recs in records.items():
            pairs = [to_pair_scores(r, parser, args.scoring) for r in recs if region_of[r["pair_key"]] == b]
            if not pairs:
                row["models"][lab] = {"n_pairs": 0}
                continue
            m = pair_metrics(pairs, bt_temp=args.bt_temp, n_boot=200)
            row["models"][lab] = {k: m[k] for k in ("n_pairs", "acc_all", "acc_parsed", "parse_fail_rate",
                                                      "logloss_all", "acc_ci95")}
        regions.append(row)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "regions.md") as f:
        f.write(render(regions, list(files)))
    payload = manifest_base(kind="density_regions", bins=args.bins, parser=parser_name, scoring=args.scoring,
                            bt_temp=args.bt_temp,
                            weights=str(args.weights), dataset={"path": args.dataset,
                                                                "sha256": sha256_file(args.dataset)},
                            inputs={lab: {"path": p, "sha256": sha256_file(p)} for lab, p in files.items()},
                            regions=regions)
    write_json(out / "regions.json", payload)
    return payload


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def render(regions: list[dict], labels: list[str]) -> str:
    """regions.md: per density region, its distance span, pair count, and each model's acc_all and parse-fail rate."""
    lines = ["# Judge accuracy per density region", "",
             "Regions are quantile bins of each evaluated prompt's mean cosine distance to its k nearest prompts: "
             "region 1 is the most crowded, the last region the most isolated. acc_all counts pairs with a "
             "side that never parsed as wrong; ties count 0.5 (see eval.metrics).", "",
             "| region | knn_mean_dist | pairs | " + " | ".join(f"acc_all {lab}" for lab in labels) + " | "
             + " | ".join(f"parse fail {lab}" for lab in labels) + " |",
             "| --- | --- | ---: | " + " | ".join("---:" for _ in labels * 2) + " |"]
    for r in regions:
        lo, hi = r["knn_mean_dist"]
        span = "all" if np.isinf(lo) and np.isinf(hi) else (
            f"≤ {hi:.3f}" if np.isinf(lo) else f"> {lo:.3f}" if np.isinf(hi) else f"{lo:.3f} – {hi:.3f}")
        n = max(m.get("n_pairs", 0) for m in r["models"].values())
        accs = " | ".join(_fmt(r["models"][lab].get("acc_all")) for lab in labels)
        fails = " | ".join(_fmt(r["models"][lab].get("parse_fail_rate")) for lab in labels)
        lines.append(f"| {r['region']} | {span} | {n} | {accs} | {fails} |")
    return "\n".join(lines) + "\n"


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.reports.regions` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.reports.regions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True,
                   help="density.compute --out_dir whose prompts include the evaluated ones (or its weights.jsonl)")
    p.add_argument("--dataset", required=True, help="the evaluated pointwise JSONL (with --add_meta columns)")
    p.add_argument("--completions", action="append", required=True, metavar="LABEL=PATH",
                   help="eval_bt --save_completions file of one model, repeatable")
    p.add_argument("--bins", type=COUNT, default=4, help="number of density regions (quantile bins, default 4)")
    p.add_argument("--parser", default=None,
                   help="score parser for the completions (default: the dataset's parser_name column)")
    p.add_argument("--bt_temp", type=POSITIVE, default=20.0, help="BT temperature for the log-loss (default 20)")
    p.add_argument("--scoring", choices=SCORINGS, default="text",
                   help="how each sample's score is read, as eval_bt's --scoring (expected needs completions with "
                   "digit log-probabilities)")
    p.add_argument("--out_dir", default=None, help="output directory (default $GRPO_BT_RM_BASE_DIR/regions)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: compare models' accuracy by density region; returns the exit code."""
    args = build_argparser().parse_args(argv)

    def command() -> str:
        """Build the settings from the flags, write the regions report and return its summary line."""
        settings = settings_from_args(RegionsSettings, args)
        payload = run(settings)
        return (f"wrote {settings.out_dir}/regions.md and regions.json ({len(payload['regions'])} regions, "
                f"{len(payload['inputs'])} models)")

    return run_cli(command)


if __name__ == "__main__":
    sys.exit(main())
