"""The demo's summary: SFT vs. final GRPO checkpoint on the held-out pairs, per-checkpoint table, plot, stage times.

    python -m grpo_bt_rm.demo.summary --demo_dir outputs/demo [--eval_dir outputs/demo/grpo/eval]

Reads only structured files: the eval sweep's eval_bt JSON results, the GRPO run's logging.jsonl, the teacher's
summary.json and the demo's stage_times.tsv. Writes DEMO_DIR/summary.json, summary.md and demo_plot.png, and
prints the table. The learning target (issue 15): final GRPO acc_all >= 0.85 and >= SFT acc_all + 10 points, with
at most 2% parse failures; `target.met` records whether this run met it.

The table's figures are the eval results' own, read the way the sweep read them (`scoring`: eval_bt's --scoring,
the demo's SCORING). `readouts` gives SFT and final GRPO under both readouts, text and expected score, recomputed
from the same saved completions (no model), so the other readout's verdict is always printed beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.eval.summary import aggregate, read_result, result_scoring, results_in
from grpo_bt_rm.io import InputError, atomic_write, iter_jsonl, manifest_base, write_json
from grpo_bt_rm.plots import pyplot, save_png

log = logging.getLogger(__name__)

# issue 15: the judge beats its teacher (final GRPO acc_all >= 0.85 and >= SFT + 10 points, <= 2% parse failures)
TARGET_MIN_ACC = 0.85
TARGET_GAIN = 0.10
TARGET_MAX_FAIL = 0.02


def meets_target(acc_all: float, sft_acc_all: float, parse_fail_rate: float) -> bool:
    """Whether a final judge meets the learning target against its SFT judge (issue 15 §1).

    Args:
        acc_all: the final GRPO checkpoint's acc_all (fraction, 0..1); sft_acc_all: the SFT judge's, on the same
            pairs; parse_fail_rate: the final checkpoint's parse failures (fraction of pairs).

    Returns:
        acc_all >= TARGET_MIN_ACC, acc_all - sft_acc_all >= TARGET_GAIN and parse_fail_rate <= TARGET_MAX_FAIL.
        The comparisons are made on values rounded to 9 decimals: accuracies are multiples of 1/(2 n_pairs), and a
        float difference of exactly 10 points can come out a hair short (0.9 - 0.8 = 0.09999999999999998).
    """
    def r(x: float) -> float:
        return round(x, 9)

    return (r(acc_all) >= TARGET_MIN_ACC and r(acc_all - sft_acc_all) >= TARGET_GAIN
            and r(parse_fail_rate) <= TARGET_MAX_FAIL)


SCORING_WORDS = {"text": "each score as the judge wrote it, greedy decoding",
                 "expected": "greedy decoding, the score's last digit replaced by the judge's expected digit; "
                 "grpo_bt_rm.eval.expected_score"}
KEYS = {"acc_all": "acc_all", "acc_parsed": "acc_parsed", "parse_fail_rate": "parse_fail_rate",
        "logloss": "logloss_all", "n_pairs": "n_pairs"}
RANDOM_NAME, SFT_NAME = "random", "sft"


def _metrics(row: dict) -> dict:
    return {out: row.get(f"{key}_mean") for out, key in KEYS.items()}


def checkpoint_rows(eval_dir: Path) -> list[dict]:
    """One entry per evaluated model: name, role (random / sft / grpo), GRPO step, the metrics."""
    rows = aggregate(results_in(eval_dir))
    if not rows:
        raise InputError(f"{eval_dir}: no complete eval_bt result (run the eval stage first)")
    out = []
    for r in rows:
        name = r["ckpt"]
        role = name if name in (RANDOM_NAME, SFT_NAME) else ("grpo" if r.get("step") is not None else "other")
        step = r.get("step") if role == "grpo" else None  # the SFT link's target is an SFT checkpoint-N
        out.append({"name": name, "role": role, "step": step, **_metrics(r)})
    order = {RANDOM_NAME: 0, SFT_NAME: 1, "grpo": 2, "other": 3}
    return sorted(out, key=lambda r: (order[r["role"]], r["step"] or 0, r["name"]))


def reward_trajectory(run_dir: Path) -> dict | None:
    """Mean logged reward and BT pair accuracy of the GRPO run over its first and last third of log points."""
    logs = sorted(run_dir.glob("**/logging.jsonl"))
    if not logs:
        return None
    points = [obj for _, obj in iter_jsonl(logs[-1]) if isinstance(obj, dict) and "reward" in obj]
    if not points:
        return None
    k = max(1, len(points) // 3)

    def mean(objs: list[dict], key: str) -> float | None:
        """The mean of `key` over the log points that have it, or None when none do."""
        vals = [float(o[key]) for o in objs if o.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    return {"first": {"reward": mean(points[:k], "reward"), "pair_acc": mean(points[:k], "bt/pair_acc")},
            "last": {"reward": mean(points[-k:], "reward"), "pair_acc": mean(points[-k:], "bt/pair_acc")},
            "n_logged": len(points), "window": k}


def stage_times(path: Path) -> dict[str, float]:
    """stage -> seconds from the demo's `stage_times.tsv` (`name<TAB>seconds` lines); empty if the file is missing."""
    times: dict[str, float] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, sec = line.partition("\t")
            if name and sec:
                times[name] = float(sec)
    return times


