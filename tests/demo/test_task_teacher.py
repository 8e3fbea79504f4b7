"""The demo task's pairs and the noisy rule teacher: gold labels, split hygiene, teacher agreement, backend."""

from __future__ import annotations

import asyncio
import json

import pytest

from grpo_bt_rm.demo.task import CATEGORIES, KINDS, make_pairs, split_names, write_task
from grpo_bt_rm.demo.teacher import RuleBackend, RuleTeacher, asked_category, gold_good, is_rude, named_word


def test_every_pair_prefers_the_gold_answer():
    rows = make_pairs("train", 500, seed=0)
    for r in rows:
        assert gold_good(r["prompt"], r["chosen"]), r
        assert not gold_good(r["prompt"], r["rejected"]), r
        assert asked_category(r["prompt"]) == r["category"]
        assert r["kind"] in KINDS
        assert is_rude(r["rejected"]) == (r["kind"] == "rude")  # rude replies name the right thing, impolitely
    assert {r["kind"] for r in rows} == set(KINDS)


def test_contexts_are_distinct_and_held_out():
    splits = {s: make_pairs(s, n, seed=0) for s, n in (("train", 2000), ("val", 250), ("test", 500))}
    contexts = {s: {r["prompt"] for r in rows} for s, rows in splits.items()}
    assert len(contexts["train"]) == 2000  # one pair per context
    assert not contexts["test"] & contexts["train"]
    assert not contexts["val"] & contexts["train"]
    names = split_names(0)
    assert not set(names["test"]) & set(names["train"])


def test_too_many_pairs_is_an_error():
    with pytest.raises(ValueError, match="distinct contexts"):
        make_pairs("val", 10**6, seed=0)


def test_pairs_are_deterministic_per_seed():
    assert make_pairs("test", 50, seed=3) == make_pairs("test", 50, seed=3)
    assert make_pairs("test", 50, seed=3) != make_pairs("test", 50, seed=4)


@pytest.mark.parametrize("response,word", [("Sure! mango is a good one.", "mango"), ("Hammer.", "hammer"),
                                           ("Let me think... red.", "red"), ("No idea.", None)])
def test_named_word(response, word):
    assert named_word(response) == word


def test_teacher_agrees_about_three_in_four_and_is_blind_to_tone():
    teacher = RuleTeacher()
    rows = make_pairs("train", 2000, seed=0)
    right: dict[str, list[bool]] = {k: [] for k in KINDS}
    for r in rows:
        right[r["kind"]].append(teacher.score(r["prompt"], r["chosen"]) > teacher.score(r["prompt"], r["rejected"]))
    overall = sum(sum(v) for v in right.values()) / len(rows)
    assert 0.65 <= overall <= 0.80
    assert sum(right["wrong"]) / len(right["wrong"]) > 0.85  # it checks the category
    assert sum(right["evasive"]) / len(right["evasive"]) > 0.85
    assert sum(right["rude"]) / len(right["rude"]) < 0.6  # blind spot: tone, plus a taste for longer replies


def test_teacher_scores_are_deterministic_and_in_range():
    t = RuleTeacher(seed=1)
    a = [t.score("Name a color. Thanks, Bo", r) for r in ("Red.", "Dog.", "I would say purple.")]
    assert a == [t.score("Name a color. Thanks, Bo", r) for r in ("Red.", "Dog.", "I would say purple.")]
    assert all(0 <= s <= 100 for s in a)


def test_teacher_rejects_bad_settings():
    with pytest.raises(ValueError, match="slip"):
        RuleTeacher(slip=2.0)


