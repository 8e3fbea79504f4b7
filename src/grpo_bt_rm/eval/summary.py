"""Summaries of eval_bt JSON results (never of log text): summary.csv, summary.md, a metric-vs-step PNG, W&B upload.

    python -m grpo_bt_rm.eval.summary RUN/eval            # or: python tools/summarize_eval_logs.py RUN/eval
    WANDB_PROJECT=p python -m grpo_bt_rm.eval.summary RUN/eval --wandb

Rows are per checkpoint: mean +- std (ddof=1 over seeds; 0 with one seed), min and max of each metric.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.eval.metrics import REQUIRED_METRICS
from grpo_bt_rm.io import InputError, atomic_write, write_json

log = logging.getLogger(__name__)

SUMMARY_METRICS = ("acc_all", "acc_parsed", "nontie_acc", "tie_rate", "logloss_all", "logloss_nontie", "ece",
                   "parse_fail_rate", "pair_fail_rate", "truncated_rate", "n_pairs")


def is_complete(result: dict) -> bool:
    """Whether `result` is a finished eval_bt result carrying every metric in `REQUIRED_METRICS`."""
    return (result.get("kind") == "eval_bt" and result.get("complete") is True
            and isinstance(result.get("metrics"), dict) and all(k in result["metrics"] for k in REQUIRED_METRICS))


def read_result(path: str | os.PathLike) -> dict | None:
    """The result in `path` if it is a complete eval_bt result, else None (missing, partial or another file)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) and is_complete(obj) else None


def load_results(paths) -> list[dict]:
    """The complete eval_bt results among `paths`, each with `_path` set; other files are skipped."""
    out = []
    for p in paths:
        r = read_result(p)
        if r is not None:
            r["_path"] = str(p)
            out.append(r)
    return out


def results_in(eval_dir: str | os.PathLike) -> list[dict]:
    """The complete eval_bt results in `eval_dir/*.json`, in file-name order."""
    return load_results(sorted(Path(eval_dir).glob("*.json")))


def result_scoring(result: dict) -> str:
    """How a result read its scores: its eval_bt --scoring (`text` for results from before the flag), or
    `scalar` for a reward model's result."""
    if result.get("scorer", "generative") != "generative":
        return str(result["scorer"])
    return str((result.get("settings") or {}).get("scoring", "text"))


def settings_signature(result: dict) -> dict:
    """What must agree between results summarized together (all but the checkpoint and the seed)."""
    data = dict(result.get("data") or {})
    stats = data.pop("load_stats", None) or {}
    settings = {k: v for k, v in (result.get("settings") or {}).items() if k not in ("dtype",)}
    if result.get("scorer", "generative") == "generative":
        settings["scoring"] = result_scoring(result)  # results from before --scoring read the text
    prompt = result.get("prompt") or {}
    return {"prompt": {k: prompt.get(k) for k in ("name", "version")}, "parser": result.get("parser"),
            "data": {**data, "files": stats.get("files")}, "settings": settings}


def check_same_settings(results: list[dict]) -> None:
    """Refuse to put results made with other settings in one summary; name the settings and the files."""
    if not results:
        return
    # the pairs must agree across all results; prompt, parser and settings within one scorer (a scalar reward model
    # and generative judges share a table: see eval.scalar)
    ref = settings_signature(results[0])
    firsts: dict = {}
    for r in results:
        first_r = firsts.setdefault(r.get("scorer", "generative"), r)
        first, sig = {**settings_signature(first_r), "data": ref["data"]}, settings_signature(r)
        if sig["data"] != ref["data"]:
            first_r = results[0]
        if sig != first:
            diffs = [f"{part}.{k}" for part in first for k in sorted(set(first[part] or {}) | set(sig[part] or {}))
                     if (first[part] or {}).get(k) != (sig[part] or {}).get(k)]
            raise InputError(f"{r['_path']} and {first_r['_path']} were made with other settings "
                             f"({', '.join(diffs) or 'parser'}); summarize them separately")