def teacher_accuracy(demo_dir: Path) -> float | None:
    """The teacher's agreement with the gold preference, from the last `teacher/*/summary.json`;
    None when there is none.
    """
    found = sorted((demo_dir / "teacher").glob("*/summary.json"))
    if not found:
        return None
    return json.loads(found[-1].read_text(encoding="utf-8")).get("accuracy")


def demo_settings(demo_dir: Path) -> dict[str, str]:
    """The settings scripts/demo.sh recorded in DEMO_DIR/settings.env (VAR=value lines, shell-quoted values)."""
    import shlex

    out = {}
    path = demo_dir / "settings.env"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep:
                out[name] = " ".join(shlex.split(value)) if value else ""
    return out


def saved_completions(eval_dir: Path, name: str) -> tuple[Path, dict] | None:
    """The checkpoint `name`'s completions file and the complete result that wrote it, or None when the sweep
    saved none."""
    for path in sorted(eval_dir.glob(f"eval_{name}_seed*.completions.jsonl")):
        result = read_result(path.with_name(path.name.removesuffix(".completions.jsonl") + ".json"))
        if result is not None:
            return path, result
    return None


def per_kind(demo_dir: Path, eval_dir: Path, name: str, scoring: str = "text") -> dict | None:
    """acc_all per failure kind of the checkpoint `name` under `scoring`, read with its result's parser, when the
    sweep saved its completions (else None)."""
    from grpo_bt_rm.demo.breakdown import kind_breakdown

    found = saved_completions(eval_dir, name)
    raw = demo_dir / "raw" / "test.jsonl"
    if found is None or not raw.exists():
        return None
    path, result = found
    return kind_breakdown(path, raw, parser=result["parser"]["name"], scoring=scoring)


def results_scoring(eval_dir: Path) -> str:
    """The one --scoring of the eval results in `eval_dir` (results from before the flag read the text).

    Raises:
        InputError: results made with different readouts sit in the directory (one summary would mix them).
    """
    found = {r["_path"]: result_scoring(r) for r in results_in(eval_dir)}
    kinds = sorted(set(found.values()))
    if len(kinds) > 1:
        example = {k: next(p for p, v in found.items() if v == k) for k in kinds}
        raise InputError(f"{eval_dir}: results read with different --scoring ("
                         + ", ".join(f"{k}: {p}" for k, p in example.items()) + "); summarize them separately")
    return kinds[0] if kinds else "text"


def readouts(eval_dir: Path, sft_name: str, final_name: str) -> dict | None:
    """SFT and final GRPO acc_all, tie and parse-failure rates, the gain and the target verdict under each readout
    (text, expected), recomputed from the sweep's saved completions; None without them, and the expected
    readout left out when the completions carry no digit log-probabilities."""
    from grpo_bt_rm.eval.completions import missing_digits, read_completions, to_pair_scores
    from grpo_bt_rm.eval.expected_score import SCORINGS
    from grpo_bt_rm.eval.metrics import pair_metrics
    from grpo_bt_rm.parsing import get_parser

    files = {}
    for role, name in (("sft", sft_name), ("grpo", final_name)):
        found = saved_completions(eval_dir, name)
        if found is None:
            return None
        path, result = found
        files[role] = (read_completions(path), get_parser(result["parser"]["name"],
                                                          result["parser"].get("reasoning_tag")),
                       (result.get("settings") or {}).get("bt_temp") or 1.0)
    out = {}
    for scoring in SCORINGS:
        row = {}
        for role, (recs, parser, bt_temp) in files.items():
            if scoring == "expected" and any(missing_digits(r) for r in recs):
                break  # completions from before digit log-probabilities were recorded: no expected readout
            m = pair_metrics([to_pair_scores(r, parser, scoring) for r in recs], bt_temp=bt_temp, n_boot=1,
                             score_range=(parser.low, parser.high))
            row[role] = {k: m[k] for k in ("acc_all", "tie_rate", "parse_fail_rate", "n_pairs")}
        if len(row) == 2:
            row["gain"] = row["grpo"]["acc_all"] - row["sft"]["acc_all"]
            row["met"] = meets_target(row["grpo"]["acc_all"], row["sft"]["acc_all"], row["grpo"]["parse_fail_rate"])
            out[scoring] = row
    return out


