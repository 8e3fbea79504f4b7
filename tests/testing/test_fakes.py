"""Both fake teachers (the mock API's rule judge and the demo's rule backend) answer every registered prompt, alone
and inside a batch, with a score their prompt's own parser reads on the prompt's scale."""

from __future__ import annotations

import asyncio

import pytest

from grpo_bt_rm.data import Pair
from grpo_bt_rm.demo.teacher import RuleBackend
from grpo_bt_rm.parsing import get_parser
from grpo_bt_rm.prompts import PROMPTS, get_prompt
from grpo_bt_rm.teacher import BackendConfig
from grpo_bt_rm.teacher.tasks import build_request, pair_items, parse_answer
from grpo_bt_rm.testing.mock_server import MockServer, judge

CONTEXT = "Human: Name an animal, please.\n\nAssistant: Sure."
LONG = "Dog. It is a loyal animal that many families keep as a pet at home."  # 14 words: the mock's top score
SHORT = "Dog."


FAKES = ("mock_server", "demo_rule")


@pytest.fixture(scope="module")
def answer():
    """fake name -> (user text -> the fake's answer text)."""
    server = MockServer()  # its answer() needs no running HTTP thread; batches come back in reverse order
    backend = RuleBackend(BackendConfig(model="rule-v1:slip=0", api_key=None))
    yield {"mock_server": server.answer,
           "demo_rule": lambda user: asyncio.run(backend.complete(None, user, max_tokens=64, temperature=None)).text}
    server.httpd.server_close()


@pytest.mark.parametrize("fake", FAKES)
@pytest.mark.parametrize("name", PROMPTS.names())
def test_fake_answers_every_prompt(answer, fake, name):
    spec = get_prompt(name)
    parser = get_parser(spec.parser)
    low, high = spec.score_range
    scores = [parser.parse(answer[fake](spec.render(CONTEXT, r)[-1]["content"])) for r in (LONG, SHORT)]
    assert all(s is not None and low <= s <= high for s in scores), scores
    if fake == "mock_server":  # the rule: 10 words or more get the top of the scale, one word far less
        assert scores[0] == high and scores[1] < high


@pytest.mark.parametrize("fake", FAKES)
@pytest.mark.parametrize("name", ["hh_score100_v3", "score5_v1", "generic_score100_brief"])
def test_fake_answers_every_item_of_a_batch(answer, fake, name):
    spec = get_prompt(name)
    pairs = [Pair(CONTEXT, LONG, SHORT, 0, i, {"dataset": "d", "split": "s"}) for i in range(3)]
    items = [it for pair in pairs for it in pair_items(pair, seed=0, pairwise=False)]
    _system, user = build_request(items, spec, pairwise=False)
    results = parse_answer(items, answer[fake](user), spec, pairwise=False)
    assert set(results) == {it.item_id for it in items}
    assert all(r.score is not None and r.error is None for r in results.values()), results


def test_mock_server_is_the_same_rule_over_http():
    # the HTTP path adds nothing to the judgement: the answer text is judge() of the prompt
    import httpx

    user = get_prompt("hh_score5_v3").render(CONTEXT, LONG)[-1]["content"]
    with MockServer() as server:
        r = httpx.post(f"{server.url}/v1/chat/completions",
                       json={"model": "m", "messages": [{"role": "user", "content": user}]}, timeout=10)
    assert r.json()["choices"][0]["message"]["content"] == judge(user)
