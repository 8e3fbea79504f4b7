"""build_sft_data: the assistant turn in each prompt order, filters, dedupe across directories, and errors."""

import json

import pytest

from grpo_bt_rm.io import InputError
from grpo_bt_rm.parsing import find_tags, get_parser
from grpo_bt_rm.prompts import get_prompt
from grpo_bt_rm.teacher.sft_data import SftDataSettings, assistant_turn, build, build_argparser
from grpo_bt_rm.teacher.sft_data import main as sft_main
from tests.data.rawfixtures import hh_rows, write_jsonl


def _rec(i, s0, s1, label=0, error=None, dataset="anthropic_hh", split="train", r0="Clear and right.",
         r1="Wrong sum."):
    correct = None if s0 is None or s1 is None else ((s0 > s1) if label == 0 else (s1 > s0))
    return {"pair_key": f"{dataset}:{split}:{i}", "dataset": dataset, "split": split, "source_index": i,
            "label": label, "score0": s0, "score1": s1, "reasoning0": r0, "reasoning1": r1, "correct": correct,
            "tie": s0 is not None and s0 == s1, "error": error}


def _teacher_dir(root, name, recs, data, scale="score100"):
    d = root / name
    d.mkdir(parents=True)
    (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (d / "manifest.json").write_text(json.dumps({"dataset": "anthropic_hh", "split": "train", "scale": scale,
                                                 "data_files": [str(data)], "model": "t", "prompt": "p"}))
    return d


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "hh.jsonl", hh_rows(8))


def _build(tmp_path, *flags):
    out = tmp_path / "sft.jsonl"
    args = build_argparser().parse_args(["--output", str(out), *flags])
    report = build(SftDataSettings.from_args(args))
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    return report, rows


@pytest.mark.parametrize("prompt,want", [
    ("hh_score100_v1", "<s>80</s>\nSolid answer."),         # score-first: tag, then reasoning
    ("hh_score100_v3", "Solid answer.\n<s>80</s>"),         # reason-first: reasoning, tag on the last line
    ("hh_score100_scoreonly", "<s>80</s>"),                 # score-only: the tag alone
])
def test_assistant_turn_follows_prompt_order(prompt, want):
    # the teacher put its tag first, mid-text, and repeated it; exactly one canonical tag survives
    text = assistant_turn(get_prompt(prompt), 80.0, "<s>80</s> Solid <s>80</s> answer.")
    assert text == want
    assert len(find_tags(text)) == 1 and get_parser(get_prompt(prompt).parser).parse(text) == 80.0


def test_empty_reasoning_gives_the_tag_alone():
    assert assistant_turn(get_prompt("hh_score5_v3"), 4, "  ") == "<s>4</s>"


def test_filters_and_counts_by_reason(tmp_path, data):
    recs = [_rec(0, 80, 20), _rec(1, 20, 80), _rec(2, 50, 50), _rec(3, None, 40), _rec(4, None, None, error="HTTP 500"),
            _rec(5, 60, 55), _rec(6, 90, 10, label=1)]
    _teacher_dir(tmp_path, "t1", recs, data)
    report, rows = _build(tmp_path, "--input_dirs", str(tmp_path / "t*"), "--prompt", "hh_score100_v1",
                          "--filter_correct", "--min_margin", "10")
    assert report["pairs_kept"] == 1 and report["rows"] == 1
    assert report["dropped"] == {"incorrect": 2, "tie": 1, "parse_failure": 1, "error": 1, "below_margin": 1}
    msgs = rows[0]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert "0 plus 0 is 0." in msgs[0]["content"]  # pair 0's chosen reply, rendered with the registered prompt
    assert msgs[0]["content"] == get_prompt("hh_score100_v1").render(*_hh_texts(0))[-1]["content"]
    assert msgs[1]["content"] == "<s>80</s>\nClear and right."


def _hh_texts(i):
    """(context, chosen reply) of pair i of `hh_rows`, as the anthropic_hh adapter renders them."""
    return f"Human: What is {i} plus {i}?", f"{i} plus {i} is {2 * i}."


def test_both_sides_and_no_filter(tmp_path, data):
    _teacher_dir(tmp_path, "t1", [_rec(0, 80, 20), _rec(1, 20, 80)], data)
    report, rows = _build(tmp_path, "--input_dirs", str(tmp_path / "t1"), "--prompt", "hh_score100_v3",
                          "--include_both_sides")
    assert report["rows"] == 4 and report["dropped"] == {}
    assert [r["messages"][-1]["content"] for r in rows] == [
        "Clear and right.\n<s>80</s>", "Wrong sum.\n<s>20</s>", "Clear and right.\n<s>20</s>", "Wrong sum.\n<s>80</s>"]


def test_pairs_in_several_dirs_are_deduplicated(tmp_path, data):
    _teacher_dir(tmp_path, "a", [_rec(0, 80, 20), _rec(1, 70, 20)], data)
    _teacher_dir(tmp_path, "b", [_rec(1, 90, 10), _rec(2, 60, 30)], data)
    report, rows = _build(tmp_path, "--input_dirs", str(tmp_path / "a"), str(tmp_path / "b"), "--prompt",
                          "hh_score100_scoreonly", "--filter_correct")
    assert report["pairs_kept"] == 3 and report["dropped"] == {"duplicate": 1}
    assert [r["messages"][-1]["content"] for r in rows] == ["<s>80</s>", "<s>70</s>", "<s>60</s>"]  # first dir wins


