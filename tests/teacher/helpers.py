"""Shared helpers for the teacher tests: raw HH files, an in-process run of the CLI, and reading its outputs."""

from __future__ import annotations

import json
from pathlib import Path

from grpo_bt_rm.teacher.generate import main as generate_main
from tests.data.rawfixtures import hh_rows, write_jsonl

URL_SUFFIX = {"openai": "/v1", "anthropic": "", "gemini": ""}


def hh_file(tmp_path: Path, n: int, name: str = "hh.jsonl") -> Path:
    return write_jsonl(tmp_path / name, hh_rows(n))


def gen_args(server_url: str, data: Path, out: Path, backend: str = "openai", *extra: str) -> list[str]:
    return ["--backend", backend, "--model", "mock-1", "--base_url", server_url + URL_SUFFIX[backend],
            "--dataset", "anthropic_hh", "--split", "train", "--data_files", str(data), "--output_dir", str(out),
            "--retry_base_delay", "0.01", "--max_backoff", "0.05", "--no_progress", "--log_level", "WARNING",
            *extra]


def run(server_url: str, data: Path, out: Path, backend: str = "openai", *extra: str) -> int:
    return generate_main(gen_args(server_url, data, out, backend, *extra))


def run_dir(out: Path, backend: str = "openai", pairwise: bool = False, scale: str = "score100") -> Path:
    return out / f"{scale}_{backend}_mock-1{'_pairwise' if pairwise else ''}"


def records(out: Path, backend: str = "openai", pairwise: bool = False) -> list[dict]:
    path = run_dir(out, backend, pairwise) / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summary(out: Path, backend: str = "openai", pairwise: bool = False) -> dict:
    return json.loads((run_dir(out, backend, pairwise) / "summary.json").read_text())


def expected_score(i: int, side: int) -> float:
    """The mock judge's score for pair i of `hh_rows`: 10 points per word of the reply (chosen 5, rejected 3)."""
    return 50.0 if side == 0 else 30.0
