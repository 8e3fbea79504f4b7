"""Pure pieces of the teacher: id matching, reasoning clean-up, backoff, status classification, record merging."""

import random

import pytest

from grpo_bt_rm.data import Pair
from grpo_bt_rm.prompts import get_prompt
from grpo_bt_rm.teacher.backends import FatalError, TransientError, classify_status, redact
from grpo_bt_rm.teacher.pricing import Price, cost_usd, price_for
from grpo_bt_rm.teacher.records import latest_by_key, summarize
from grpo_bt_rm.teacher.runner import RunSettings, backoff_delay, make_units
from grpo_bt_rm.teacher.tasks import (
    build_request,
    format_answer,
    pair_items,
    parse_answer,
    reasoning_of,
    split_items,
)

PROMPT = get_prompt("hh_score100_v1")


def _pairs(n):
    return [Pair(f"Human: q{i}", f"good answer {i}", f"bad {i}", 0, i, {"dataset": "d", "split": "s"})
            for i in range(n)]


def test_batch_answers_matched_by_id_not_position():
    items = [it for p in _pairs(2) for it in pair_items(p, 0, False)]
    # answers in reverse order, with chatter around them
    text = "Here you go!\n" + "\n".join(f'<answer id="{it.item_id}"><s>{10 + k}</s> because</answer>'
                                        for k, it in reversed(list(enumerate(items))))
    got = parse_answer(items, text, PROMPT, pairwise=False)
    assert [got[it.item_id].score for it in items] == [10.0, 11.0, 12.0, 13.0]


def test_missing_and_duplicate_ids_are_failures():
    items = [it for p in _pairs(2) for it in pair_items(p, 0, False)]
    a, b, c, _ = items
    text = (f'<answer id="{a.item_id}"><s>1</s></answer><answer id="{b.item_id}"><s>2</s></answer>'
            f'<answer id="{b.item_id}"><s>3</s></answer><answer id="{c.item_id}">no tag here</answer>'
            '<answer id="zzz"><s>9</s></answer>')
    got = parse_answer(items, text, PROMPT, pairwise=False)
    assert got[a.item_id].score == 1.0
    assert got[b.item_id].parse_error == "duplicate_id"  # two answers for one id: trust neither
    assert got[c.item_id].parse_error == "no_tag"
    assert got[items[3].item_id].parse_error == "missing_id"


def test_ids_do_not_reveal_side_or_label():
    # Batched items are ordered by id, so the preferred side (always 0 here) must not always come first.
    firsts = set()
    for p in _pairs(20):
        items = sorted(pair_items(p, 0, False), key=lambda it: it.item_id)
        assert not any(it.item_id.endswith(("0", "1")) and it.item_id[:-1].endswith("-") for it in items)
        firsts.add(items[0].side)
    assert firsts == {0, 1}
    items = pair_items(_pairs(1)[0], 0, False)
    system, user = build_request(items, PROMPT, pairwise=False)
    assert user.index("good answer 0") > 0 and all(f'<item id="{it.item_id}">' in user for it in items)


def test_pairwise_ab_order_is_seeded_and_varies():
    orders = {tuple(it.side for it in pair_items(p, 3, True)) for p in _pairs(20)}
    assert orders == {(0, 1), (1, 0)}
    assert [it.item_id[-2:] for it in pair_items(_pairs(1)[0], 3, True)] == ["-A", "-B"]


def test_batch_units_cover_every_item_once():
    s = RunSettings(backend="openai", model="m", prompt=PROMPT, batch_size=3)
    units = make_units(_pairs(7), s)
    assert [len(u) for u in units] == [6, 6, 2]
    keys = sorted((it.pair.source_index, it.side) for u in units for it in u)
    assert keys == [(i, s) for i in range(7) for s in (0, 1)]


@pytest.mark.parametrize("text,want", [
    ("<s>80</s>\nGood reply.", "Good reply."),                  # score-first
    ("Thorough.\n  Accurate.\n<s>80</s>", "Thorough.\nAccurate."),  # reason-first, whitespace tidied
    ("I said <s>70</s> then <s>80</s> final", "I said then final"),  # every tag removed
    (None, ""),
])
def test_reasoning_of(text, want):
    assert reasoning_of(text) == want


