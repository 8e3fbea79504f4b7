"""The teacher CLI against a local server speaking the OpenAI, Anthropic and Gemini wire formats (real SDKs)."""

import json
import time

import pytest

from grpo_bt_rm.testing.mock_server import Faults, MockServer
from tests.teacher.helpers import expected_score, hh_file, records, run, run_dir, summary

BACKENDS = ["openai", "anthropic", "gemini"]


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.mark.parametrize("backend", BACKENDS)
def test_scores_every_pair_once_with_the_real_sdk(server, tmp_path, backend):
    data = hh_file(tmp_path, 6)
    assert run(server.url, data, tmp_path / "out", backend, "--concurrency", "4") == 0
    recs = records(tmp_path / "out", backend)
    assert sorted(r["pair_key"] for r in recs) == [f"anthropic_hh:train:{i}" for i in range(6)]
    for r in recs:
        i = r["source_index"]
        assert (r["score0"], r["score1"]) == (expected_score(i, 0), expected_score(i, 1))
        assert r["correct"] is True and r["error"] is None and r["label"] == 0
        assert r["reasoning0"].startswith("The response has 5 words")
        assert r["usage"]["input_tokens"] > 0 and r["model"] == "mock-1"
    s = summary(tmp_path / "out", backend)
    assert s["accuracy"] == 1.0 and s["records"] == 6
    assert s["total_tokens"] == server.stats.input_tokens + server.stats.output_tokens  # every paid token counted


@pytest.mark.parametrize("backend", BACKENDS)
def test_transient_errors_are_retried_honouring_retry_after(tmp_path, backend):
    data = hh_file(tmp_path, 2)
    with MockServer(Faults(plan=[429, 529, 500, 503], retry_after=0.3)) as s:
        t0 = time.monotonic()
        assert run(s.url, data, tmp_path / "out", backend, "--concurrency", "1", "--max_retries", "5") == 0
        elapsed = time.monotonic() - t0
    assert s.stats.requests == 4 + 4  # 4 units, each answered once, plus one retry per injected failure
    assert elapsed >= 0.3 * 3  # the 429, 529 and 503 carried retry-after: 0.3 s, honoured (backoff is 0.01 s)
    assert all(r["error"] is None for r in records(tmp_path / "out", backend))
    assert summary(tmp_path / "out", backend)["this_run"]["retries"] == 4