def aggregate(results: list[dict]) -> list[dict]:
    """One row per checkpoint (name, kind, path), ordered by training step (checkpoints without a step last).

    The same weights under two names (e.g. `base` and the base model's path) stay two rows.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in results:  # a checkpoint read two ways (--scoring) is two rows
        ck = r.get("checkpoint") or {"name": Path(r["_path"]).stem, "path": r["_path"]}
        groups[(ck["name"], ck.get("kind"), ck.get("path"), result_scoring(r))].append(r)
    rows = []
    for rs in groups.values():
        ck = rs[0].get("checkpoint") or {"name": Path(rs[0]["_path"]).stem}
        row = {"ckpt": ck["name"], "kind": ck.get("kind"), "step": ck.get("step"), "n_seeds": len(rs),
               "seeds": " ".join(str(s) for s in sorted(r["seed"] for r in rs)),
               "scoring": result_scoring(rs[0])}
        for key in SUMMARY_METRICS:
            vals = [float(r["metrics"][key]) for r in rs if r["metrics"].get(key) is not None]
            arr = np.asarray(vals)
            row[f"{key}_mean"] = float(arr.mean()) if vals else None
            row[f"{key}_std"] = float(arr.std(ddof=1)) if len(vals) > 1 else (0.0 if vals else None)
            row[f"{key}_min"] = float(arr.min()) if vals else None
            row[f"{key}_max"] = float(arr.max()) if vals else None
        rows.append(row)
    rows.sort(key=lambda r: (r["step"] is None, r["step"] if r["step"] is not None else 0, r["ckpt"]))
    return rows


def csv_text(rows: list[dict]) -> str:
    """The rows as CSV text, columns in the first row's key order, None written as an empty cell."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def markdown_text(rows: list[dict], title: str = "") -> str:
    """A Markdown table of the per-checkpoint rows: each metric as mean ± std over seeds."""
    def pm(r, key, digits=3):
        """`mean ± std` of metric `key` in a row, with `digits` decimals; n/a when the mean is None."""
        m, s = r[f"{key}_mean"], r[f"{key}_std"]
        return "n/a" if m is None else f"{m:.{digits}f} ± {s:.{digits}f}"

    cols = [("acc_all", "acc_all"), ("acc_parsed", "acc_parsed"), ("nontie_acc", "non-tie acc"),
            ("tie_rate", "tie rate"), ("logloss_all", "log-loss"), ("ece", "ECE"),
            ("parse_fail_rate", "parse fail"), ("truncated_rate", "truncated")]
    lines = [f"# {title}" if title else "# Eval summary", "",
             "Mean ± std over seeds. acc_all counts pairs with an unparsed side as wrong; acc_parsed leaves them "
             "out; ties count 0.5 in both. Scores read as: "
             + (", ".join(sorted({r["scoring"] for r in rows})) or "n/a") + " (eval_bt --scoring).", "",
             "| checkpoint | step | seeds | n | " + " | ".join(c for _, c in cols) + " |",
             "|---|---|---|---|" + "---|" * len(cols)]
    for r in rows:
        n = "n/a" if r["n_pairs_mean"] is None else f"{r['n_pairs_mean']:.0f}"
        step = "" if r["step"] is None else str(r["step"])
        lines.append(f"| {r['ckpt']} | {step} | {r['n_seeds']} | {n} | " + " | ".join(pm(r, k) for k, _ in cols)
                     + " |")
    return "\n".join(lines) + "\n"


def write_summary(results: list[dict], out_dir: str | os.PathLike, title: str = "", plot: bool = True) -> dict:
    """Write summary.csv, summary.md, summary.json and (with `plot`) summary.png into `out_dir`."""
    if not results:
        raise InputError(f"{out_dir}: no complete eval_bt result to summarize")
    check_same_settings(results)
    out = Path(out_dir)
    rows = aggregate(results)
    files = {"csv": out / "summary.csv", "md": out / "summary.md", "json": out / "summary.json"}
    with atomic_write(files["csv"]) as f:
        f.write(csv_text(rows))
    with atomic_write(files["md"]) as f:
        f.write(markdown_text(rows, title))
    write_json(files["json"], {"rows": rows, "results": [r["_path"] for r in results]})
    if plot:
        from grpo_bt_rm.eval.plots import sweep_png

        files["png"] = out / "summary.png"
        sweep_png(rows, files["png"], title=title)
    log.info("summary of %d results (%d checkpoints) in %s", len(results), len(rows), out)
    return {k: str(v) for k, v in files.items()}


