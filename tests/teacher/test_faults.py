"""What each provider really answered, against the mock server in its wire format and the real SDKs: cut-off
answers, thinking tokens, blocked answers, final (quota) errors and retry delays in the error body."""

import json
import time

import pytest

from grpo_bt_rm.testing.mock_server import STOPS, Faults, MockServer
from tests.teacher.helpers import hh_file, records, run, run_dir, summary

BACKENDS = ["openai", "anthropic", "gemini"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_cut_off_reason_first_answer_is_truncated_not_its_example_score(tmp_path, backend):
    # "An ideal reply would earn <s>100</s>. ..." cut before the real tag: the last tag seen is only an example.
    with MockServer(Faults(malformed="example", cut_at=60)) as s:
        assert run(s.url, hh_file(tmp_path, 2), tmp_path / "out", backend, "--prompt", "hh_score100_v3") == 0
    assert s.stats.requests == 4  # a cut-off answer is not asked again: the same budget cuts it the same way
    recs = records(tmp_path / "out", backend)
    cut = STOPS[backend][1]  # max_tokens / length / MAX_TOKENS
    for r in recs:
        assert (r["score0"], r["score1"]) == (None, None)
        assert r["parse_failures"] == {"0": "truncated", "1": "truncated"}
        assert (r["stop_reason0"], r["stop_reason1"]) == (cut, cut)
        assert r["error"] is None
    sm = summary(tmp_path / "out", backend)
    assert sm["truncated"] == 4 and sm["stop_reasons"] == {cut: 4} and sm["parse_failure_reasons"] == {"truncated": 4}


def test_gemini_thinking_that_used_the_whole_budget_is_truncated_and_billed(tmp_path):
    with MockServer(Faults(cut_at=0, thinking_tokens=512)) as s:  # no text at all, finishReason MAX_TOKENS
        assert run(s.url, hh_file(tmp_path, 1), tmp_path / "out", "gemini") == 0
    assert s.stats.requests == 2  # not re-asked as a plain no_tag
    (r,) = records(tmp_path / "out", "gemini")
    assert r["parse_failures"] == {"0": "truncated", "1": "truncated"} and r["stop_reason0"] == "MAX_TOKENS"
    assert r["usage"]["thinking_tokens"] == 1024 and r["usage"]["output_tokens"] == 1024 + 2


def test_cut_off_first_tag_that_closed_keeps_its_score(tmp_path):
    # score-first answer cut after its tag: under a _first parser the first tag closed before the cut.
    with MockServer(Faults(cut_at=20)) as s:
        assert run(s.url, hh_file(tmp_path, 1), tmp_path / "out", "anthropic") == 0
    (r,) = records(tmp_path / "out", "anthropic")
    assert (r["score0"], r["score1"], r["stop_reason0"]) == (50.0, 30.0, "max_tokens")


def test_cut_off_batch_keeps_closed_answer_blocks_and_marks_the_rest_truncated(tmp_path):
    with MockServer(Faults(batch_order="keep", cut_at=170)) as s:
        assert run(s.url, hh_file(tmp_path, 2), tmp_path / "out", "openai", "--batch_size", "2") == 0
    recs = records(tmp_path / "out")
    reasons = [f for r in recs for f in (r["parse_failures"] or {}).values()]
    scored = [x for r in recs for x in (r["score0"], r["score1"]) if x is not None]
    assert s.stats.requests == 1 and len(scored) == 1 and reasons == ["truncated"] * 3
    assert not any(r["error"] for r in recs)  # a cut-off batch is not a missing_id error


@pytest.mark.parametrize("backend,thinking", [("openai", 400), ("anthropic", None), ("gemini", 400)])
def test_thinking_tokens_are_billed_as_output(tmp_path, backend, thinking):
    # gemini-2.5-flash prices: one pair with 400 thinking tokens per request costs ~$0.0021, not $0.000124.
    with MockServer(Faults(thinking_tokens=400)) as s:
        assert run(s.url, hh_file(tmp_path, 1), tmp_path / "out", backend, "--price_in", "0.30",
                   "--price_out", "2.50") == 0
    sm = summary(tmp_path / "out", backend)
    assert sm["output_tokens"] == s.stats.output_tokens  # every billed output token, thinking included
    assert sm["output_tokens"] >= 800
    assert sm["estimated_cost_usd"] == pytest.approx((s.stats.input_tokens * 0.30 + s.stats.output_tokens * 2.50)
                                                     / 1e6, abs=1e-6)
    assert sm["estimated_cost_usd"] > 0.002
    (r,) = records(tmp_path / "out", backend)
    # OpenAI and Gemini say how many were thinking; Anthropic only counts them inside output_tokens.
    assert r["usage"]["thinking_tokens"] == (None if thinking is None else 2 * thinking)
    assert sm["thinking_tokens"] == (None if thinking is None else 800)  # unknown is not zero


@pytest.mark.parametrize("backend,where,reason", [
    ("gemini", "prompt", "gemini:prompt:SAFETY"),     # promptFeedback.blockReason, no candidates
    ("gemini", "output", "gemini:SAFETY"),            # finishReason SAFETY, no content
    ("openai", "output", "openai:content_filter"),    # finish_reason content_filter, content null
    ("anthropic", "output", "anthropic:refusal"),     # stop_reason refusal, no text block
])
def test_blocked_answers_are_recorded_by_reason_and_not_asked_again(tmp_path, backend, where, reason):
    with MockServer(Faults(blocked=where)) as s:
        assert run(s.url, hh_file(tmp_path, 2), tmp_path / "out", backend, "--parse_retries", "3") == 0
    assert s.stats.requests == 4  # parse retries are not spent on an answer that will not change
    recs = records(tmp_path / "out", backend)
    assert all(r["blocked"] == {"0": reason, "1": reason} and r["parse_failures"] == {"0": "blocked", "1": "blocked"}
               and r["score0"] is None and r["error"] is None for r in recs)
    sm = summary(tmp_path / "out", backend)
    assert sm["blocked"] == {reason: 4} and sm["parse_failures"] == 2


@pytest.mark.parametrize("backend,status,says", [
    ("openai", 429, "insufficient_quota"),           # 429 with error.code insufficient_quota
    ("gemini", 429, "per-day quota"),                # RESOURCE_EXHAUSTED with a PerDay QuotaFailure violation
    ("anthropic", 400, "credit balance is too low"),  # Anthropic's no-credit error is a 400
])
def test_used_up_quota_stops_the_run_at_once(tmp_path, capsys, backend, status, says):
    # Before: retried six times per request, 8 pairs took 96 requests, exit code 0.
    with MockServer(Faults(always_status=status, quota=True, retry_after=0.01)) as s:
        rc = run(s.url, hh_file(tmp_path, 8), tmp_path / "out", backend, "--concurrency", "2", "--max_retries", "5")
    assert rc == 1
    assert s.stats.requests <= 2  # the requests already in flight, nothing more
    assert says in capsys.readouterr().err


def test_gemini_per_minute_429_is_still_retried(tmp_path):
    # A RESOURCE_EXHAUSTED without a per-day violation is a rate limit: wait (as the body says) and retry.
    with MockServer(Faults(plan=[429], body_retry_delay=0.2)) as s:
        assert run(s.url, hh_file(tmp_path, 1), tmp_path / "out", "gemini", "--concurrency", "1") == 0
    assert s.stats.requests == 3 and all(r["error"] is None for r in records(tmp_path / "out", "gemini"))


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_retry_delay_in_the_body_is_honoured(tmp_path, backend):
    # Gemini: details[RetryInfo].retryDelay "0.6s"; OpenAI: "Please try again in 0.6s." (no retry-after header)
    with MockServer(Faults(plan=[429], body_retry_delay=0.6)) as s:
        t0 = time.monotonic()
        assert run(s.url, hh_file(tmp_path, 1), tmp_path / "out", backend, "--concurrency", "1") == 0
        elapsed = time.monotonic() - t0
    assert s.stats.requests == 3 and elapsed >= 0.6  # our own backoff would be 0.01-0.05 s here
    this_run = summary(tmp_path / "out", backend)["this_run"]
    assert (this_run["retries"], this_run["server_waits"], this_run["server_waits_cut"]) == (1, 1, 0)


def test_a_server_wait_longer_than_max_retry_wait_is_cut_and_reported(tmp_path, caplog):
    with MockServer(Faults(plan=[429], body_retry_delay=40)) as s:
        t0 = time.monotonic()
        assert run(s.url, hh_file(tmp_path, 1), tmp_path / "out", "gemini", "--concurrency", "1",
                   "--max_retry_wait", "0.2") == 0
        assert time.monotonic() - t0 < 5
    assert summary(tmp_path / "out", "gemini")["this_run"]["server_waits_cut"] == 1
    assert "asked to wait 40s" in caplog.text


def test_reasoning_block_is_kept_in_text_but_never_in_the_explanation(tmp_path):
    with MockServer(Faults(think="A first guess would be <s>30</s>, but let me check.")) as s:
        assert run(s.url, hh_file(tmp_path, 1), tmp_path / "out", "openai") == 0
    (r,) = records(tmp_path / "out")
    assert (r["score0"], r["score1"]) == (50.0, 30.0)  # the guess inside <think> never counts
    assert "<think>" in r["text0"] and "first guess" not in r["reasoning0"]
    assert r["reasoning0"].startswith("The response has 5 words")
    manifest = json.loads((run_dir(tmp_path / "out") / "manifest.json").read_text())
    assert manifest["parser_settings"] == {"name": "score100_first", "low": 0.0, "high": 100.0,
                                           "reasoning_tag": "think"}


@pytest.mark.parametrize("backend,flags,check", [
    # Anthropic: thinking.budget_tokens, and max_tokens grows by the budget so the answer keeps its 512
    ("anthropic", ("--thinking_budget", "1024"),
     lambda b: b["thinking"] == {"type": "enabled", "budget_tokens": 1024} and b["max_tokens"] == 1536),
    # Gemini: generationConfig.thinkingConfig (this SDK writes the proto name thinking_budget, which the API's
    # JSON parser accepts beside thinkingBudget); maxOutputTokens counts thinking too
    ("gemini", ("--thinking_budget", "256"),
     lambda b: b["generationConfig"]["thinkingConfig"] in ({"thinkingBudget": 256}, {"thinking_budget": 256})
     and b["generationConfig"]["maxOutputTokens"] == 512 + 256),
    # OpenAI has no budget; reasoning_effort is its setting
    ("openai", ("--reasoning_effort", "low"), lambda b: b["reasoning_effort"] == "low" and "thinking" not in b),
])
def test_thinking_settings_reach_each_sdk_as_its_own_field(tmp_path, backend, flags, check):
    with MockServer() as s:
        assert run(s.url, hh_file(tmp_path, 1), tmp_path / "out", backend, *flags) == 0
        assert check(s.stats.last_body), s.stats.last_body


def test_thinking_budget_for_openai_is_refused_at_start(tmp_path, capsys):
    with MockServer() as s:
        assert run(s.url, hh_file(tmp_path, 1), tmp_path / "out", "openai", "--thinking_budget", "1024") == 2
    assert s.stats.requests == 0 and "reasoning_effort" in capsys.readouterr().err
