"""Diversity metrics against hand-computed values, verdict directions, and the report files."""

from __future__ import annotations

import json
import math

import pytest

from grpo_bt_rm.reports import diversity as dv

A = "The cat sat. The cat ran — fast!"  # 7 words; the x2, cat x2; sentences of 3 and 4 words; one em-dash
B = "a b c d a b c d"  # 8 words, one sentence; 4-grams abcd bcda cdab dabc abcd: one repeat


def test_single_text_by_hand():
    m = dv.compute_metrics([A])
    assert m["words"] == 7 and m["responses"] == 1
    assert m["distinct_1"] == pytest.approx(5 / 7)
    assert m["distinct_2"] == pytest.approx(5 / 6)  # (the, cat) twice among 6 bigrams
    assert m["gini"] == pytest.approx(6 / 35)  # counts [1,1,1,2,2]: 2*24/(5*7) - 6/5
    assert m["em_dash_per_1k"] == pytest.approx(1000 / 7) and m["en_dash_per_1k"] == 0
    assert (m["sentence_len_mean"], m["sentence_len_std"]) == pytest.approx((3.5, 0.5))
    assert m["self_repetition"] == 0.0


def test_two_texts_pooled_by_hand():
    m = dv.compute_metrics([A, B])
    assert m["words"] == 15
    assert m["distinct_1"] == pytest.approx(9 / 15)
    assert m["distinct_2"] == pytest.approx((5 + 4) / (6 + 7))  # bigrams never cross responses
    assert m["gini"] == pytest.approx(2 / 15)  # counts [1,1,1,2,2,2,2,2,2]: 2*84/(9*15) - 10/9
    assert m["self_repetition"] == pytest.approx(1 / 9)  # 1 repeated of 4 + 5 four-grams
    assert (m["response_len_mean"], m["response_len_std"]) == pytest.approx((7.5, 0.5))
    assert m["sentence_len_mean"] == pytest.approx(5.0)  # sentences of 3, 4 and 8 words
    assert m["sentence_len_std"] == pytest.approx(math.sqrt(14 / 3))
    assert m["em_dash_per_1k"] == pytest.approx(1000 / 15)


def test_stock_constructions_and_en_dash():
    text = "It's not a bug, it's a feature. We delve into this. Not only fast but cheap – really."
    m = dv.compute_metrics([text])
    assert m["stock_counts"]["it's not X, it's Y"] == 1
    assert m["stock_counts"]["delve"] == 1 and m["stock_counts"]["not just X, but Y"] == 1
    assert m["words"] == 17
    assert m["stock_per_1k"] == pytest.approx(3000 / 17)
    assert m["en_dash_per_1k"] == pytest.approx(1000 / 17)
    custom = dv.compute_metrics([text], patterns={"bug": r"\bbugs?\b"})
    assert custom["stock_counts"] == {"bug": 1}


def test_gini_edges_and_vocab_budget():
    assert dv.gini([3, 3, 3, 3]) == 0.0  # uniform
    assert dv.gini([]) == 0.0
    assert dv.gini([0, 0, 0, 10]) == pytest.approx(0.75)  # all mass on one of 4: (n-1)/n
    collapsed = dv.compute_metrics(["a a a a"], vocab_budget=4)
    varied = dv.compute_metrics(["a b c d e f g h"], vocab_budget=4)
    assert collapsed["vocab_ratio"] == 0.25 and varied["vocab_ratio"] == 1.0 and varied["distinct_1"] == 1.0


@pytest.mark.parametrize(
    ("key", "base", "value", "mark"),
    [
        ("em_dash_per_1k", 10.0, 5.0, "✅"),  # fewer em-dashes is less collapse
        ("em_dash_per_1k", 5.0, 10.0, "❌"),
        ("distinct_2", 0.5, 0.6, "✅"),  # more distinct bigrams is less collapse
        ("distinct_2", 0.6, 0.5, "❌"),
        ("gini", 0.3, 0.3, "="),  # unchanged
        ("response_len_mean", 10.0, 20.0, "·"),  # no preferred direction
        ("self_repetition", 0.0, 0.1, "❌"),  # from zero: relative change is infinite
    ],
)
def test_verdict(key, base, value, mark):
    metric = next(m for m in dv.METRICS if m.key == key)
    rel, got = dv.verdict(metric, base, value)
    assert got == mark
    if base:
        assert rel == pytest.approx((value - base) / base)


def test_report_files(tmp_path, capsys):
    collapsed = tmp_path / "uniform.jsonl"
    collapsed.write_text("".join(json.dumps({"pair_key": f"d:s:{i}", "preferred_side": 0,
                                             "completions_0": ["<s>70</s> Good — really good — truly good."],
                                             "completions_1": ["<s>30</s> Bad — really bad."]}) + "\n"
                                 for i in range(3)))
    varied = tmp_path / "density.jsonl"
    varied.write_text("".join(json.dumps({"text": t}) + "\n" for t in
                              ["The reply answers the question directly.", "It misses the second part, sadly.",
                               "Clear, short and correct; nothing to add."]))
    out = tmp_path / "rep"
    rc = dv.main(["--completions", f"uniform={collapsed}", "--completions", f"density={varied}", "--out_dir",
                  str(out), "--add_pattern", "really=\\breally\\b"])
    assert rc == 0
    md = (out / "report.md").read_text()
    data = json.loads((out / "metrics.json").read_text())
    assert data["baseline"] == "uniform" and set(data["metrics"]) == {"uniform", "density"}
    assert data["metrics"]["uniform"]["responses"] == 6 and data["metrics"]["density"]["responses"] == 3
    assert "s" not in dv.words(" ".join(dv.read_texts(str(collapsed))))  # score tags stripped
    em_row = next(line for line in md.splitlines() if line.startswith("| em-dash"))
    assert "-100.0% ✅" in em_row  # density has no em-dashes at all
    assert "## What each metric means" in md and "really" in md
    assert (out / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert data["inputs"]["uniform"]["sha256"]


def test_input_errors(tmp_path, capsys):
    f = tmp_path / "a.jsonl"
    f.write_text('{"text": "hi"}\n')
    assert dv.main(["--completions", f"a={f}", "--out_dir", str(tmp_path)]) == 2
    assert "at least 2" in capsys.readouterr().err
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"completions_0": "not a list"}\n')
    assert dv.main(["--completions", f"a={f}", "--completions", f"b={bad}", "--out_dir", str(tmp_path)]) == 2
    assert f"{bad}:1: field 'completions_0'" in capsys.readouterr().err
    assert dv.main(["--completions", f"a={f}", "--completions", f"b={f}", "--baseline", "zz",
                    "--out_dir", str(tmp_path)]) == 2
    assert "--baseline" in capsys.readouterr().err
