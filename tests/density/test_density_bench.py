"""bench/bench_density.py runs (tiny sizes) and reports the fields docs/bench_density.md quotes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_knn_case_reports_time_memory_and_recall():
    proc = subprocess.run([sys.executable, str(ROOT / "bench/bench_density.py"), "knn", "--n", "2000", "--index",
                           "hnsw", "--recall_queries", "300"], capture_output=True, text=True,
                          timeout=300, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["n"] == 2000 and res["index"] == "hnsw" and res["recall_queries"] == 300
    assert 0.0 <= res["recall_at_k"] <= 1.0 and res["knn_dist_rel_err_mean"] < 0.2
    assert res["seconds"] >= 0 and res["cpu_seconds"] >= 0 and 0 < res["peak_rss_gb"] < 4
    assert res["weight_max"] / res["weight_min"] <= 100 * (1 + 1e-9)