def test_wrong_dataset_or_split_is_an_error(tmp_path, data):
    _teacher_dir(tmp_path, "a", [_rec(0, 80, 20), _rec(1, 70, 20, split="test")], data)
    with pytest.raises(InputError, match="record 2.*anthropic_hh/test is not the requested anthropic_hh/train"):
        _build(tmp_path, "--input_dirs", str(tmp_path / "a"), "--prompt", "hh_score100_v1")


def test_scale_mismatch_is_an_error(tmp_path, data, capsys):
    _teacher_dir(tmp_path, "a", [_rec(0, 80, 20)], data)
    rc = sft_main(["--input_dirs", str(tmp_path / "a"), "--output", str(tmp_path / "x.jsonl"),
                   "--prompt", "hh_score5_v1"])
    assert rc == 2 and "teacher scale score100" in capsys.readouterr().err


def test_manifest_written_next_to_output(tmp_path, data):
    _teacher_dir(tmp_path, "a", [_rec(0, 80, 20)], data)
    _build(tmp_path, "--input_dirs", str(tmp_path / "a"), "--prompt", "hh_score100_v1")
    m = json.loads((tmp_path / "sft.jsonl.manifest.json").read_text())
    assert m["prompt_name"] == "hh_score100_v1" and m["rows"] == 1 and len(m["inputs"]) == 1
    assert m["inputs"][0]["results_sha256"] and m["package"] == "grpo_bt_rm"


def test_from_a_real_teacher_run(tmp_path, data):
    from grpo_bt_rm.testing.mock_server import MockServer
    from tests.teacher.helpers import run

    with MockServer() as s:
        assert run(s.url, data, tmp_path / "teacher", "anthropic", "--prompt", "hh_score100_v3") == 0
    report, rows = _build(tmp_path, "--input_dirs", str(tmp_path / "teacher" / "score100_*"), "--prompt",
                          "hh_score100_v3", "--filter_correct", "--include_both_sides")
    assert report["rows"] == 16 and all(r["messages"][-1]["content"].endswith(("<s>50</s>", "<s>30</s>"))
                                        for r in rows)


def test_prompt_defaults_to_the_teachers(tmp_path, data):
    from grpo_bt_rm.testing.mock_server import MockServer
    from tests.teacher.helpers import run

    with MockServer() as s:
        assert run(s.url, data, tmp_path / "teacher", "openai", "--prompt", "hh_score100_v3") == 0
    report, rows = _build(tmp_path, "--input_dirs", str(tmp_path / "teacher" / "*"))
    assert report["rows"] == 8 and rows[0]["messages"][-1]["content"].endswith("\n<s>50</s>")  # reason-first
    assert json.loads((tmp_path / "sft.jsonl.manifest.json").read_text())["prompt_name"] == "hh_score100_v3"


def test_reasoning_block_never_enters_a_target(tmp_path, data):
    # an older record whose explanation still carries the teacher's <think> block (with a guess tag inside it)
    _teacher_dir(tmp_path, "a", [_rec(0, 80, 20, r0="<think>A guess: <s>30</s>.</think>\nClear and right.")], data)
    _, rows = _build(tmp_path, "--input_dirs", str(tmp_path / "a"), "--prompt", "hh_score100_v3")
    assert rows[0]["messages"][-1]["content"] == "Clear and right.\n<s>80</s>"


def test_keep_reasoning_puts_the_teachers_block_first_and_the_target_still_parses(tmp_path, data):
    from grpo_bt_rm.testing.mock_server import Faults, MockServer
    from tests.teacher.helpers import run

    with MockServer(Faults(think="A first guess would be <s>30</s>, but it answers.")) as s:
        assert run(s.url, data, tmp_path / "teacher", "openai", "--prompt", "hh_score100_v3") == 0
    _, plain = _build(tmp_path, "--input_dirs", str(tmp_path / "teacher" / "*"))
    assert not any("<think>" in r["messages"][-1]["content"] for r in plain)
    assert plain[0]["messages"][-1]["content"] == "The response has 5 words and addresses the request.\n<s>50</s>"
    _, kept = _build(tmp_path, "--input_dirs", str(tmp_path / "teacher" / "*"), "--keep_reasoning")
    target = kept[0]["messages"][-1]["content"]
    assert target == ("<think>A first guess would be <s>30</s>, but it answers.</think>\n"
                      "The response has 5 words and addresses the request.\n<s>50</s>")
    assert get_parser("score100_last").parse(target) == 50.0
    manifest = json.loads((tmp_path / "sft.jsonl.manifest.json").read_text())
    assert manifest["keep_reasoning"] is True and manifest["parser"]["reasoning_tag"] == "think"


def test_a_record_for_other_pair_content_is_refused(tmp_path, data):
    # the teacher judged pair 0 when the files held other texts at that row: its judgement must not move
    _teacher_dir(tmp_path, "a", [_rec(0, 80, 20) | {"content_sha": "0123456789abcdef"}], data)
    with pytest.raises(InputError, match="content hash mismatch"):
        _build(tmp_path, "--input_dirs", str(tmp_path / "a"), "--prompt", "hh_score100_v1")