def test_rule_backend_answers_single_and_batched_requests():
    from grpo_bt_rm.prompts import get_prompt
    from grpo_bt_rm.teacher.backends import BackendConfig

    backend = RuleBackend(BackendConfig(model="rule-v1:slip=0", api_key=None))
    user = get_prompt("generic_score100_v1").render("Name an animal. Thanks, Bo", "Dog.")[-1]["content"]
    single = asyncio.run(backend.complete(None, user, max_tokens=16, temperature=None)).text
    assert single.startswith("<s>") and int(single[3:5]) >= 75
    batched = f'<item id="a1">\n{user}\n</item>\n\n<item id="b2">\n{user.replace("Dog.", "Hammer.")}\n</item>'
    text = asyncio.run(backend.complete(None, batched, max_tokens=16, temperature=None)).text
    assert '<answer id="a1"><s>' in text and '<answer id="b2"><s>' in text
    garbage = asyncio.run(backend.complete(None, "hello", max_tokens=16, temperature=None)).text
    assert "<s>" not in garbage
    with pytest.raises(ValueError, match="rule-v1"):
        RuleBackend(BackendConfig(model="rule-v1:slip=abc", api_key=None))


def test_write_task_files(tmp_path):
    paths = write_task(tmp_path, {"train": 20, "test": 10}, seed=0)
    rows = [json.loads(x) for x in paths["train"].read_text().splitlines()]
    assert len(rows) == 20 and set(rows[0]) >= {"prompt", "chosen", "rejected"}
    manifest = json.loads((tmp_path / "train.jsonl.manifest.json").read_text())
    assert manifest["pairs"] == 20 and manifest["seed"] == 0
    corpus = paths["corpus"].read_text()
    assert all(w in corpus for ws in CATEGORIES.values() for w in ws)


def test_teacher_writes_its_check_in_the_prompts_order():
    """The rule teacher explains with `check_line` (blind to tone, like its score): check first on a reason-first
    prompt, the tag first otherwise; the SFT builder keeps exactly that order and one tag."""
    from grpo_bt_rm.demo.teacher import judge_text
    from grpo_bt_rm.prompts import get_prompt
    from grpo_bt_rm.teacher.sft_data import assistant_turn

    teacher = RuleTeacher(slip=0.0)
    ctx = "Uma here. Tell me one color, please."
    check = get_prompt("generic_score100_check")
    wrong = judge_text(teacher, check.render(ctx, "Sure! shovel is a good one.")[-1]["content"])
    assert wrong.startswith("names shovel, tool; asked color; no.\n<s>") and int(wrong.split("<s>")[1][:-4]) < 25
    rude = judge_text(teacher, check.render(ctx, "Yellow, you idiot.")[-1]["content"])
    assert rude.startswith("names yellow, color; asked color; yes.\n<s>") and int(rude.split("<s>")[1][:-4]) >= 72
    evasive = judge_text(teacher, check.render(ctx, "No idea, sorry.")[-1]["content"])
    assert evasive.startswith("names nothing; asked color; no.\n")
    brief = judge_text(teacher, get_prompt("generic_score100_brief").render(ctx, "Red.")[-1]["content"])
    assert brief.startswith("<s>") and brief.endswith(" names red, color; asked color; yes.")
    assert assistant_turn(check, 15, "names shovel, tool; asked color.") == "names shovel, tool; asked color.\n<s>15</s>"


def test_check_line_and_facts_share_one_phrasing():
    from grpo_bt_rm.demo.task import check_line, fact_lines

    assert check_line("fruit", "Mango") == "names mango, fruit; asked fruit; yes."
    assert check_line("fruit", "grape") == "names grape, fruit; asked fruit; yes."
    assert check_line("color", "grape") == "names grape, fruit; asked color; no."
    assert check_line("fruit", None) == "names nothing; asked fruit; no."
    assert check_line(None, "grape") == "names grape, fruit; asked nothing; no."
    facts = fact_lines()
    assert len(facts) == 4 * sum(len(ws) for ws in CATEGORIES.values())
    # every word's category appears in the check phrasing, and no line holds a request or a reply
    assert all(check_line(c, w).split(";")[0] + "." in facts for c, ws in CATEGORIES.items() for w in ws)
    assert not any("?" in line or "asked" in line for line in facts)


def test_write_task_writes_the_facts_file(tmp_path):
    from grpo_bt_rm.demo.task import fact_lines

    paths = write_task(tmp_path, {"train": 5}, seed=0)
    assert paths["facts"].read_text().splitlines() == fact_lines()
    assert "names shovel, tool." in paths["facts"].read_text()
