"""Add a `density_weight` column to every row of a pointwise dataset, from a density.compute output directory.

    python -m grpo_bt_rm.density.attach --in hh_train.jsonl --weights runs/density/hh --out hh_train_dw.jsonl

Both sides of a pair share a prompt, so they get the same weight. A prompt id absent from the weights is an
error naming it. Writes <out> atomically plus <out>.manifest.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.data.pointwise import read_pointwise
from grpo_bt_rm.density.inputs import row_prompt_id
from grpo_bt_rm.io import (
    InputError,
    iter_jsonl,
    manifest_base,
    read_text,
    sha256_file,
    where,
    write_with_manifest,
)

log = logging.getLogger(__name__)

COLUMN = "density_weight"


def load_weights(path: str | Path) -> tuple[dict[str, float], Path]:
    """prompt_id -> weight from `weights.jsonl` (given the file or its directory)."""
    path = Path(path)
    file = path / "weights.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"--weights {path}: no weights.jsonl there (run python -m grpo_bt_rm.density.compute)")
    weights: dict[str, float] = {}
    for lineno, obj in iter_jsonl(file):
        pid, w = obj.get("prompt_id"), obj.get("weight")
        if not isinstance(pid, str):
            raise InputError(f"{where(file, lineno, 'prompt_id')}: expected a string")
        if not isinstance(w, (int, float)) or not w > 0:
            raise InputError(f"{where(file, lineno, 'weight')}: expected a positive number, got {w!r}")
        weights[pid] = float(w)
    check_metadata(file, len(weights))
    return weights, file


def check_metadata(file: Path, n_prompts: int) -> dict:
    """The metadata.json beside `file` must describe it: same sha256 (or, for outputs that predate it, the same
    prompt count). Mismatched files (e.g. a half-written out dir) are refused."""
    meta_path = file.parent / "metadata.json"
    if not meta_path.is_file():
        raise InputError(f"{file}: no metadata.json beside it; weights without their metadata are not used "
                         "(rerun python -m grpo_bt_rm.density.compute)")
    try:
        meta = json.loads(read_text(meta_path))
    except json.JSONDecodeError as e:
        raise InputError(f"{meta_path}: invalid JSON ({e.msg} at line {e.lineno})") from None
    recorded = (meta.get("files") or {}).get(file.name) if isinstance(meta, dict) else None
    count = ((meta.get("counts") or {}).get("prompts") if isinstance(meta, dict) else None)
    if recorded is not None and recorded != sha256_file(file):
        raise InputError(f"{file} and {meta_path} do not belong together (sha256 of {file.name} is not the one "
                         "recorded); rerun python -m grpo_bt_rm.density.compute")
    if count != n_prompts:
        raise InputError(f"{file} and {meta_path} do not belong together: {n_prompts} prompts in the weights, "
                         f"field 'counts.prompts' says {count!r}; rerun python -m grpo_bt_rm.density.compute")
    return meta


def attach(in_path: str, weights: dict[str, float], out_path: str, renormalize: bool = False,
           manifest=None) -> dict:
    """Write `in_path` rows with `density_weight` to `out_path` (and `manifest(written_file, stats)` beside it, as one
    unit); returns counts and the mean weight over pairs."""
    rows: list[dict] = []
    pair_weight: dict = {}
    missing: dict[str, str] = {}
    for lineno, row in read_pointwise(in_path):
        loc = where(in_path, lineno)
        pid = row_prompt_id(row, loc)
        if pid not in weights:
            missing.setdefault(pid, loc)
            continue
        w = weights[pid]
        key = row.get("pair_id", ("row", lineno))
        if key in pair_weight and pair_weight[key] != w:
            raise InputError(f"{where(in_path, lineno, 'prompt_id')}: pair {key} has two different prompts "
                             f"(weights {pair_weight[key]} and {w})")
        pair_weight[key] = w
        row[COLUMN] = w
        rows.append(row)
    if missing:
        shown = ", ".join(f"{pid} (first at {loc})" for pid, loc in list(missing.items())[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InputError(f"{len(missing)} prompt id(s) of {in_path} are not in the weights: {shown}{more}; "
                         "recompute the weights on this file")
    if not rows:
        raise InputError(f"{in_path}: no rows")
    mean = sum(pair_weight.values()) / len(pair_weight)
    factor = 1.0 / mean if renormalize else 1.0
    stats = {"rows": len(rows), "pairs": len(pair_weight), "mean_weight_over_pairs": mean * factor,
             "mean_before_renormalize": mean, "renormalized": renormalize,
             "min": min(pair_weight.values()) * factor, "max": max(pair_weight.values()) * factor}

    def write_rows(f) -> None:
        """Write each row with its `density_weight` multiplied by the renormalisation factor."""
        for row in rows:
            row[COLUMN] = row[COLUMN] * factor
            f.write(json.dumps(row, ensure_ascii=False))
            f.write("\n")

    write_with_manifest(out_path, write_rows, lambda written: (manifest or (lambda *_: {}))(written, stats))
    return stats


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.density.attach` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.density.attach", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in", dest="inp", required=True, help="pointwise JSONL from build_dataset")
    p.add_argument("--weights", required=True, help="density.compute --out_dir (or its weights.jsonl)")
    p.add_argument("--out", required=True, help="output JSONL (written atomically, plus <out>.manifest.json)")
    p.add_argument("--renormalize", action="store_true",
                   help="rescale so the weights average 1 over this file's pairs (useful when the weights were "
                   "computed on a larger pool than this file)")
    return p


def attach_files(inp: str, weights_path: str, out: str, renormalize: bool = False) -> str:
    """Attach the weights at `weights_path` to the pointwise file `inp`, write `out` (+ manifest).

    Returns:
        The one-line report: rows, pairs and the weight range written.

    Raises:
        InputError: unreadable inputs, a weights file whose metadata disagrees with it, or rows without weights.
    """
    t0 = time.time()
    weights, wfile = load_weights(weights_path)
    meta = check_metadata(wfile, len(weights))
    stats = attach(inp, weights, out, renormalize=renormalize,
                   manifest=lambda written, stats: manifest_base(
                       kind="density_attached_dataset",
                       input={"path": inp, "sha256": sha256_file(inp)},
                       weights={"path": str(wfile), "sha256": sha256_file(wfile), "metadata": meta},
                       output={"path": out, "sha256": sha256_file(written)},
                       column=COLUMN,
                       seconds=round(time.time() - t0, 3),
                       **stats))
    if abs(stats["mean_before_renormalize"] - 1.0) > 0.05 and not renormalize:
        log.warning("mean weight over this file's pairs is %.3f, not 1: the weights were computed on other data "
                    "(pass --renormalize to rescale)", stats["mean_before_renormalize"])
    return (f"wrote {out}: {stats['rows']} rows, {stats['pairs']} pairs, weight {stats['min']:.3f}.."
            f"{stats['max']:.3f}, mean over pairs {stats['mean_weight_over_pairs']:.3f}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: add density weights to a pointwise file; returns the exit code (2 on bad input)."""
    args = build_argparser().parse_args(argv)
    return run_cli(lambda: attach_files(args.inp, args.weights, args.out, args.renormalize))


if __name__ == "__main__":
    sys.exit(main())
