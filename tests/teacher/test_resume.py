"""Exact resume: no silent overwrite, skip completed pairs, replace errored ones, share a directory between
--skip_pairs ranges, and survive kill -9 at any point."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grpo_bt_rm.teacher.generate import main as generate_main
from grpo_bt_rm.testing.mock_server import Faults, MockServer
from tests.teacher.helpers import gen_args, hh_file, records, run, run_dir


def test_existing_results_without_resume_is_an_error(tmp_path, capsys):
    data = hh_file(tmp_path, 3)
    with MockServer() as s:
        assert run(s.url, data, tmp_path / "out") == 0
        before = (run_dir(tmp_path / "out") / "results.jsonl").read_text()
        assert run(s.url, data, tmp_path / "out") == 2
    assert "--resume" in capsys.readouterr().err
    assert (run_dir(tmp_path / "out") / "results.jsonl").read_text() == before


def test_resume_skips_completed_and_replaces_errored(tmp_path):
    data = hh_file(tmp_path, 4)
    with MockServer(Faults(plan=[500] * 3)) as s:  # the first pair's two requests fail, and one retry
        assert run(s.url, data, tmp_path / "out", "openai", "--concurrency", "1", "--max_retries", "1",
                   "--no_shuffle") == 0
    recs = records(tmp_path / "out")
    assert [r["pair_key"] for r in recs if r["error"]] == ["anthropic_hh:train:0"]
    with MockServer() as s2:
        assert run(s2.url, data, tmp_path / "out", "openai", "--resume", "--no_shuffle") == 0
    assert s2.stats.requests == 2  # only the errored pair is asked again
    recs = records(tmp_path / "out")
    assert sorted(r["pair_key"] for r in recs) == [f"anthropic_hh:train:{i}" for i in range(4)]
    assert not any(r["error"] for r in recs)
    with MockServer() as s3:  # nothing left: no requests at all
        assert run(s3.url, data, tmp_path / "out", "openai", "--resume", "--no_shuffle") == 0
    assert s3.stats.requests == 0


def test_skip_pairs_ranges_share_a_directory(tmp_path):
    data = hh_file(tmp_path, 10)
    with MockServer() as s:
        assert run(s.url, data, tmp_path / "out", "openai", "--n_pairs", "4") == 0
        assert run(s.url, data, tmp_path / "out", "openai", "--skip_pairs", "4", "--n_pairs", "6", "--resume") == 0
        assert s.stats.requests == 20
        # a different seed would reorder the pairs and make the ranges overlap: refused
        assert run(s.url, data, tmp_path / "out", "openai", "--seed", "1", "--resume") == 2
    recs = records(tmp_path / "out")
    assert sorted(r["source_index"] for r in recs) == list(range(10))
    manifest = json.loads((run_dir(tmp_path / "out") / "manifest.json").read_text())
    assert [r["skip_pairs"] for r in manifest["runs"]] == [0, 4]


def test_torn_last_line_is_dropped_and_redone(tmp_path):
    data = hh_file(tmp_path, 3)
    with MockServer() as s:
        assert run(s.url, data, tmp_path / "out") == 0
        path = run_dir(tmp_path / "out") / "results.jsonl"
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2])  # kill -9 mid-write
        assert run(s.url, data, tmp_path / "out", "openai", "--resume") == 0
    assert s.stats.requests == 6 + 2
    assert len(records(tmp_path / "out")) == 3


def _start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "grpo_bt_rm.testing.mock_server", "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line.split(" on ")[1].split(" ")[0]


def _kill_and_resume(tmp_path: Path, kill_after_lines: int, n_pairs: int = 300) -> None:
    data = hh_file(tmp_path, n_pairs)
    out = tmp_path / f"out_{kill_after_lines}"
    results = run_dir(out) / "results.jsonl"
    server, url = _start_server(0.005)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        args = gen_args(url, data, out, "openai", "--concurrency", "8")
        victim = subprocess.Popen([sys.executable, "-m", "grpo_bt_rm.teacher.generate", *args], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and victim.poll() is None:
            n = results.read_bytes().count(b"\n") if results.exists() else 0
            if n >= kill_after_lines:
                break
            time.sleep(0.002)
        assert victim.poll() is None, "the run finished before the kill point; raise n_pairs"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        partial = results.read_bytes().count(b"\n") if results.exists() else 0
        assert partial < n_pairs
        done = subprocess.run([sys.executable, "-m", "grpo_bt_rm.teacher.generate", *args, "--resume"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        server.kill()
        server.wait()
    lines = results.read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    keys = [r["pair_key"] for r in recs]
    assert len(keys) == n_pairs and len(set(keys)) == n_pairs  # none lost, none duplicated
    assert sorted(r["source_index"] for r in recs) == list(range(n_pairs))
    assert not any(r["error"] for r in recs)


def test_kill_9_mid_run_then_resume(tmp_path):
    _kill_and_resume(tmp_path, kill_after_lines=60)


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_lines", [0, 1, 150, 280])
def test_kill_9_at_several_points_then_resume(tmp_path, kill_after_lines):
    _kill_and_resume(tmp_path, kill_after_lines)


def test_concurrent_runs_over_disjoint_ranges_share_a_directory(tmp_path):
    data = hh_file(tmp_path, 160)
    out = tmp_path / "out"
    server, url = _start_server(0.002)
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "grpo_bt_rm.teacher.generate",
                                   *gen_args(url, data, out, "openai", "--concurrency", "4", "--resume",
                                             "--skip_pairs", str(skip), "--n_pairs", "80")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for skip in (0, 80)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-2000:]
    finally:
        server.kill()
        server.wait()
    recs = records(out)
    assert sorted(r["source_index"] for r in recs) == list(range(160))  # nothing stranded by the other's rewrite
    assert not any(r["error"] for r in recs)


def test_changed_data_files_are_refused_on_resume(tmp_path, capsys):
    data = hh_file(tmp_path, 4)
    with MockServer() as s:
        assert run(s.url, data, tmp_path / "out") == 0
        hh_file(tmp_path, 5)  # the same path now holds different rows: source indices may mean other pairs
        assert run(s.url, data, tmp_path / "out", "openai", "--resume") == 2
    assert "sha256 mismatch" in capsys.readouterr().err


def test_parse_failures_are_kept_on_resume_unless_asked(tmp_path):
    data = hh_file(tmp_path, 3)
    with MockServer(Faults(malformed="garbage")) as s:
        assert run(s.url, data, tmp_path / "out", "openai", "--parse_retries", "0") == 0
    with MockServer() as s2:
        assert run(s2.url, data, tmp_path / "out", "openai", "--resume") == 0
        assert s2.stats.requests == 0  # a parse failure is a completed answer
        assert run(s2.url, data, tmp_path / "out", "openai", "--resume", "--retry_parse_failures") == 0
        assert s2.stats.requests == 6
    recs = records(tmp_path / "out")
    assert len(recs) == 3 and all(r["score0"] == 50.0 and r["parse_failures"] is None for r in recs)


def test_data_files_in_another_order_are_refused_on_resume(tmp_path, capsys):
    # Same files, so the same sorted sha256 set; but row indices (and so pair keys) now name other pairs.
    from tests.data.rawfixtures import hh_rows, write_jsonl

    rows = hh_rows(6)
    a, b = write_jsonl(tmp_path / "a.jsonl", rows[:3]), write_jsonl(tmp_path / "b.jsonl", rows[3:])
    with MockServer() as s:
        # --no_shuffle keeps source order, so pairs 0-1 (both from a.jsonl) are scored first
        assert generate_main(gen_args(s.url, a, tmp_path / "out", "openai", "--data_files", str(a), str(b),
                                      "--n_pairs", "2", "--no_shuffle")) == 0
        n = s.stats.requests
        rc = generate_main(gen_args(s.url, b, tmp_path / "out", "openai", "--data_files", str(b), str(a),
                                    "--resume", "--no_shuffle"))
        assert rc == 2 and s.stats.requests == n  # refused before a single request
    assert "other pair contents" in capsys.readouterr().err
    assert all(len(r["content_sha"]) == 16 for r in records(tmp_path / "out"))


def _hold_claim(run_path: Path, keys: list[str]) -> subprocess.Popen:
    """Another live process holding a claim on `keys` (as a run in another terminal would)."""
    code = ("import sys, time; from pathlib import Path; from grpo_bt_rm.teacher.records import Claim; "
            f"c = Claim(Path({str(run_path)!r}), {keys!r}); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_pairs_held_by_a_live_run_are_left_to_it(tmp_path, capsys):
    data = hh_file(tmp_path, 4)
    holder = _hold_claim(run_dir(tmp_path / "out"), [f"anthropic_hh:train:{i}" for i in range(4)])
    try:
        with MockServer() as s:
            assert run(s.url, data, tmp_path / "out", "openai", "--resume") == 2  # every pair is held: fail fast
            assert s.stats.requests == 0
            assert f"PID {holder.pid}" in capsys.readouterr().err
            assert run(s.url, hh_file(tmp_path, 6), tmp_path / "out", "openai", "--resume") == 0
            assert s.stats.requests == 4  # only the two pairs nobody holds
    finally:
        holder.kill()
        holder.wait()
    assert sorted(r["source_index"] for r in records(tmp_path / "out")) == [4, 5]


def test_a_claim_left_by_a_killed_run_does_not_block_resume(tmp_path):
    data = hh_file(tmp_path, 3)
    holder = _hold_claim(run_dir(tmp_path / "out"), [f"anthropic_hh:train:{i}" for i in range(3)])
    holder.send_signal(signal.SIGKILL)  # its claim file stays behind, but the kernel drops its lock
    holder.wait()
    assert len(list((run_dir(tmp_path / "out") / "claims").glob("*.json"))) == 1
    with MockServer() as s:
        assert run(s.url, data, tmp_path / "out", "openai", "--resume") == 0
    assert s.stats.requests == 6 and len(records(tmp_path / "out")) == 3
    assert not list((run_dir(tmp_path / "out") / "claims").glob("*.json"))  # stale claim removed, own released


def test_overlapping_runs_on_one_directory_pay_once_per_pair(tmp_path):
    # Before: three overlapping runs on one directory paid for 194 answers where 80 were needed.
    data = hh_file(tmp_path, 40)
    out = tmp_path / "out"
    with MockServer(Faults(latency_s=0.02)) as s:
        procs = [subprocess.Popen([sys.executable, "-m", "grpo_bt_rm.teacher.generate",
                                   *gen_args(s.url, data, out, "openai", "--concurrency", "4", "--resume")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        codes = []
        for p in procs:
            _, err = p.communicate(timeout=120)
            codes.append(p.returncode)
            assert p.returncode in (0, 2), err[-2000:]
            assert p.returncode == 0 or "being scored by another run" in err
        assert s.stats.requests == 80  # 40 pairs x 2 responses, each paid once
    assert 0 in codes
    recs = records(out)
    assert sorted(r["source_index"] for r in recs) == list(range(40)) and not any(r["error"] for r in recs)
