"""End to end on real CPU GRPO checkpoints of the tiny model: prompt parity, LoRA / full / base, determinism."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from types import SimpleNamespace

import pytest

from grpo_bt_rm.eval import eval_bt
from grpo_bt_rm.eval import judge as eval_judge
from grpo_bt_rm.eval.completions import read_completions
from grpo_bt_rm.eval.loading import build_template, load_judge, resolve_checkpoint, resolve_run, template_settings
from grpo_bt_rm.eval.metrics import REQUIRED_METRICS
from grpo_bt_rm.eval.settings import EvalSettings
from grpo_bt_rm.io import InputError
from grpo_bt_rm.parsing import get_parser
from grpo_bt_rm.prompts import get_prompt
from tests.eval.conftest import HH_SAMPLE, PREFIX, PROMPT, SYSTEM


def eval_argv(run_dir, checkpoint, out, *extra):
    return ["--run_dir", str(run_dir), "--checkpoint", checkpoint, "--dataset", "anthropic_hh", "--split", "sample",
            "--data_files", str(HH_SAMPLE), "--prompt", PROMPT, "--n_pairs", "4", "--max_new_tokens", "10",
            "--batch_pairs", "4", "--bt_temp", "20", "--out_json", str(out), *extra]


def _eval_prompt_ids(judge) -> dict:
    pairs, _ = eval_judge.select_pairs("anthropic_hh", "sample", [str(HH_SAMPLE)], 0, 0)
    prompt = get_prompt(PROMPT)
    ids = {}
    for p in pairs:
        for response in (p.response_0, p.response_1):
            enc = eval_judge.encode_prompt(judge.template, prompt.render(p.context, response))
            ids[tuple(enc)] = judge.template.safe_decode(enc)
    return ids


def test_prompt_parity_with_grpo_rollout_and_response_prefix(grpo_runs):
    """A run trained with --response_prefix '<s>': eval continues from the same tokens, pre-fill included."""
    recorded = [json.loads(line) for line in grpo_runs.recorded_full.read_text().splitlines()]
    assert recorded, "the recording plugin saw no rollout prompt"
    run = resolve_run(grpo_runs.full_run)
    judge = load_judge(resolve_checkpoint("checkpoint-1", run), run, dtype="fp32", load_model=False)
    assert judge.settings.response_prefix == PREFIX
    ids = _eval_prompt_ids(judge)
    assert {tuple(r["input_ids"]) for r in recorded} <= set(ids)
    for r in recorded:
        assert ids[tuple(r["input_ids"])] == r["text"] and r["text"].endswith("<|im_start|>assistant\n" + PREFIX)
    # negative control: the same template without the pre-fill reproduces none of the rollout's prompts
    bare = build_template(judge.tokenizer, dataclasses.replace(judge.settings, response_prefix=None))
    assert not {tuple(r["input_ids"]) for r in recorded} & set(_eval_prompt_ids(SimpleNamespace(template=bare)))
    # a --response_prefix that disagrees with the run's is refused; the same one (ms-swift "\\n" rule) is accepted
    with pytest.raises(InputError, match="response_prefix"):
        template_settings(run, response_prefix="<score>")
    assert template_settings(run, response_prefix=PREFIX).response_prefix == PREFIX


def test_eval_with_response_prefix_parses_prefix_plus_completion(grpo_runs, tmp_path):
    out = tmp_path / "full.json"
    comp = tmp_path / "full.completions.jsonl"
    result = eval_bt.run(EvalSettings.from_args(eval_bt.build_argparser().parse_args(
        eval_argv(grpo_runs.full_run, "checkpoint-1", out, "--no_plot", "--save_completions", str(comp),
                  "--max_new_tokens", "4"))))
    assert result["settings"]["response_prefix"] == PREFIX and result["template"]["response_prefix"] == PREFIX
    assert result["parser"]["reasoning_tag"] == "think"
    records = read_completions(comp)
    texts = [c for r in records for k in (0, 1) for c in r[f"completions_{k}"]]
    assert texts and all(c.startswith(PREFIX) for c in texts)  # stored as the whole answer, pre-fill included
    flags = [t for r in records for k in (0, 1) for t in r[f"truncated_{k}"]]
    m = result["metrics"]
    assert m["truncated_rate"] == pytest.approx(sum(flags) / len(flags))
    # every completion's score is the parse of prefix + continuation with its truncation flag
    parser = get_parser(result["parser"]["name"])
    for r in records:
        for k in (0, 1):
            assert r[f"scores_{k}"] == [parser.parse(c, t) for c, t in zip(r[f"completions_{k}"], r[f"truncated_{k}"])]


def test_prompt_parity_with_grpo_rollout(grpo_runs):
    """Every prompt the GRPO trainer's rollout encoded is reproduced token for token by eval."""
    recorded = [json.loads(line) for line in grpo_runs.recorded.read_text().splitlines()]
    assert recorded, "the recording plugin saw no rollout prompt"
    trained = {tuple(r["input_ids"]) for r in recorded}
    run = resolve_run(grpo_runs.lora_run)
    judge = load_judge(resolve_checkpoint("checkpoint-2", run), run, dtype="fp32", load_model=False)
    assert judge.settings.system == SYSTEM and judge.settings.template == "qwen2_5"
    ids = _eval_prompt_ids(judge)
    assert trained <= set(ids), "a training prompt was not reproduced exactly by eval"
    for r in recorded:
        assert ids[tuple(r["input_ids"])] == r["text"]  # the text is equal too, not only the ids
        assert r["text"].startswith(f"<|im_start|>system\n{SYSTEM}<|im_end|>")
    # negative control: the template's default system prompt (what a mismatched eval would use) matches nothing
    default_system = dataclasses.replace(template_settings(resolve_run(grpo_runs.full_run)), response_prefix=None)
    wrong = build_template(judge.tokenizer, default_system)
    assert not trained & set(_eval_prompt_ids(SimpleNamespace(template=wrong)))