def build_summary(demo_dir: Path, eval_dir: Path) -> dict:
    """The demo's summary: SFT vs final GRPO checkpoint metrics, the gain in acc_all, whether the target
    was met, per-failure-kind breakdown, teacher accuracy, reward trajectory, stage times and environment.

    Raises:
        InputError: no complete eval result, none for the SFT model, or none for any GRPO checkpoint.
    """
    from grpo_bt_rm.demo.breakdown import environment

    rows = checkpoint_rows(eval_dir)
    by_role = {r["role"]: r for r in rows if r["role"] in (RANDOM_NAME, SFT_NAME)}
    grpo = [r for r in rows if r["role"] == "grpo"]
    if SFT_NAME not in by_role:
        raise InputError(f"{eval_dir}: no result for the SFT model (checkpoint named {SFT_NAME!r})")
    if not grpo:
        raise InputError(f"{eval_dir}: no result for any GRPO checkpoint (checkpoint-N)")
    final = max(grpo, key=lambda r: r["step"])
    sft = by_role[SFT_NAME]
    scoring = results_scoring(eval_dir)
    gain = final["acc_all"] - sft["acc_all"]
    times = stage_times(demo_dir / "stage_times.tsv")
    settings = demo_settings(demo_dir)
    return manifest_base(
        kind="demo_summary",
        seed=int(settings["SEED"]) if settings.get("SEED", "").isdigit() else None,
        settings=settings,
        environment=environment(),
        scoring=scoring,
        per_kind={"sft": per_kind(demo_dir, eval_dir, SFT_NAME, scoring),
                  "grpo": per_kind(demo_dir, eval_dir, final["name"], scoring)},
        readouts=readouts(eval_dir, SFT_NAME, final["name"]),
        sft={k: sft[k] for k in KEYS},
        grpo={"checkpoint": final["name"], "step": final["step"], **{k: final[k] for k in KEYS}},
        random={k: by_role[RANDOM_NAME][k] for k in KEYS} if RANDOM_NAME in by_role else None,
        checkpoints=rows,
        acc_all_gain=gain,
        target={"min_acc_all": TARGET_MIN_ACC, "min_gain": TARGET_GAIN, "max_parse_fail": TARGET_MAX_FAIL,
                "met": meets_target(final["acc_all"], sft["acc_all"], final["parse_fail_rate"])},
        teacher_accuracy=teacher_accuracy(demo_dir),
        grpo_reward=reward_trajectory(demo_dir / "grpo"),
        stage_seconds=times,
        total_seconds=round(sum(times.values()), 1),
        eval_dir=str(eval_dir),
    )