def test_backoff_grows_and_is_bounded():
    rng = random.Random(0)
    delays = [backoff_delay(a, 1.0, 8.0, rng) for a in range(1, 8)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0
    assert all(4.0 <= d <= 8.0 for d in delays[3:])  # capped


@pytest.mark.parametrize("status,kind", [(429, TransientError), (529, TransientError), (500, TransientError),
                                         (503, TransientError), (400, FatalError), (401, FatalError),
                                         (403, FatalError), (404, FatalError)])
def test_classify_status(status, kind):
    assert isinstance(classify_status(status, "x", {"retry-after": "3"}), kind)


def test_retry_after_header_is_read():
    assert classify_status(429, "slow down", {"retry-after": "2.5"}).retry_after == 2.5
    assert classify_status(429, "slow down", {"retry-after-ms": "1500"}).retry_after == 1.5
    assert classify_status(429, "slow down", {"retry-after": "Wed, 21 Oct 2015"}).retry_after is None


def test_redact():
    assert redact("bad key sk-abcdef in url?key=sk-abcdef", ("sk-abcdef",)) == "bad key *** in url?key=***"


def test_latest_by_key_prefers_completed_records():
    recs = [{"pair_key": "a", "error": "boom", "n": 1}, {"pair_key": "b", "error": None, "n": 2},
            {"pair_key": "a", "error": None, "n": 3}, {"pair_key": "a", "error": "late", "n": 4}]
    best = latest_by_key(recs)
    assert list(best) == ["a", "b"] and best["a"]["n"] == 3


def test_summary_accuracy_ties_and_cost():
    recs = [
        {"pair_key": "1", "error": None, "score0": 9, "score1": 1, "correct": True, "tie": False,
         "usage": {"input_tokens": 1_000_000, "output_tokens": 0}},
        {"pair_key": "2", "error": None, "score0": 5, "score1": 5, "correct": False, "tie": True,
         "usage": {"input_tokens": 0, "output_tokens": 1_000_000}},
        {"pair_key": "3", "error": None, "score0": 1, "score1": 9, "correct": False, "tie": False, "usage": {}},
        {"pair_key": "4", "error": None, "score0": None, "score1": 3, "correct": None, "tie": False},
        {"pair_key": "5", "error": "HTTP 500", "score0": None, "score1": None},
    ]
    s = summarize(recs, price_for("claude-sonnet-4-20250514"))
    assert s["accuracy"] == pytest.approx(1.5 / 3) and s["strict_accuracy"] == pytest.approx(1 / 3)
    assert (s["ties"], s["parse_failures"], s["errors"], s["records"]) == (1, 1, 1, 5)
    assert s["estimated_cost_usd"] == pytest.approx(3.0 + 15.0)  # $3/Mtok in, $15/Mtok out


def test_price_table_and_overrides():
    assert price_for("gemini-2.5-flash-lite-001")[:2] == (0.10, 0.40)  # longest prefix wins over gemini-2.5-flash
    assert price_for("claude-opus-4-5-20251101")[:2] == (5.0, 25.0)  # not Opus 4's $15/$75
    assert price_for("claude-opus-4-1-20250805")[:2] == (15.0, 75.0)
    assert price_for("my-local-model") is None
    assert price_for("my-local-model", 1.0, 2.0) == Price(1.0, 2.0)
    assert cost_usd(500_000, 250_000, Price(1.0, 2.0)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        price_for("x", 1.0, None)


@pytest.mark.parametrize("cached,batch,want", [
    (0, False, 3.0 + 15.0),               # 1M in, 1M out at Sonnet 4 prices
    (1_000_000, False, 0.30 + 15.0),      # every input token a cache hit: $0.30/M
    (0, True, (3.0 + 15.0) / 2),          # Message Batches: half price
    (500_000, True, (1.5 + 0.15 + 15.0) / 2),
])
def test_cost_with_cached_input_and_batch(cached, batch, want):
    price = price_for("claude-sonnet-4-20250514")
    assert cost_usd(1_000_000, 1_000_000, price, cached, batch) == pytest.approx(want)


def test_cached_tokens_without_a_confirmed_cache_price_bill_as_input():
    assert cost_usd(1_000_000, 0, Price(1.0, 2.0), cached_input_tokens=1_000_000) == pytest.approx(1.0)


@pytest.mark.parametrize("flag,value", [("--concurrency", "0"), ("--skip_pairs", "-1"), ("--n_pairs", "0"),
                                        ("--max_retries", "-2")])
def test_bad_numbers_fail_at_start_naming_the_flag(tmp_path, capsys, flag, value):
    from grpo_bt_rm.teacher.generate import main

    with pytest.raises(SystemExit) as e:  # argparse's usage error, before any work
        main(["--backend", "openai", "--model", "m", "--output_dir", str(tmp_path), flag, value])
    assert e.value.code == 2 and f"argument {flag}: expected an integer >=" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_openai_reasoning_models_get_max_completion_tokens():
    from grpo_bt_rm.teacher.backends import BackendConfig, OpenAIBackend

    assert OpenAIBackend(BackendConfig("o3-mini", "k"))._budget_field == "max_completion_tokens"
    assert OpenAIBackend(BackendConfig("Qwen/Qwen2.5-72B-Instruct", "k"))._budget_field == "max_tokens"


@pytest.mark.parametrize("body,want", [
    ({"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "40s"}]}}, 40.0),
    ([{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}]}}], 1.5),
    ({"message": "Rate limit reached. Please try again in 20s. Visit ..."}, 20.0),  # OpenAI, SDK hands `error`
    ({"error": {"message": "Please try again in 350ms."}}, 0.35),
    ({"error": {"message": "slow down"}}, None),                                     # no hint: our own backoff
    (None, None),
])
def test_body_retry_delay(body, want):
    from grpo_bt_rm.teacher.backends import body_retry_delay

    assert body_retry_delay(body) == want


def test_a_body_hint_is_used_only_without_a_header():
    body = {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "40s"}]}}
    assert classify_status(429, "x", {}, body).retry_after == 40.0
    assert classify_status(429, "x", {"retry-after": "3"}, body).retry_after == 3.0


