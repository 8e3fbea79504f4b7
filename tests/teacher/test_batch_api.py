"""--batch_api against the mock server's batch endpoints (Anthropic Message Batches, OpenAI Batch with a JSONL
upload, Gemini batch mode), through the real SDKs: matching by custom_id, half price, online fallback for failed
items, and resume after a crash without submitting twice."""

import json
import signal
import subprocess
import sys
import time

import pytest

from grpo_bt_rm.testing.mock_server import Faults, MockServer
from tests.teacher.helpers import gen_args, hh_file, records, run, run_dir, summary

BACKENDS = ["openai", "anthropic", "gemini"]
BATCH = ("--batch_api", "--batch_poll_s", "0.01")


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_answers_are_matched_and_billed_at_half_price(tmp_path, backend):
    with MockServer(Faults(batch_polls=2)) as s:
        assert run(s.url, hh_file(tmp_path, 5), tmp_path / "out", backend, *BATCH, "--price_in", "2",
                   "--price_out", "10") == 0
    assert (s.stats.batches, s.stats.batch_requests, s.stats.requests) == (1, 10, 0)  # one batch, nothing online
    recs = records(tmp_path / "out", backend)
    assert len(recs) == 5 and all((r["score0"], r["score1"]) == (50.0, 30.0) for r in recs)
    assert {r["api"] for r in recs} == {"batch"} and all(r["stop_reason0"] for r in recs)
    sm = summary(tmp_path / "out", backend)
    full = (s.stats.input_tokens * 2 + s.stats.output_tokens * 10) / 1e6
    assert sm["estimated_cost_usd"] == pytest.approx(full / 2, abs=1e-6)
    assert sm["this_run"]["batch_jobs"] == 1 and sm["this_run"]["batch_items"] == 10
    assert not list((run_dir(tmp_path / "out", backend) / "batches").glob("*.json"))  # finished: state removed


@pytest.mark.parametrize("backend", BACKENDS)
def test_items_the_batch_failed_are_asked_online(tmp_path, backend):
    with MockServer(Faults(batch_fail=3)) as s:
        assert run(s.url, hh_file(tmp_path, 4), tmp_path / "out", backend, *BATCH) == 0
    assert (s.stats.batch_requests, s.stats.requests) == (8, 3)  # the 3 failed items, once each, online
    recs = records(tmp_path / "out", backend)
    assert len(recs) == 4 and all((r["score0"], r["score1"]) == (50.0, 30.0) for r in recs)
    assert sorted(r["api"] for r in recs).count("batch") == 2  # two pairs had a side answered online
    assert summary(tmp_path / "out", backend)["this_run"]["batch_fallbacks"] == 3


def test_a_crash_after_submitting_resumes_the_same_batch(tmp_path):
    data = hh_file(tmp_path, 6)
    out = tmp_path / "out"
    state_dir = run_dir(out, "anthropic") / "batches"
    with MockServer(Faults(batch_polls=10_000)) as s:  # the batch never ends while the first run polls
        victim = subprocess.Popen([sys.executable, "-m", "grpo_bt_rm.teacher.generate",
                                   *gen_args(s.url, data, out, "anthropic", "--batch_api", "--batch_poll_s", "0.02")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(json.loads(p.read_text()).get("batch_id")
                                                      for p in state_dir.glob("*.json")):
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert s.stats.batches == 1
        s.faults.batch_polls = 0  # the provider finishes the batch meanwhile
        assert run(s.url, data, out, "anthropic", *BATCH, "--resume") == 0
    assert s.stats.batches == 1 and s.stats.requests == 0  # polled the same batch: never submitted twice
    recs = records(out, "anthropic")
    assert sorted(r["source_index"] for r in recs) == list(range(6)) and {r["api"] for r in recs} == {"batch"}


def test_a_submission_cut_short_is_not_guessed_at(tmp_path, capsys):
    data = hh_file(tmp_path, 2)
    state_dir = run_dir(tmp_path / "out", "openai") / "batches"
    state_dir.mkdir(parents=True)
    (state_dir / "999-0.json").write_text(json.dumps({"backend": "openai", "model": "mock-1", "batch_id": None,
                                                      "created": 0, "units": {}}))
    with MockServer() as s:
        assert run(s.url, data, tmp_path / "out", "openai", *BATCH, "--resume") == 2
    assert s.stats.batches == 0 and s.stats.requests == 0
    assert "may exist at the provider" in capsys.readouterr().err