@pytest.mark.parametrize("checkpoint,kind", [("checkpoint-2", "lora"), ("base", "base"), ("checkpoint-1", "full"),
                                             ("absolute", "full")])
def test_eval_checkpoint_kinds(grpo_runs, tmp_path, checkpoint, kind):
    # "absolute": a plain model dir given by path (like a merged SFT model in the demo sweep), prompts rendered with
    # the --run_dir's template and system prompt
    run_dir = grpo_runs.full_run if checkpoint == "checkpoint-1" else grpo_runs.lora_run
    ck = str(grpo_runs.base_model) if checkpoint == "absolute" else checkpoint
    out = tmp_path / "r.json"
    comp = tmp_path / "c.jsonl"
    assert eval_bt.main(eval_argv(run_dir, ck, out, "--save_completions", str(comp), "--report_margins",
                                  "--report_uncertainty")) == 0
    res = json.loads(out.read_text())
    assert res["complete"] is True and res["checkpoint"]["kind"] == kind
    assert set(REQUIRED_METRICS) <= set(res["metrics"])
    assert res["metrics"]["n_pairs"] == 4 and res["metrics"]["n_completions"] == 8
    assert res["prompt"]["name"] == PROMPT and res["prompt"]["version"] == 1
    assert res["parser"]["name"] == "score100_first"
    assert res["package_version"] and res["seed"] == 0
    if kind == "lora":
        assert res["checkpoint"]["lora_modules"] > 0 and res["checkpoint"]["step"] == 2
        assert res["template"]["system"] == SYSTEM
    if kind == "base":
        assert res["checkpoint"]["path"] == str(grpo_runs.base_model)
        assert res["metrics"]["parse_fail_rate"] < 0.5  # the warm-started base writes score tags
    if checkpoint == "checkpoint-1":
        assert res["checkpoint"]["path"].endswith("checkpoint-1") and res["template"]["system"] is None
    if checkpoint == "absolute":
        assert res["checkpoint"]["name"] == grpo_runs.base_model.name and res["checkpoint"]["step"] is None
        assert res["template"]["system"] == SYSTEM and res["metrics"]["parse_fail_rate"] < 0.5
    assert out.with_suffix(".log").read_text().count("acc_all=") == 1
    assert out.with_suffix(".reliability.png").read_bytes()[:4] == b"\x89PNG"
    recs = read_completions(comp)
    assert len(recs) == 4 and all(len(r["completions_0"]) == 1 for r in recs)
    # recomputing from the saved completions reproduces every metric without a model
    out2 = tmp_path / "r2.json"
    assert eval_bt.main(["--from_completions", str(comp), "--bt_temp", "20", "--prompt", PROMPT, "--out_json",
                         str(out2), "--report_margins", "--report_uncertainty", "--no_plot"]) == 0
    assert json.loads(out2.read_text())["metrics"] == res["metrics"]


def test_greedy_is_deterministic_and_sampling_is_seeded(grpo_runs, tmp_path):
    def completions(name, *extra):
        comp = tmp_path / f"{name}.jsonl"
        assert eval_bt.main(eval_argv(grpo_runs.lora_run, "base", tmp_path / f"{name}.json", "--save_completions",
                                      str(comp), "--no_plot", *extra)) == 0
        return [(r["completions_0"], r["completions_1"]) for r in read_completions(comp)]

    assert completions("g1") == completions("g2")
    sample = ("--do_sample", "--n_samples", "2", "--temperature", "1.0")
    assert completions("s1", "--seed", "3", *sample) == completions("s2", "--seed", "3", *sample)


