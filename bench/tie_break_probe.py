"""Tie-break probe for the demo judge (issue 15 §1, "ties"): does the judge's own score distribution separate the
pairs that greedy decoding ties? A diagnostic, not part of any pipeline; docs/bench_demo.md (round 8) has the runs.

    python bench/tie_break_probe.py --demo outputs/demo --checkpoint outputs/demo/grpo/checkpoint-450 --split val

For every pair side it decodes greedily, one prompt at a time, finds the digits of the `<s>N</s>` score (one to
three digit tokens) and reads the judge's next-token distribution at each, restricted to the ten digit tokens and
renormalised. Three scores per side:
- `greedy`: the decoded score (eval_bt's score; unbatched decoding can differ from eval_bt's left-padded batches
  in the last float bits, so its acc_all can differ from eval_bt's by a pair or two);
- `expected_units`: the greedy score with its last digit replaced by that digit's expectation under the judge's
  distribution, given the greedy digits before it;
- `expected_digits`: every digit replaced by its expectation, at its place value; each distribution is read after
  the greedy digits before it, so this approximates E[score].
Expected scores as a tie-breaker follow G-Eval (Liu et al., 2023, "G-Eval: NLG Evaluation using GPT-4 with
Better Human Alignment", §2.3: probability-weighted summation of the score tokens).

Prints acc_all (ties count half), tie rate and wrong-pair rate for each score on the split's pairs. Needs a
tokenizer that writes each digit as its own token (the demo's does); a pair with a side whose answer has no score
tag is counted wrong under all three scores alike, as eval_bt's acc_all counts it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpo_bt_rm.io import InputError

DIGITS = "0123456789"


def build_argparser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python bench/tie_break_probe.py", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demo", required=True, help="a finished scripts/demo.sh directory (raw/, grpo/, settings.env)")
    p.add_argument("--checkpoint", required=True, help="a GRPO checkpoint-N or the SFT model directory")
    p.add_argument("--split", default="val", choices=("val", "test"), help="which raw split (default: val)")
    p.add_argument("--max_new_tokens", type=int, default=24, help="greedy answer length (the demo's: 24)")
    return p


def demo_prompt(demo: Path) -> str:
    """The demo's PROMPT from its settings.env (the prompt its judge was trained with)."""
    from grpo_bt_rm.demo.summary import demo_settings

    path = demo / "settings.env"
    if not path.is_file():
        raise InputError(f"{path}: missing; --demo must be a scripts/demo.sh directory")
    prompt = demo_settings(demo).get("PROMPT")
    if not prompt:
        raise InputError(f"{path}: no PROMPT= line")
    return prompt


def digit_positions(pieces: list[str]) -> list[int] | None:
    """Indices of the score's digit tokens (1 to 3 in a row, right after the first `<s>`) in the decoded answer
    pieces, or None when there is no such score."""
    text, start, found = "", None, []
    for i, piece in enumerate(pieces):
        if start is None:
            text += piece
            if text.endswith("<s>"):
                start = i
            continue
        if len(piece) == 1 and piece in DIGITS:
            found.append(i)
            continue
        break
    return found if 1 <= len(found) <= 3 else None


def side_scores(model, tokenizer, ids: list[int], digit_ids: list[int], max_new_tokens: int):
    """(greedy, expected_units, expected_digits) for one prompt, or None without a score tag."""
    import torch

    x = torch.tensor([ids])
    with torch.no_grad():
        out = model.generate(x, max_new_tokens=max_new_tokens, do_sample=False, output_scores=True,
                             return_dict_in_generate=True, pad_token_id=tokenizer.pad_token_id)
    gen = out.sequences[0, len(ids):].tolist()
    pos = digit_positions([tokenizer.decode([t]) for t in gen])
    if pos is None:
        return None
    dist = []
    for p in pos:
        probs = torch.softmax(out.scores[p][0].float(), -1)[digit_ids]
        dist.append(probs / probs.sum())
    values = torch.arange(10, dtype=torch.float32)
    digits = [int(tokenizer.decode([gen[p]])) for p in pos]
    expect = [float((d * values).sum()) for d in dist]
    place = [10 ** (len(pos) - 1 - k) for k in range(len(pos))]
    greedy = sum(v * w for v, w in zip(digits, place))
    return greedy, greedy - digits[-1] + expect[-1], sum(v * w for v, w in zip(expect, place))


def main(argv: list[str] | None = None) -> int:
    a = build_argparser().parse_args(argv)
    demo = Path(a.demo)
    try:
        prompt = demo_prompt(demo)
        raw = demo / "raw" / f"{a.split}.jsonl"
        if not raw.is_file():
            raise InputError(f"{raw}: missing; --demo must be a scripts/demo.sh directory")
        from grpo_bt_rm.eval.eval_bt import build_argparser as eval_args
        from grpo_bt_rm.eval.judge import encode_prompt, open_judge
        from grpo_bt_rm.eval.settings import EvalSettings

        args = eval_args().parse_args([
            "--run_dir", str(demo / "grpo"), "--checkpoint", a.checkpoint, "--dataset", "pairs_jsonl",
            "--split", a.split, "--data_files", str(raw), "--n_pairs", "0", "--prompt", prompt,
            "--max_new_tokens", str(a.max_new_tokens), "--out_json", "/dev/null"])
        judge = open_judge(EvalSettings.from_args(args))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tok, model, template = judge.loaded.tokenizer, judge.loaded.model, judge.loaded.template
    model.eval()
    digit_ids = [tok.convert_tokens_to_ids(d) for d in DIGITS]
    if any(i is None or i == tok.unk_token_id for i in digit_ids):
        print(f"error: {a.checkpoint}: the tokenizer has no single token per digit", file=sys.stderr)
        return 2
    names = ("greedy", "expected_units", "expected_digits")
    counts = {n: [0, 0, 0] for n in names}  # right, tie, wrong
    unscored = 0
    for pr in judge.pairs:
        sides = [side_scores(model, tok, encode_prompt(template, judge.prompt.render(pr.context, r)), digit_ids,
                             a.max_new_tokens) for r in (pr.response_0, pr.response_1)]
        if None in sides:
            unscored += 1
            continue
        for k, n in enumerate(names):
            d = sides[pr.preferred_side][k] - sides[1 - pr.preferred_side][k]
            counts[n][0 if d > 0 else 1 if d == 0 else 2] += 1
    total = len(judge.pairs)
    print(f"{a.checkpoint} on {total} {a.split} pairs ({unscored} with a side without a score tag, counted wrong)")
    print("| score | acc_all | tie rate | wrong |")
    print("|---|---|---|---|")
    for n in names:
        right, tie, wrong = counts[n]
        print(f"| {n} | {(right + tie / 2) / total:.3f} | {tie / total:.3f} | {(wrong + unscored) / total:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