@pytest.mark.parametrize("body,final", [
    ({"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}, True),   # OpenAI: no credit
    ({"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}, False),  # OpenAI RPM
    ({"error": {"status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
      "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}, True),  # Gemini per day
    ({"error": {"status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
      "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}]}]}}, False),  # Gemini per minute
    ({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}, False),  # Anthropic 429
])
def test_used_up_quota_is_final_a_rate_limit_is_not(body, final):
    assert isinstance(classify_status(429, "m", {}, body), FatalError if final else TransientError)


@pytest.mark.parametrize("backend,stop,truncated,blocked", [
    ("anthropic", "end_turn", False, None), ("anthropic", "max_tokens", True, None),
    ("anthropic", "model_context_window_exceeded", True, None), ("anthropic", "refusal", False, "anthropic:refusal"),
    ("openai", "stop", False, None), ("openai", "length", True, None),
    ("openai", "content_filter", False, "openai:content_filter"),
    ("gemini", "STOP", False, None), ("gemini", "MAX_TOKENS", True, None),
    ("gemini", "RECITATION", False, "gemini:RECITATION"), ("gemini", "OTHER", False, None),
])
def test_stop_reasons_per_provider(backend, stop, truncated, blocked):
    from grpo_bt_rm.teacher.backends import finish

    c = finish(backend, "text", stop)
    assert (c.stop_reason, c.truncated, c.blocked) == (stop, truncated, blocked)


def test_thinking_budget_is_refused_for_openai():
    from grpo_bt_rm.io import InputError
    from grpo_bt_rm.teacher.backends import BackendConfig, OpenAIBackend

    with pytest.raises(InputError, match="reasoning_effort"):
        OpenAIBackend(BackendConfig("o3-mini", "k", thinking_budget=1024))


def test_claims_hide_held_pairs_until_released(tmp_path):
    import os

    from grpo_bt_rm.teacher.records import Claim, live_claims

    claim = Claim(tmp_path, ["a", "b"])
    assert live_claims(tmp_path) == {"a": os.getpid(), "b": os.getpid()}  # a second open file sees the flock
    claim.release()
    assert live_claims(tmp_path) == {} and not list((tmp_path / "claims").iterdir())


@pytest.mark.parametrize("pairwise", [False, True])
def test_split_items_inverts_build_request(pairwise):
    # the fakes read batches with split_items: every item comes back, in order, with its rendered user turn
    items = [it for p in _pairs(2) for it in pair_items(p, 0, pairwise)]
    _system, user = build_request(items, PROMPT, pairwise)
    split = split_items(user)
    assert [iid for iid, _ in split] == [it.item_id for it in items]
    assert split[0][1] == PROMPT.render(items[0].pair.context, items[0].pair.response_0 if items[0].side == 0
                                        else items[0].pair.response_1)[-1]["content"]
    assert split_items(PROMPT.render("c", "r")[-1]["content"]) == []  # a single item is not wrapped
    answers = "".join(format_answer(iid, f"<s>{k}</s>") for k, (iid, _) in enumerate(split))
    assert [r.score for r in parse_answer(items, answers, PROMPT, pairwise).values()] == [0.0, 1.0, 2.0, 3.0]
