"""Invariants (hypothesis): compaction keeps exactly one record per pair and never loses a completed answer;
batch answers parse the same in any order."""

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_bt_rm.data import Pair
from grpo_bt_rm.prompts import get_prompt
from grpo_bt_rm.teacher.records import append_records, compact, read_records
from grpo_bt_rm.teacher.tasks import pair_items, parse_answer

events = st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=30)  # (pair, completed?)


@settings(max_examples=40, deadline=None)
@given(events=events, torn=st.booleans())
def test_compaction_keeps_one_record_per_pair_and_every_completion(tmp_path_factory, events, torn):
    path = tmp_path_factory.mktemp("c") / "results.jsonl"
    for n, (pair, ok) in enumerate(events):
        append_records(path, [{"pair_key": f"p{pair}", "error": None if ok else "boom", "n": n}])
    if torn and events:
        with open(path, "a") as f:
            f.write('{"pair_key": "p9", "err')  # a kill -9 mid-write
    best = compact(path)
    recs, torn_lines = read_records(path)
    assert torn_lines == 0 and len(recs) == len({r["pair_key"] for r in recs}) == len({p for p, _ in events})
    for key, rec in best.items():
        ns = [n for n, (p, ok) in enumerate(events) if f"p{p}" == key and ok]
        # the last completed answer wins; a pair with none keeps its last error
        want = ns[-1] if ns else max(n for n, (p, _) in enumerate(events) if f"p{p}" == key)
        assert rec["n"] == want
    lines = path.read_text().splitlines() if path.exists() else []
    assert [json.loads(x)["n"] for x in lines] == [r["n"] for r in best.values()]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), seed=st.integers(0, 1000), scores=st.data())
def test_batch_parse_is_order_invariant(n, seed, scores):
    pairs = [Pair(f"c{i}", f"a{i}", f"b{i}", 0, i, {"dataset": "d", "split": "s"}) for i in range(n)]
    items = [it for p in pairs for it in pair_items(p, seed, False)]
    values = {it.item_id: scores.draw(st.integers(0, 100)) for it in items}
    blocks = [f'<answer id="{iid}">why <s>{v}</s></answer>' for iid, v in values.items()]
    prompt = get_prompt("hh_score100_v1")
    first = parse_answer(items, "\n".join(blocks), prompt, False)
    random.Random(seed).shuffle(blocks)
    again = parse_answer(items, "noise\n" + "\n".join(blocks), prompt, False)
    assert first == again
    assert {iid: r.score for iid, r in again.items()} == {iid: float(v) for iid, v in values.items()}