def markdown(summary: dict) -> str:
    """The summary as Markdown: the checkpoint table, the target line, per-kind accuracy and stage times."""
    def f(v, d=3):
        """`v` with `d` decimals, or n/a for None."""
        return "n/a" if v is None else f"{v:.{d}f}"

    lines = ["| model | step | acc_all | acc_parsed | parse fail | log-loss | n pairs |", "|---|---|---|---|---|---|---|"]
    for r in summary["checkpoints"]:
        label = {"random": "base (before SFT)", "sft": "SFT warm-up"}.get(r["role"], r["name"])
        lines.append(f"| {label} | {'' if r['step'] is None else r['step']} | {f(r['acc_all'])} | "
                     f"{f(r['acc_parsed'])} | {f(r['parse_fail_rate'])} | {f(r['logloss'])} | "
                     f"{f(r['n_pairs'], 0)} |")
    t = summary["target"]
    scoring = summary.get("scoring", "text")
    lines += ["", f"Scores read as: {scoring} ({SCORING_WORDS.get(scoring, scoring)}).",
              "", f"GRPO ({summary['grpo']['checkpoint']}) - SFT acc_all: {summary['acc_all_gain'] * 100:+.1f} points "
              f"(target: acc_all >= {t.get('min_acc_all', 0):.2f} and >= SFT +{t['min_gain'] * 100:.0f}, "
              f"parse fail <= {t['max_parse_fail']:.0%}): "
              f"{'met' if t['met'] else 'NOT met'}"]
    reads = summary.get("readouts") or {}
    if reads:
        lines += ["", "| readout (same completions) | SFT acc_all (ties) | GRPO acc_all (ties) | gain (points) | target |",
                  "|---|---|---|---|---|"]
        for name, r in reads.items():
            mark = " (the table's)" if name == scoring else ""
            lines.append(f"| {name}{mark} | {f(r['sft']['acc_all'])} ({f(r['sft']['tie_rate'], 2)}) | "
                         f"{f(r['grpo']['acc_all'])} ({f(r['grpo']['tie_rate'], 2)}) | {r['gain'] * 100:+.1f} | "
                         f"{'met' if r['met'] else 'NOT met'} |")
    kinds = summary.get("per_kind") or {}
    if kinds.get("sft") and kinds.get("grpo"):
        lines += ["", "| failure kind of the rejected reply | pairs | SFT acc_all (ties) | GRPO acc_all (ties) |",
                  "|---|---|---|---|"]
        for kind, g in kinds["grpo"].items():
            s = kinds["sft"].get(kind, {})
            lines.append(f"| {kind} | {g['n']} | {f(s.get('acc_all'))} ({f(s.get('tie_rate'), 2)}) | "
                         f"{f(g['acc_all'])} ({f(g['tie_rate'], 2)}) |")
    if summary.get("teacher_accuracy") is not None:
        lines.append(f"Teacher agreement with the gold preference on its training pairs: "
                     f"{summary['teacher_accuracy']:.3f}")
    if summary["stage_seconds"]:
        lines += ["", "| stage | seconds |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in summary["stage_seconds"].items()]
        lines.append(f"| total | {summary['total_seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path) -> None:
    """Plot held-out acc_all over GRPO steps against the SFT, teacher and random-init levels as a PNG at `path`."""
    plt = pyplot()
    grpo = sorted((r for r in summary["checkpoints"] if r["role"] == "grpo"), key=lambda r: r["step"])
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = [0] + [r["step"] for r in grpo]
    ax.plot(steps, [summary["sft"]["acc_all"]] + [r["acc_all"] for r in grpo], "o-", label="BT-GRPO (from SFT)")
    ax.axhline(summary["sft"]["acc_all"], color="tab:orange", ls="--", label="SFT warm-up")
    if summary.get("teacher_accuracy") is not None:
        ax.axhline(summary["teacher_accuracy"], color="tab:gray", ls=":", label="noisy teacher (train pairs)")
    if summary.get("random"):
        ax.axhline(summary["random"]["acc_all"], color="tab:red", ls="-.", label="base (before SFT)")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel(f"held-out acc_all ({summary.get('scoring', 'text')} scores)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("make demo: judge accuracy on held-out pairs")
    fig.tight_layout()
    save_png(fig, path)


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.demo.summary` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.demo.summary", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demo_dir", required=True, help="the demo's output directory (DEMO_DIR of scripts/demo.sh)")
    p.add_argument("--eval_dir", help="directory of the sweep's eval_bt JSON results (default DEMO_DIR/grpo/eval)")
    p.add_argument("--no_plot", action="store_true", help="skip demo_plot.png")
    return p


def write_demo_summary(demo_dir: Path, eval_dir: Path, with_plot: bool = True) -> str:
    """Write summary.json, summary.md (and demo_plot.png) into `demo_dir`; returns the markdown.

    Raises:
        InputError: a result the summary needs is missing or incomplete.
    """
    summary = build_summary(demo_dir, eval_dir)
    write_json(demo_dir / "summary.json", summary)
    text = markdown(summary)
    with atomic_write(demo_dir / "summary.md") as f:
        f.write(text)
    if with_plot:
        plot(summary, demo_dir / "demo_plot.png")
    return text


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write the demo's summary files; returns the exit code (2 on bad input)."""
    args = build_argparser().parse_args(argv)
    demo_dir = Path(args.demo_dir)
    eval_dir = Path(args.eval_dir) if args.eval_dir else demo_dir / "grpo" / "eval"
    return run_cli(lambda: write_demo_summary(demo_dir, eval_dir, not args.no_plot))


if __name__ == "__main__":
    sys.exit(main())