def test_retries_are_bounded_then_recorded_as_errors(tmp_path):
    data = hh_file(tmp_path, 2)
    with MockServer(Faults(always_status=500)) as s:
        assert run(s.url, data, tmp_path / "out", "openai", "--max_retries", "2") == 1  # no pair completed
    assert s.stats.requests == 4 * 3  # 4 units x (1 try + 2 retries), then give up
    recs = records(tmp_path / "out")
    assert len(recs) == 2 and all("HTTP 500" in r["error"] and "after 3 attempts" in r["error"] for r in recs)
    assert summary(tmp_path / "out")["errors"] == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_401_fails_fast_and_never_leaks_the_key(tmp_path, backend, capsys, caplog):
    key = "sk-LEAKME-0123456789abcdef"
    data = hh_file(tmp_path, 20)
    with MockServer(Faults(api_key="the-right-key")) as s:  # the 401 body echoes the key it was sent
        rc = run(s.url, data, tmp_path / "out", backend, "--api_key", key, "--concurrency", "2",
                 "--max_retries", "5")
    assert rc == 1
    assert s.stats.requests <= 2  # stopped at once: no retries, no new requests after the first 401s
    err = capsys.readouterr()
    assert "401" in err.err and "check the API key" in err.err
    blobs = [err.out, err.err, caplog.text] + [p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert all(key not in b for b in blobs)


def test_key_from_env_not_written_anywhere(tmp_path, monkeypatch, capsys):
    key = "sk-ENVKEY-abcdef987654"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    data = hh_file(tmp_path, 3)
    with MockServer(Faults(api_key=key)) as s:
        assert run(s.url, data, tmp_path / "out", "openai") == 0
    out = capsys.readouterr()
    files = [p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(records(tmp_path / "out")) == 3 and all(key not in b for b in [out.out, out.err, *files])


def test_local_server_needs_no_key(server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert run(server.url, hh_file(tmp_path, 1), tmp_path / "out", "openai") == 0


def test_remote_without_key_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    from grpo_bt_rm.teacher.generate import main

    rc = main(["--backend", "anthropic", "--model", "m", "--data_files", str(hh_file(tmp_path, 1)),
               "--output_dir", str(tmp_path / "o"), "--no_progress"])
    assert rc == 2 and "ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_preamble_laden_answers_parse(tmp_path):
    with MockServer(Faults(malformed="preamble")) as s:
        assert run(s.url, hh_file(tmp_path, 3), tmp_path / "out", "anthropic") == 0
    assert all(r["score0"] == 50.0 and r["parse_failures"] is None for r in records(tmp_path / "out", "anthropic"))


def test_unparseable_answers_are_parse_failures_retried_a_bounded_number_of_times(tmp_path):
    with MockServer(Faults(malformed="garbage")) as s:
        assert run(s.url, hh_file(tmp_path, 2), tmp_path / "out", "openai", "--parse_retries", "2") == 0
    assert s.stats.requests == 4 * 3  # each of 4 single-response requests: 1 + 2 parse retries, no more
    recs = records(tmp_path / "out")
    assert all(r["error"] is None and r["score0"] is None and r["parse_failures"] == {"0": "no_tag", "1": "no_tag"}
               for r in recs)
    s = summary(tmp_path / "out")
    assert (s["parse_failures"], s["errors"], s["accuracy"]) == (2, 0, None)


@pytest.mark.parametrize("order", ["reverse", "shuffle"])
def test_batch_answers_out_of_order_are_matched_by_id(tmp_path, order):
    with MockServer(Faults(batch_order=order)) as s:
        assert run(s.url, hh_file(tmp_path, 7), tmp_path / "out", "gemini", "--batch_size", "3") == 0
    assert s.stats.requests == 3
    recs = records(tmp_path / "out", "gemini")
    assert len(recs) == 7 and all((r["score0"], r["score1"]) == (50.0, 30.0) for r in recs)
    assert {r["mode"] for r in recs} == {"batch"}


def test_missing_batch_ids_are_failures_and_resume_fills_them(tmp_path):
    data = hh_file(tmp_path, 6)
    with MockServer(Faults(drop_ids=1, batch_order="keep")) as s:
        assert run(s.url, data, tmp_path / "out", "openai", "--batch_size", "3") == 0
    recs = records(tmp_path / "out")
    failed = [r for r in recs if r["error"]]
    assert len(recs) == 6 and len(failed) == 2 and all("missing_id" in r["error"] for r in failed)
    with MockServer() as s2:
        assert run(s2.url, data, tmp_path / "out", "openai", "--batch_size", "3", "--resume") == 0
    assert s2.stats.requests == 1  # only the two failed pairs, in one batch
    recs = records(tmp_path / "out")
    assert len(recs) == 6 and len({r["pair_key"] for r in recs}) == 6 and not any(r["error"] for r in recs)


def test_pairwise_records_a_random_ab_order(server, tmp_path):
    assert run(server.url, hh_file(tmp_path, 12), tmp_path / "out", "openai", "--pairwise") == 0
    recs = records(tmp_path / "out", pairwise=True)
    assert server.stats.requests == 12
    assert {tuple(r["ab_order"]) for r in recs} == {(0, 1), (1, 0)}
    assert all((r["score0"], r["score1"]) == (50.0, 30.0) for r in recs)  # scores land on the right side
    assert run_dir(tmp_path / "out", pairwise=True).name.endswith("_pairwise")


def test_rpm_limit_paces_requests(server, tmp_path):
    t0 = time.monotonic()
    assert run(server.url, hh_file(tmp_path, 3), tmp_path / "out", "openai", "--rpm_limit", "600",
               "--concurrency", "6") == 0
    assert time.monotonic() - t0 >= 5 * 0.1  # 6 request starts spaced 0.1 s apart


def test_dry_run_sends_nothing(server, tmp_path, capsys):
    assert run(server.url, hh_file(tmp_path, 5), tmp_path / "out", "openai", "--dry_run", "--price_in", "1",
               "--price_out", "2", "--max_tokens", "100") == 0
    report = json.loads(capsys.readouterr().out)
    assert server.stats.requests == 0 and report["requests"] == 10 and report["max_output_tokens"] == 1000
    want = report["estimated_input_tokens"] * 1 / 1e6 + 1000 * 2 / 1e6
    assert report["estimated_input_tokens"] > 0 and report["estimated_cost_usd_upper"] == pytest.approx(want, abs=1e-6)
    assert report["estimated_batch_api_cost_usd_upper"] == pytest.approx(want / 2, abs=1e-6)  # both paths priced
    assert not (run_dir(tmp_path / "out") / "results.jsonl").exists()


def test_dry_run_of_an_unpriced_model_needs_price_flags(server, tmp_path, capsys):
    assert run(server.url, hh_file(tmp_path, 2), tmp_path / "out", "openai", "--dry_run") == 2  # mock-1: no price
    assert "--price_in and --price_out" in capsys.readouterr().err
    assert server.stats.requests == 0


def test_cost_summary_uses_price_flags(server, tmp_path):
    assert run(server.url, hh_file(tmp_path, 4), tmp_path / "out", "openai", "--price_in", "2",
               "--price_out", "10") == 0
    s = summary(tmp_path / "out")
    want = server.stats.input_tokens * 2 / 1e6 + server.stats.output_tokens * 10 / 1e6
    assert s["estimated_cost_usd"] == pytest.approx(want, abs=1e-6)
    assert s["price_per_mtok"] == {"input": 2.0, "output": 10.0, "cached_input": None, "cache_write": None}


def test_plugin_backend_registered_from_another_module(tmp_path):
    from grpo_bt_rm.teacher.generate import main

    rc = main(["--plugin", "tests.teacher.plugin_backend", "--backend", "echo_len", "--model", "len-1",
               "--base_url", "http://example.invalid/x", "--data_files", str(hh_file(tmp_path, 3)),
               "--output_dir", str(tmp_path / "out"), "--no_progress", "--price_in", "1", "--price_out", "1"])
    assert rc == 0
    from tests.teacher.plugin_backend import CALLS

    assert len(CALLS) == 6 and {u for u, _ in CALLS} == {"http://example.invalid/x"}  # --base_url reaches it
    path = tmp_path / "out" / "score100_echo_len_len-1" / "results.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    assert all(r["score0"] == len(f"{r['source_index']} plus {r['source_index']} is {2 * r['source_index']}.")
               for r in recs)
    s = json.loads((path.parent / "summary.json").read_text())
    assert s["total_tokens"] == 6 * 13 and s["estimated_cost_usd"] == pytest.approx(6 * 13 / 1e6)


def test_pairwise_batches_match_by_id(tmp_path):
    with MockServer(Faults(batch_order="shuffle")) as s:
        assert run(s.url, hh_file(tmp_path, 7), tmp_path / "out", "anthropic", "--pairwise", "--batch_size",
                   "3") == 0
    assert s.stats.requests == 3
    recs = records(tmp_path / "out", "anthropic", pairwise=True)
    assert len(recs) == 7 and all((r["score0"], r["score1"]) == (50.0, 30.0) for r in recs)
    assert {tuple(r["ab_order"]) for r in recs} == {(0, 1), (1, 0)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_slow_responses_time_out_and_are_retried_boundedly(tmp_path, backend):
    with MockServer(Faults(latency_s=1.0)) as s:
        assert run(s.url, hh_file(tmp_path, 1), tmp_path / "out", backend, "--timeout", "0.3", "--max_retries", "1",
                   "--concurrency", "2") == 1  # its only pair ended in an error
    (rec,) = records(tmp_path / "out", backend)
    assert rec["error"] and "after 2 attempts" in rec["error"] and rec["score0"] is None
    this_run = summary(tmp_path / "out", backend)["this_run"]
    assert this_run["retries"] == 2 and this_run["requests"] == 4
    assert this_run["wall_s"] < 1.8  # two 0.3 s attempts per response, in parallel; not the server's 1 s each