def upload_wandb(files: dict, rows: list[dict], *, project: str | None = None, name: str | None = None,
                 extra_files: list[str] = ()) -> str:
    """Log the table, the plot and the files to W&B (WANDB_MODE=offline writes a local run). Returns the run dir."""
    import wandb

    project = project or os.environ.get("WANDB_PROJECT")
    if not project:
        raise InputError("W&B upload needs a project: set WANDB_PROJECT or pass --wandb_project")
    run = wandb.init(project=project, name=name, job_type="eval_summary", dir=str(Path(files["csv"]).parent),
                     config={"n_checkpoints": len(rows)})
    try:
        columns = list(rows[0]) if rows else []
        run.log({"eval/summary": wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in rows])})
        for r in rows:
            if r["step"] is not None:
                run.log({f"eval/{k}": r[f"{k}_mean"] for k in SUMMARY_METRICS if r[f"{k}_mean"] is not None}
                        | {"eval/step": r["step"]})
        if files.get("png"):
            run.log({"eval/summary_plot": wandb.Image(files["png"])})
        art = wandb.Artifact(f"eval-summary-{run.id}", type="eval")
        for p in [files[k] for k in ("csv", "md", "json", "png") if files.get(k)] + list(extra_files):
            art.add_file(p)
        run.log_artifact(art)
        run_dir = run.dir
    finally:
        run.finish()
    return run_dir


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.eval.summary` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.eval.summary", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("eval_dir", help="directory of eval_bt result JSON files (e.g. RUN/eval)")
    p.add_argument("--out_dir", default=None, help="where summary.* go (default: eval_dir)")
    p.add_argument("--title", default="", help="title for summary.md and the plot")
    p.add_argument("--no_plot", action="store_true", help="skip summary.png")
    p.add_argument("--wandb", action="store_true", help="also upload to W&B (needs WANDB_PROJECT or --wandb_project)")
    p.add_argument("--wandb_project", default=None, help="W&B project (default $WANDB_PROJECT)")
    p.add_argument("--wandb_name", default=None, help="W&B run name (default: the eval dir name)")
    return p


def summarize_dir(eval_dir: str, out_dir: str | None = None, title: str = "", *, plot: bool = True,
                  wandb: bool = False, wandb_project: str | None = None, wandb_name: str | None = None) -> str:
    """Write summary.csv/md/json(/png) for the eval_bt results in `eval_dir` (and upload them to W&B).

    Args:
        eval_dir: directory of eval_bt result JSON files.
        out_dir: where summary.* go (default: `eval_dir`).
        title: title of summary.md and the plot.
        plot: also write summary.png.
        wandb: upload (project: `wandb_project`, else $WANDB_PROJECT; run name: `wandb_name`, else the dir name).

    Returns:
        The report: summary.md, then the written files as JSON.

    Raises:
        InputError: no complete result in `eval_dir`, results made with different settings, no W&B project.
    """
    results = results_in(eval_dir)
    files = write_summary(results, out_dir or eval_dir, title, plot=plot)
    if wandb:
        files["wandb_run_dir"] = upload_wandb(files, aggregate(results), project=wandb_project,
                                              name=wandb_name or Path(eval_dir).name)
    return Path(files["md"]).read_text(encoding="utf-8") + "\n" + json.dumps(files, indent=2)


def main(argv: list[str] | None = None, *, force_wandb: bool = False) -> int:
    """Command-line entry point: summarise an eval directory; returns the exit code (2 on bad input)."""
    a = build_argparser().parse_args(argv)
    return run_cli(lambda: summarize_dir(a.eval_dir, a.out_dir, a.title, plot=not a.no_plot, wandb=a.wandb or force_wandb,
                                         wandb_project=a.wandb_project, wandb_name=a.wandb_name))


if __name__ == "__main__":
    sys.exit(main())