def test_checkpoint_errors(grpo_runs, tmp_path):
    run = resolve_run(grpo_runs.lora_run)
    with pytest.raises(InputError, match="not found"):
        resolve_checkpoint("checkpoint-999", run)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither a LoRA adapter"):
        resolve_checkpoint(str(tmp_path / "empty"), run)
    assert resolve_checkpoint("checkpoint-0", run).path == str(grpo_runs.base_model)
    # an output dir holding vN-* runs resolves to the run inside it
    assert resolve_run(grpo_runs.lora_run.parent).run_dir == grpo_runs.lora_run
    with pytest.raises(InputError, match="disagrees"):
        template_settings(run, system="something else")
    # without --prompt, the prompt is the one named in the run's training rows
    settings = EvalSettings(run_dir=str(grpo_runs.lora_run))
    assert eval_judge.resolve_prompt_name(settings) == (PROMPT, "training rows (prompt_name)")


def test_base_model_from_model_dir_when_model_is_a_hub_id(tmp_path, grpo_runs):
    """A run trained from a hub id records the local download in `model_dir`; `base` loads that directory."""
    args = json.loads((grpo_runs.lora_run / "args.json").read_text())
    args.update(model="Qwen/Qwen2.5-0.5B-Instruct", model_dir=str(grpo_runs.base_model))
    (tmp_path / "args.json").write_text(json.dumps(args))
    assert resolve_checkpoint("base", resolve_run(tmp_path)).path == str(grpo_runs.base_model)
    args.update(model_dir=None)
    (tmp_path / "args.json").write_text(json.dumps(args))
    with pytest.raises(InputError, match="not a local directory"):
        resolve_checkpoint("base", resolve_run(tmp_path))


def test_lora_checkpoint_really_differs_from_base(grpo_runs):
    """The adapter is applied: the merged LoRA model's weights differ from the base model's."""
    run = resolve_run(grpo_runs.lora_run)
    lora = load_judge(resolve_checkpoint("checkpoint-2", run), run, dtype="fp32").model.state_dict()
    base = load_judge(resolve_checkpoint("base", run), run, dtype="fp32").model.state_dict()
    assert set(lora) == set(base)
    changed = [k for k in base if not (lora[k] == base[k]).all()]
    assert changed and all("proj" in k for k in changed)


def test_expected_scoring_end_to_end(grpo_runs, tmp_path):
    out, comp = tmp_path / "e.json", tmp_path / "e.completions.jsonl"
    assert eval_bt.main(eval_argv(grpo_runs.lora_run, "base", out, "--save_completions", str(comp), "--no_plot",
                                  "--scoring", "expected")) == 0
    res = json.loads(out.read_text())
    assert res["settings"]["scoring"] == res["args"]["scoring"] == res["metrics"]["scoring"] == "expected"
    # the warm tiny model's tokenizer writes each digit as its own token; lone-digit scores on 0-100 fall back
    assert 0 <= res["metrics"]["expected_fallbacks"] < res["metrics"]["n_completions"]
    assert "scoring=expected" in out.with_suffix(".log").read_text()
    recs = read_completions(comp, "expected")
    assert all(len(r["digit_logprobs_0"]) == 1 for r in recs)
    rescored = tmp_path / "r.json"
    assert eval_bt.main(["--from_completions", str(comp), "--scoring", "expected", "--out_json", str(rescored),
                         "--no_plot", "--bt_temp", "20"]) == 0
    assert json.loads(rescored.read_text())["metrics"] == res["metrics"]
    text = tmp_path / "t.json"
    assert eval_bt.main(["--from_completions", str(comp), "--out_json", str(text), "--no_plot", "--bt_temp",
                         "20"]) == 0
    tm = json.loads(text.read_text())["metrics"]
    assert tm["scoring"] == "text" and "expected_fallbacks" not in tm
    assert tm["parse_fail_rate"] == res["metrics"]["parse_fail_rate"]  # the readout changes no parse
    assert tm["delta"] != res["metrics"]["delta"]  # ... but it does move the scores


@pytest.mark.parametrize("argv,message", [
    (["--engine", "vllm"], "--scoring expected needs --engine transformers"),
    (["--scorer", "scalar"], "--scorer scalar has none"),
    (["--scoring", "mean"], "argument --scoring: invalid choice"),
])
def test_expected_scoring_bad_combinations(tmp_path, capsys, argv, message):
    argv = ["--checkpoint", "base", "--model", str(tmp_path), "--scoring", "expected", *argv]
    with pytest.raises(SystemExit) if "mean" in argv else contextlib.nullcontext():
        assert eval_bt.main(argv) == 2  # before any model is loaded
    assert message in capsys.readouterr().err
