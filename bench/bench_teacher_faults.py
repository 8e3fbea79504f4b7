"""Request counts and recorded values for the teacher's fault cases (issue 11), against the mock server.

    .venv/bin/python bench/bench_teacher_faults.py                            # this checkout only
    git archive <old-commit> src | tar -x -C /tmp/before
    .venv/bin/python bench/bench_teacher_faults.py --before_src /tmp/before/src  # before and after

Each case runs the real CLI in a subprocess (PYTHONPATH = the source tree under test) against an in-process
`MockServer` from this checkout, so the same faults reach the old and the new client.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_teacher import _hh_rows

from grpo_bt_rm.testing.mock_server import Faults, MockServer

SUFFIX = {"openai": "/v1", "anthropic": "", "gemini": ""}
NEW_SRC = str(Path(__file__).resolve().parents[1] / "src")


def _cli(src: str, url: str, files: list[Path], out: Path, backend: str, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "grpo_bt_rm.teacher.generate", "--backend", backend, "--model", "mock-1",
            "--base_url", url + SUFFIX[backend], "--dataset", "anthropic_hh", "--split", "train",
            "--data_files", *map(str, files), "--output_dir", str(out), "--no_progress", "--log_level", "ERROR",
            *extra]
    return subprocess.Popen(argv, env={**os.environ, "PYTHONPATH": src}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _run(*args, **kw) -> int:
    return _cli(*args, **kw).wait(timeout=600)


def _records(out: Path, backend: str) -> list[dict]:
    path = next(out.glob(f"*_{backend}_mock-1/results.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def cases(src: str, tmp: Path) -> dict:
    rows = _hh_rows(80)
    data = [_write(tmp / "hh.jsonl", rows)]
    res: dict = {}
    for backend in ("openai", "gemini"):
        with MockServer(Faults(always_status=429, quota=True)) as s:
            rc = _run(src, s.url, data, tmp / f"quota_{backend}", backend, "--n_pairs", "8",
                      "--retry_base_delay", "0.01", "--max_backoff", "0.05")
        res[f"quota_used_up_{backend}_8_pairs"] = {"requests": s.stats.requests, "exit": rc}
    with MockServer(Faults(plan=[429], body_retry_delay=3)) as s:
        _run(src, s.url, data, tmp / "delay", "gemini", "--n_pairs", "1", "--concurrency", "1")
    res["gemini_body_retry_delay_3s"] = {"first_retry_after_s": round(s.stats.times[1] - s.stats.times[0], 2)}
    with MockServer(Faults(malformed="example", cut_at=60)) as s:
        _run(src, s.url, data, tmp / "cut", "anthropic", "--n_pairs", "2", "--prompt", "hh_score100_v3")
    recs = _records(tmp / "cut", "anthropic")
    res["cut_off_after_example_tag"] = {"scores": sorted({str(r[f"score{i}"]) for r in recs for i in (0, 1)}),
                                        "parse_failures": recs[0]["parse_failures"]}
    with MockServer(Faults(cut_at=0, thinking_tokens=512)) as s:
        _run(src, s.url, data, tmp / "think", "gemini", "--n_pairs", "1")
    res["gemini_thinking_used_whole_budget"] = {"requests": s.stats.requests,
                                                "parse_failures": _records(tmp / "think", "gemini")[0]["parse_failures"]}
    with MockServer(Faults(thinking_tokens=400)) as s:
        _run(src, s.url, data, tmp / "bill", "gemini", "--n_pairs", "1", "--price_in", "0.30", "--price_out", "2.50")
    summary = json.loads(next((tmp / "bill").glob("*/summary.json")).read_text())
    billed = (s.stats.input_tokens * 0.30 + s.stats.output_tokens * 2.50) / 1e6
    res["thinking_400_per_request_cost_usd"] = {"reported": summary["estimated_cost_usd"], "billed": round(billed, 6)}
    with MockServer(Faults(blocked="output")) as s:
        _run(src, s.url, data, tmp / "blocked", "openai", "--n_pairs", "4")
    res["openai_content_filter_4_pairs"] = {"requests": s.stats.requests,
                                            "parse_failures": _records(tmp / "blocked", "openai")[0]["parse_failures"]}
    a, b = _write(tmp / "a.jsonl", rows[:3]), _write(tmp / "b.jsonl", rows[3:6])
    with MockServer() as s:
        _run(src, s.url, [a, b], tmp / "order", "openai", "--n_pairs", "2", "--no_shuffle")
        rc = _run(src, s.url, [b, a], tmp / "order", "openai", "--resume", "--no_shuffle")
    res["resume_with_files_reordered"] = {"exit": rc, "records": len(_records(tmp / "order", "openai"))}
    with MockServer(Faults(latency_s=0.02)) as s:
        procs = [_cli(src, s.url, data, tmp / "overlap", "openai", "--n_pairs", "40", "--concurrency", "4",
                      "--resume") for _ in range(3)]
        codes = [p.wait(timeout=600) for p in procs]
    res["three_overlapping_runs_40_pairs"] = {"answers_paid": s.stats.requests, "needed": 80, "exit_codes": codes}
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before_src", help="an older checkout's src/ to measure first (e.g. from git archive)")
    p.add_argument("--json_out", help="also write the result JSON here")
    args = p.parse_args(argv)
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, src in (("before", args.before_src), ("after", NEW_SRC)):
            if src:
                (Path(tmp) / label).mkdir()
                result[label] = cases(src, Path(tmp) / label)
    print(json.dumps(result, indent=1))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
