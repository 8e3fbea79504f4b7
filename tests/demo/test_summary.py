"""The demo summary: SFT vs. final GRPO checkpoint from eval_bt results, target check, reward trend, errors."""

from __future__ import annotations

import json

import pytest

from grpo_bt_rm.demo import summary as demo_summary
from grpo_bt_rm.eval.metrics import REQUIRED_METRICS
from grpo_bt_rm.io import InputError


def _result(eval_dir, name, step, acc, fail=0.0):
    metrics = dict.fromkeys(REQUIRED_METRICS, 0.0)
    metrics.update(n_pairs=500, acc_all=acc, acc_parsed=acc, parse_fail_rate=fail, logloss_all=0.6)
    obj = {"kind": "eval_bt", "complete": True, "seed": 0, "metrics": metrics,
           "checkpoint": {"name": name, "path": f"/x/{name}", "kind": "full", "step": step}}
    (eval_dir / f"eval_{name}_seed0.json").write_text(json.dumps(obj))


@pytest.fixture
def demo_dir(tmp_path):
    d = tmp_path / "demo"
    eval_dir = d / "grpo" / "eval"
    eval_dir.mkdir(parents=True)
    _result(eval_dir, "random", None, 0.0, fail=1.0)
    _result(eval_dir, "sft", 360, 0.64)  # the SFT link points at an SFT checkpoint-360: not a GRPO step
    _result(eval_dir, "checkpoint-100", 100, 0.70)
    _result(eval_dir, "checkpoint-300", 300, 0.86)
    _result(eval_dir, "checkpoint-200", 200, 0.72)
    logs = [{"reward": r, "bt/pair_acc": a} for r, a in ((-1.0, 0.5), (-0.9, 0.6), (-0.5, 0.8))]
    (d / "grpo" / "logging.jsonl").write_text("\n".join(json.dumps(x) for x in logs) + "\n")
    (d / "stage_times.tsv").write_text("sft\t10.5\ngrpo\t20.0\n")
    return d


def test_summary_picks_final_grpo_and_checks_the_target(demo_dir):
    s = demo_summary.build_summary(demo_dir, demo_dir / "grpo" / "eval")
    assert s["sft"]["acc_all"] == 0.64 and s["grpo"]["checkpoint"] == "checkpoint-300"
    assert s["acc_all_gain"] == pytest.approx(0.22)
    assert s["target"]["met"] is True
    assert [c["name"] for c in s["checkpoints"]] == ["random", "sft", "checkpoint-100", "checkpoint-200",
                                                     "checkpoint-300"]
    assert s["checkpoints"][1]["step"] is None
    assert s["grpo_reward"]["first"]["reward"] == -1.0 and s["grpo_reward"]["last"]["reward"] == -0.5
    assert s["stage_seconds"] == {"sft": 10.5, "grpo": 20.0} and s["total_seconds"] == 30.5
    assert "+22.0 points" in demo_summary.markdown(s)


def test_target_needs_085_acc_all_and_the_gain(demo_dir):
    # +11 points over SFT but 0.75 < 0.85: the judge has not beaten its ~0.73 teacher by enough (issue 15)
    _result(demo_dir / "grpo" / "eval", "checkpoint-300", 300, 0.75)
    s = demo_summary.build_summary(demo_dir, demo_dir / "grpo" / "eval")
    assert s["acc_all_gain"] == pytest.approx(0.11) and s["target"]["met"] is False
    # 0.85 but only +5 over a strong SFT: not met either
    _result(demo_dir / "grpo" / "eval", "sft", 360, 0.80)
    _result(demo_dir / "grpo" / "eval", "checkpoint-300", 300, 0.85)
    assert demo_summary.build_summary(demo_dir, demo_dir / "grpo" / "eval")["target"]["met"] is False


def test_target_not_met_when_parse_failures_are_high(demo_dir):
    _result(demo_dir / "grpo" / "eval", "checkpoint-300", 300, 0.90, fail=0.2)
    s = demo_summary.build_summary(demo_dir, demo_dir / "grpo" / "eval")
    assert s["target"]["met"] is False
    assert "NOT met" in demo_summary.markdown(s)


def test_cli_writes_summary_files(demo_dir, capsys):
    assert demo_summary.main(["--demo_dir", str(demo_dir)]) == 0
    saved = json.loads((demo_dir / "summary.json").read_text())
    assert saved["grpo"]["step"] == 300 and saved["package"] == "grpo_bt_rm"
    assert (demo_dir / "summary.md").exists() and (demo_dir / "demo_plot.png").stat().st_size > 1000
    assert "SFT warm-up" in capsys.readouterr().out


def test_missing_sft_or_grpo_is_a_clear_error(tmp_path):
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    with pytest.raises(InputError, match="no complete eval_bt result"):
        demo_summary.build_summary(tmp_path, eval_dir)
    _result(eval_dir, "checkpoint-100", 100, 0.7)
    with pytest.raises(InputError, match="SFT model"):
        demo_summary.build_summary(tmp_path, eval_dir)
    _result(eval_dir, "sft", None, 0.6)
    (eval_dir / "eval_checkpoint-100_seed0.json").unlink()
    with pytest.raises(InputError, match="GRPO checkpoint"):
        demo_summary.build_summary(tmp_path, eval_dir)


