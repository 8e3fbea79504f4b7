import gzip
import json

import pytest

from grpo_bt_rm.data import load_pairs
from grpo_bt_rm.data.adapters import strip_html
from grpo_bt_rm.io import InputError
from tests.data.rawfixtures import hh_rows, sff_row, write_jsonl
from tests.data.rawfixtures import hh_transcript as T


def test_sff_context_and_choice(tmp_path):
    f = write_jsonl(tmp_path / "sff.jsonl", [sff_row(choice=1), sff_row(s0="same", s1="same")])
    pairs, stats = load_pairs("summarize_from_feedback", "validation", [str(f)])
    assert len(pairs) == 1 and stats.dropped == {"identical": 1}
    p = pairs[0]
    assert p.context == "SUBREDDIT: r/tifu\nTITLE: Keys\nI lost my keys and found them."
    assert (p.response_0, p.response_1, p.preferred_side, p.source_index) == (
        "Lost keys, found them.", "Keys.", 1, 0)
    assert p.key == "summarize_from_feedback:validation:0"


def test_sff_without_title_or_subreddit(tmp_path):
    row = {"info": {"post": "body"}, "summaries": [{"text": "a"}, {"text": "b"}], "choice": 0}
    pairs, _ = load_pairs("summarize_from_feedback", "train", [str(write_jsonl(tmp_path / "s.jsonl", [row]))])
    assert pairs[0].context == "body"


def test_hh_gz_and_glob_and_drops(tmp_path):
    rows = hh_rows(3) + [{"chosen": T(("Human", "a"), ("Assistant", "x")), "rejected": T(("Human", "b"),
                                                                                       ("Assistant", "y"))}]
    with gzip.open(tmp_path / "part1.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows[:2]))
    write_jsonl(tmp_path / "part2.jsonl", rows[2:])
    pairs, stats = load_pairs("anthropic_hh", "test", [str(tmp_path / "part*")])
    assert [p.source_index for p in pairs] == [0, 1, 2]
    assert stats.rows == 4 and stats.dropped == {"prefix_mismatch": 1}
    assert pairs[1].context == "Human: What is 1 plus 1?" and pairs[1].chosen == "1 plus 1 is 2."


def test_ultrafeedback(tmp_path):
    row = {"prompt": "Say hi", "chosen": [{"role": "user", "content": "Say hi"}, {"role": "assistant",
                                                                                   "content": "Hi!"}],
           "rejected": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "No."}]}
    pairs, _ = load_pairs("ultrafeedback_binarized", "test_prefs", [str(write_jsonl(tmp_path / "u.jsonl", [row]))])
    assert (pairs[0].context, pairs[0].chosen, pairs[0].rejected) == ("Say hi", "Hi!", "No.")


def test_stack_exchange_html_and_extremes(tmp_path):
    row = {"question": "<p>How do I <b>sort</b> &amp; filter?</p>",
           "answers": [{"text": "<p>mid</p>", "pm_score": 2}, {"text": "<p>best <code>x</code></p>", "pm_score": 9},
                       {"text": "<p>worst</p>", "pm_score": -1}]}
    tie = {"question": "q", "answers": [{"text": "a", "pm_score": 1}, {"text": "b", "pm_score": 1}]}
    single = {"question": "q", "answers": [{"text": "a", "pm_score": 1}]}
    f = write_jsonl(tmp_path / "se.jsonl", [row, tie, single])
    pairs, stats = load_pairs("stack_exchange_preferences", "train", [str(f)])
    assert len(pairs) == 1
    assert pairs[0].context == "How do I sort & filter?"
    assert (pairs[0].chosen, pairs[0].rejected) == ("best x", "worst")
    assert stats.dropped == {"no_score_gap": 1, "too_few_answers": 1}


def test_strip_html_blocks():
    assert strip_html("<p>a</p><p>b<br>c</p>") == "a\n\nb\nc"


def test_pairs_jsonl_json_array(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps([{"prompt": "p", "chosen": "c", "rejected": "r"}]))
    pairs, _ = load_pairs("pairs_jsonl", "train", [str(tmp_path / "p.json")])
    assert pairs[0].chosen == "c"


def test_malformed_row_names_file_line_field(tmp_path):
    f = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "chosen": "c", "rejected": "r"}, {"prompt": "p",
                                                                                             "chosen": "c"}])
    with pytest.raises(InputError, match=r"bad\.jsonl:2: field 'rejected' missing"):
        load_pairs("pairs_jsonl", "train", [str(f)])


def test_wrong_type_and_bad_json(tmp_path):
    f = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": 3, "chosen": "c", "rejected": "r"}])
    with pytest.raises(InputError, match=r"bad\.jsonl:1: field 'prompt' expected str, got int"):
        load_pairs("pairs_jsonl", "train", [str(f)])
    g = write_jsonl(tmp_path / "bad2.jsonl", ['{"prompt": "p", "chosen": "c", "rejected": "r"}', "{oops"])
    with pytest.raises(InputError, match=r"bad2\.jsonl:2: invalid JSON"):
        load_pairs("pairs_jsonl", "train", [str(g)])
    pairs, stats = load_pairs("pairs_jsonl", "train", [str(g)], skip_bad=True)
    assert len(pairs) == 1 and stats.malformed == 1


def test_missing_files_and_unknown_dataset(tmp_path):
    with pytest.raises(InputError, match="no file matches"):
        load_pairs("pairs_jsonl", "train", [str(tmp_path / "nope*.jsonl")])
    with pytest.raises(KeyError, match="anthropic_hh"):
        load_pairs("not_a_dataset", "train", [])
    with pytest.raises(InputError, match="--data_files"):
        load_pairs("pairs_jsonl", "train", None)
