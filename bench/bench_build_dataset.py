"""Benchmark the pointwise builder on synthetic HH-format rows (default 160,000); prints rows/s and a ratio.

    .venv/bin/python bench/bench_build_dataset.py [--rows 160000]

Side by side in one run: (a) a floor loop that only reads and json-decodes every raw line, (b) the full
`python -m grpo_bt_rm.data.build_dataset` in-process (adapter, HH parsing, prompt rendering, JSONL + manifest).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT
from grpo_bt_rm.data.build_dataset import main as build_main


def write_raw(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    words = "the a of to and help please explain why how what when you can could would answer question".split()
    with open(path, "w") as f:
        for i in range(n):
            turns = rng.randint(1, 3)
            prefix = ""
            for t in range(turns):
                prefix += f"\n\nHuman: {' '.join(rng.choices(words, k=12))} #{i}.{t}"
                if t < turns - 1:
                    prefix += f"\n\nAssistant: {' '.join(rng.choices(words, k=20))}"
            chosen = prefix + f"\n\nAssistant: {' '.join(rng.choices(words, k=40))}"
            rejected = prefix + f"\n\nAssistant: {' '.join(rng.choices(words, k=25))} x"
            f.write(json.dumps({"chosen": chosen, "rejected": rejected}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=COUNT, default=160_000, help="synthetic raw HH rows (pairs) to build from")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        raw = Path(d) / "hh_raw.jsonl"
        write_raw(raw, args.rows)
        t0 = time.perf_counter()
        with open(raw) as f:
            n = sum(1 for line in f if json.loads(line))
        floor = time.perf_counter() - t0
        t0 = time.perf_counter()
        rc = build_main(["--dataset", "anthropic_hh", "--split", "train", "--data_files", str(raw), "--prompt",
                         "hh_score100_v1", "--add_meta", "--out", str(Path(d) / "out.jsonl")])
        full = time.perf_counter() - t0
        assert rc == 0
        out_rows = sum(1 for _ in open(Path(d) / "out.jsonl"))
    print(f"raw rows: {n}   pointwise rows written: {out_rows}")
    print(f"read+json.loads floor : {floor:7.2f} s  ({n / floor:,.0f} raw rows/s)")
    print(f"build_dataset (full)  : {full:7.2f} s  ({n / full:,.0f} raw rows/s, {out_rows / full:,.0f} out rows/s)")
    print(f"ratio full/floor      : {full / floor:.2f}x   target: full < 30 s -> {'OK' if full < 30 else 'MISSED'}")


if __name__ == "__main__":
    main()