def test_exactly_ten_points_meets_the_target_despite_float_rounding(demo_dir):
    # 0.9 - 0.8 is 0.09999999999999998 in floating point: a gain of exactly +10 points must still count
    _result(demo_dir / "grpo" / "eval", "sft", 360, 0.80)
    _result(demo_dir / "grpo" / "eval", "checkpoint-300", 300, 0.90)
    assert demo_summary.build_summary(demo_dir, demo_dir / "grpo" / "eval")["target"]["met"] is True


def test_meets_target_at_every_boundary_of_a_500_pair_split():
    # acc_all is a multiple of 1/1000 on 500 pairs (ties count half): +100/1000 is met, +99/1000 is not
    for sft in range(0, 901):
        final = sft + 100
        if final > 1000 or final < 850:
            continue
        assert demo_summary.meets_target(final / 1000, sft / 1000, 0.0), (final, sft)
        assert not demo_summary.meets_target((final - 1) / 1000, sft / 1000, 0.0), (final - 1, sft)
    assert demo_summary.meets_target(0.85, 0.75, 0.0) and not demo_summary.meets_target(0.849, 0.70, 0.0)
    # parse failures: exactly 2% (10 of 500 pairs, summed as a mean of 500 floats) passes, 11 of 500 does not
    assert demo_summary.meets_target(0.95, 0.8, sum([1.0] * 10 + [0.0] * 490) / 500)
    assert not demo_summary.meets_target(0.95, 0.8, 11 / 500)


def _with_completions(eval_dir, name, sides, scoring="text"):
    """Rewrite `name`'s result with `scoring` and save completions: one pair per (preferred text, other text,
    preferred's last-digit log-probs, other's), every pair preferring side 0."""
    import math

    from grpo_bt_rm.eval.completions import make_record
    from grpo_bt_rm.io import write_jsonl
    from grpo_bt_rm.parsing import get_parser

    path = eval_dir / f"eval_{name}_seed0.json"
    obj = json.loads(path.read_text())
    obj.update(parser={"name": "score100_first", "reasoning_tag": "think"},
               settings={"bt_temp": 20.0, "scoring": scoring})
    path.write_text(json.dumps(obj))
    recs = []
    for i, (t0, t1, d0, d1) in enumerate(sides):
        lp = [[[len(t) - 4, [math.log(0.5) if k in d else -math.inf for k in range(10)]]]
              for t, d in ((t0, d0), (t1, d1))]
        recs.append(make_record(f"p{i}", 0, [t0], [t1], get_parser("score100_first"),
                                digit_logprobs_0=[lp[0]], digit_logprobs_1=[lp[1]]))
    write_jsonl(eval_dir / f"eval_{name}_seed0.completions.jsonl", recs)


def test_readouts_give_both_verdicts_from_the_same_completions(demo_dir):
    ev = demo_dir / "grpo" / "eval"
    # SFT: a tie under text (50 vs 50), but the expected digits split it the wrong way (52 vs 54.5): 0.5 -> 0
    _with_completions(ev, "sft", [("<s>50</s>", "<s>50</s>", (0, 4), (0, 9)),
                                  ("<s>70</s>", "<s>30</s>", (0,), (0,))])
    # GRPO: a text tie split the right way: 0.5 -> 1
    _with_completions(ev, "checkpoint-300", [("<s>50</s>", "<s>50</s>", (0, 9), (0, 4)),
                                             ("<s>70</s>", "<s>30</s>", (0,), (0,))])
    s = demo_summary.build_summary(demo_dir, ev)
    assert s["scoring"] == "text"
    r = s["readouts"]
    assert (r["text"]["sft"]["acc_all"], r["text"]["grpo"]["acc_all"]) == (0.75, 0.75)
    assert (r["expected"]["sft"]["acc_all"], r["expected"]["grpo"]["acc_all"]) == (0.5, 1.0)
    assert r["text"]["met"] is False and r["expected"]["met"] is True and r["expected"]["gain"] == 0.5
    assert r["expected"]["sft"]["tie_rate"] == 0.0 and r["text"]["sft"]["tie_rate"] == 0.5
    text = demo_summary.markdown(s)
    assert "Scores read as: text" in text and "| text (the table's) | 0.750 (0.50) | 0.750 (0.50) | +0.0 | NOT met |" \
        in text and "| expected | 0.500 (0.00) | 1.000 (0.00) | +50.0 | met |" in text


def test_results_read_two_ways_are_not_summarized_together(demo_dir):
    ev = demo_dir / "grpo" / "eval"
    _with_completions(ev, "sft", [("<s>50</s>", "<s>40</s>", (0,), (0,))], scoring="expected")
    with pytest.raises(InputError, match=r"different --scoring \(expected: .*eval_sft_seed0\.json, text: "):
        demo_summary.build_summary(demo_dir, ev)
    for name in ("random", "checkpoint-100", "checkpoint-200", "checkpoint-300"):
        _with_completions(ev, name, [("<s>50</s>", "<s>40</s>", (0,), (0,))], scoring="expected")
    s = demo_summary.build_summary(demo_dir, ev)
    assert s["scoring"] == "expected" and "Scores read as: expected" in demo_summary.markdown(s)


def test_no_readouts_without_completions(demo_dir):
    assert demo_summary.build_summary(demo_dir, demo_dir / "grpo" / "eval")["readouts"] is None
