"""Benchmark density weighting: k-NN weights on random 384-d vectors (exact vs approximate) and embedding speed.

    python bench/bench_density.py                      # the default plan: 100k exact + ivf, 1M ivf, embedding
    python bench/bench_density.py knn --n 100000 --index ivf --recall_queries 20000
    python bench/bench_density.py embed --n 2000

Each k-NN case runs in its own process so its peak RSS (ru_maxrss) is its own. The timed part is what
`density.compute` does after embedding: build the index, search k neighbours of every vector, compute the
weights. Recall@k compares the approximate neighbours of a random query subset with exact neighbours over the
full set (brute force, not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from grpo_bt_rm.argtypes import COUNT, SEED, int_at_least

DIM = 384


def make_vectors(n: int, data: str, seed: int = 0, dim: int = DIM) -> np.ndarray:
    """float32 vectors, generated in chunks: 'gaussian' (isotropic, no structure: the worst case for any index)
    or 'clustered' (n/1000 Gaussian clusters with per-cluster scales, closer to real sentence embeddings)."""
    rng = np.random.default_rng(seed)
    x = np.empty((n, dim), dtype=np.float32)
    if data == "clustered":
        n_c = max(10, n // 1000)
        centres = rng.standard_normal((n_c, dim), dtype=np.float32)
        scales = rng.uniform(0.2, 0.8, n_c).astype(np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        x[s:e] = rng.standard_normal((e - s, dim), dtype=np.float32)
        if data == "clustered":
            c = rng.integers(0, n_c, e - s)
            x[s:e] *= scales[c, None]
            x[s:e] += centres[c]
    return x


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux reports KiB


def run_knn(args) -> dict:
    from grpo_bt_rm.density.knn import IndexSpec, density_weights, knn_search, normalize_rows

    x = normalize_rows(make_vectors(args.n, args.data, args.seed), inplace=True)
    rss_data = peak_rss_gb()
    spec = IndexSpec(kind=args.index, nprobe=args.nprobe, nlist=args.nlist, ef_search=args.ef_search)
    t0, c0 = time.time(), cpu_seconds()
    ids, sims, kind = knn_search(x, args.k, spec, seed=args.seed)
    dist = np.clip(1.0 - sims.astype(np.float64), 0, 2).mean(axis=1)
    w = density_weights(dist, max_ratio=100)
    seconds, cpu = time.time() - t0, cpu_seconds() - c0
    out = {"case": "knn", "n": args.n, "dim": DIM, "data": args.data, "index": kind, "k": args.k,
           "nprobe": args.nprobe if kind == "ivf" else None,
           "ef_search": args.ef_search if kind == "hnsw" else None, "seconds": round(seconds, 1),
           "cpu_seconds": round(cpu, 1), "peak_rss_gb": round(peak_rss_gb(), 2),
           "rss_after_data_gb": round(rss_data, 2),
           "weight_min": float(w.min()), "weight_max": float(w.max()), "threads": os.cpu_count(),
           "load_avg_1m": round(os.getloadavg()[0], 1)}
    if args.recall_queries and kind != "exact":
        import faiss

        rng = np.random.default_rng(args.seed + 1)
        q = np.sort(rng.choice(args.n, size=min(args.recall_queries, args.n), replace=False))
        flat = faiss.IndexFlatIP(DIM)
        flat.add(x)
        t1 = time.time()
        ex_s, ex_i = flat.search(x[q], args.k + 1)
        ex_s = np.where(ex_i == q[:, None], -np.inf, ex_s)
        order = np.argsort(-ex_s, axis=1)[:, : args.k]
        ex_i = np.take_along_axis(ex_i, order, axis=1)
        ex_d = 1.0 - np.take_along_axis(ex_s, order, axis=1).mean(axis=1)
        recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(ex_i, ids[q], strict=True)])
        rel_err = np.abs(dist[q] - ex_d) / np.maximum(ex_d, 1e-9)
        out.update(recall_at_k=round(float(recall), 4), recall_queries=len(q),
                   knn_dist_rel_err_mean=float(rel_err.mean()), knn_dist_rel_err_max=float(rel_err.max()),
                   exact_subset_seconds=round(time.time() - t1, 1))
    return out


def synthetic_prompts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = ("how what why can could would explain write summarize recipe python error tax travel history "
             "health garden music code loop list money loan city river climate poem story email letter friend "
             "job interview sleep dog cat car engine bike train language grammar french spanish math proof "
             "derivative integral quantum market stock chess game movie book review").split()
    return [" ".join(rng.choice(vocab, size=int(rng.integers(8, 80)))) + "?" for _ in range(n)]


def run_embed(args) -> dict:
    from grpo_bt_rm.density.embed import DEFAULT_EMBEDDER, get_embedder

    texts = synthetic_prompts(args.n, args.seed)
    t0 = time.time()
    emb = get_embedder(args.embedder or DEFAULT_EMBEDDER)
    load = time.time() - t0
    emb.encode(texts[:64], batch_size=64)  # warm-up
    t1, c1 = time.time(), cpu_seconds()
    emb.encode(texts, batch_size=args.batch_size)
    secs, cpu = time.time() - t1, cpu_seconds() - c1
    words = sum(len(t.split()) for t in texts)
    return {"case": "embed", "embedder": emb.name, "n": args.n, "batch_size": args.batch_size,
            "mean_words": round(words / len(texts), 1), "load_seconds": round(load, 1),
            "seconds": round(secs, 1), "cpu_seconds": round(cpu, 1), "prompts_per_s": round(args.n / secs, 1),
            "peak_rss_gb": round(peak_rss_gb(), 2), "load_avg_1m": round(os.getloadavg()[0], 1)}


DEFAULT_PLAN = [
    ["knn", "--n", "1000000", "--index", "ivf", "--recall_queries", "2000"],
    ["knn", "--n", "1000000", "--index", "hnsw", "--recall_queries", "2000"],
    ["knn", "--n", "100000", "--index", "hnsw", "--recall_queries", "20000"],
    ["knn", "--n", "100000", "--index", "ivf", "--recall_queries", "20000"],
    ["knn", "--n", "100000", "--index", "exact"],
    ["embed", "--n", "2000"],
]


def build_argparser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python bench/bench_density.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("case", nargs="?", choices=["plan", "knn", "embed"], default="plan",
                   help="plan (default): run the default cases, each in a subprocess; knn or embed: one case")
    p.add_argument("--n", type=COUNT, default=100_000, help="vectors (knn) or prompts (embed)")
    p.add_argument("--index", choices=["exact", "ivf", "hnsw"], default="ivf", help="faiss index for knn")
    p.add_argument("--data", choices=["clustered", "gaussian"], default="clustered", help="random vector layout")
    p.add_argument("--k", type=COUNT, default=10, help="neighbours (default 10)")
    p.add_argument("--nprobe", type=COUNT, default=8, help="IVF lists probed (default 8, as density.compute)")
    p.add_argument("--nlist", type=COUNT, default=None, help="IVF lists (default sqrt(n))")
    p.add_argument("--ef_search", type=COUNT, default=64, help="HNSW search breadth (default 64)")
    p.add_argument("--recall_queries", type=int_at_least(0), default=0,
                   help="queries checked against exact search (0: skip)")
    p.add_argument("--embedder", default=None, help="embedder for the embed case (default all-MiniLM-L6-v2)")
    p.add_argument("--batch_size", type=COUNT, default=128, help="embedding batch size (default 128)")
    p.add_argument("--seed", type=SEED, default=0, help="seed for the random data")
    p.add_argument("--out_json", default=None, help="plan: also append each result as a JSON line to this file")
    return p


def main(argv=None) -> int:
    args = build_argparser().parse_args(argv)
    if args.case == "knn":
        print(json.dumps(run_knn(args)), flush=True)
        return 0
    if args.case == "embed":
        print(json.dumps(run_embed(args)), flush=True)
        return 0
    for case in DEFAULT_PLAN:
        cmd = [sys.executable, str(Path(__file__).resolve()), *case]
        print("$", " ".join(cmd[1:]), file=sys.stderr, flush=True)
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr[-2000:], file=sys.stderr)
            continue
        line = res.stdout.strip().splitlines()[-1]
        print(line, flush=True)
        if args.out_json:
            with open(args.out_json, "a") as f:
                f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
