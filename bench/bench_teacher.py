"""Teacher throughput against the local mock API with injected latency: --concurrency 32 vs --concurrency 1.

    .venv/bin/python bench/bench_teacher.py [--requests 500 --latency 0.2 --concurrency 32 --backend openai]

Runs the real CLI (real SDK client, results appended and fsynced, summary written) against
`python -m grpo_bt_rm.testing.mock_server` in a separate process, and reports requests/s for each
concurrency, their ratio, and the fraction of the ideal throughput (concurrency / latency).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from grpo_bt_rm.teacher.generate import main as generate_main


def _hh_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        q = f"\n\nHuman: What is {i} plus {i}?"
        rows.append({"chosen": q + f"\n\nAssistant: {i} plus {i} is {2 * i}.", "rejected": q + "\n\nAssistant: No."})
    return rows


def _run(url: str, data: Path, out: Path, backend: str, concurrency: int, pairs: int) -> dict:
    suffix = "/v1" if backend == "openai" else ""
    argv = ["--backend", backend, "--model", f"bench-c{concurrency}", "--base_url", url + suffix,
            "--dataset", "anthropic_hh", "--split", "train", "--data_files", str(data), "--n_pairs", str(pairs),
            "--concurrency", str(concurrency), "--output_dir", str(out), "--no_progress", "--log_level", "WARNING"]
    rc = generate_main(argv)
    if rc != 0:
        raise SystemExit(f"teacher run failed with exit code {rc}")
    summary = json.loads(next(out.glob(f"*_bench-c{concurrency}/summary.json")).read_text())
    run = summary["this_run"]
    return {"concurrency": concurrency, "requests": run["requests"], "wall_s": round(run["wall_s"], 3),
            "req_per_s": round(run["requests"] / run["wall_s"], 2), "records": summary["records"],
            "errors": summary["errors"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=500, help="requests per run (2 per pair; default 500)")
    p.add_argument("--serial_requests", type=int, help="requests for the --concurrency 1 run (default: --requests)")
    p.add_argument("--latency", type=float, default=0.2, help="server latency per request in seconds (default 0.2)")
    p.add_argument("--concurrency", type=int, default=32, help="concurrency of the parallel run (default 32)")
    p.add_argument("--backend", default="openai", choices=["openai", "anthropic", "gemini"], help="SDK to use")
    p.add_argument("--json_out", help="also write the result JSON here")
    args = p.parse_args(argv)

    server = subprocess.Popen([sys.executable, "-m", "grpo_bt_rm.testing.mock_server", "--latency",
                               str(args.latency)], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split(" on ")[1].split(" ")[0]
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "hh.jsonl"
            pairs = max(args.requests, args.serial_requests or 0) // 2
            data.write_text("".join(json.dumps(r) + "\n" for r in _hh_rows(pairs)))
            fast = _run(url, data, Path(tmp) / "out", args.backend, args.concurrency, args.requests // 2)
            slow = _run(url, data, Path(tmp) / "out", args.backend, 1, (args.serial_requests or args.requests) // 2)
    finally:
        server.kill()
        server.wait()
    ideal = args.concurrency / args.latency
    result = {
        "latency_s": args.latency, "backend": args.backend, "parallel": fast, "serial": slow,
        "throughput_ratio": round(fast["req_per_s"] / slow["req_per_s"], 2),
        "ideal_req_per_s": ideal, "fraction_of_ideal": round(fast["req_per_s"] / ideal, 3),
        "serial_fraction_of_ideal": round(slow["req_per_s"] * args.latency, 3),
    }
    print(json.dumps(result, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
